"""Who hears a communication, and what the sensitivity policy withholds."""
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from plugin.comms import is_allowed, message_context, plan_notification, refusal, resolve
from plugin.comms.policy import private_recipients
from plugin.comms.recipients import Recipient
from plugin.domain.actions import NOTE
from plugin.domain.decision import Notification
from tests.conftest import RULES

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
TICKET = {"platform": "jira", "key": "SUP-7", "summary": "Checkout down", "reporter": "Dana Customer",
          "reporter_email": "dana@customer.example", "assignee": "5b10a2844c20165700ede21g",
          "account_manager": "Sam Lee", "labels": ["outage"]}


# -- policy -------------------------------------------------------------------------------------

CHANNELS = ["ticket_comment", "internal_note", "email", "slack", "teams", "statuspage", "webhook"]
ALLOWED_WHEN_MARKED = {"internal_note", "email"}


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("sensitive", [False, True])
def test_a_communication_marked_sensitive_may_only_use_private_channels(channel, sensitive):
    assert is_allowed(channel, sensitive) is (not sensitive or channel in ALLOWED_WHEN_MARKED)


# channel, marked sensitive, labels -> refusal (None: it may go out)
POLICY = [
    ("ticket_comment", False, ["outage"], None),
    ("slack", False, [], None),
    ("statuspage", False, ["outage"], None),
    ("ticket_comment", False, ["security"],
     "withheld: sensitive (ticket labelled security; ticket_comment is not private)"),
    ("slack", False, ["GDPR", "outage"], "withheld: sensitive (ticket labelled gdpr; slack is not private)"),
    ("teams", False, ["contract", "personal-data"],
     "withheld: sensitive (ticket labelled contract, personal-data; teams is not private)"),
    ("statuspage", False, ["personal-data"],
     "withheld: sensitive (ticket labelled personal-data; statuspage is not private)"),
    ("webhook", False, ["security"], "withheld: sensitive (ticket labelled security; webhook is not private)"),
    ("email", False, ["security"], None),
    ("internal_note", False, ["gdpr"], None),
    ("ticket_comment", True, [],
     "withheld: sensitive (the communication is marked sensitive; ticket_comment is not private)"),
    ("slack", True, [], "withheld: sensitive (the communication is marked sensitive; slack is not private)"),
    ("email", True, ["contract"], None),
    ("internal_note", True, [], None),
]


@pytest.mark.parametrize("channel, marked, labels, expected", POLICY)
def test_sensitive_content_is_withheld_from_public_and_chat_channels(channel, marked, labels, expected):
    assert refusal(channel, sensitive=marked, labels=labels) == expected


def test_a_sensitive_email_only_reaches_named_parties_of_the_matrix():
    named = Recipient("exec-escalations", "email", "exec-escalations@example.com", True)
    raw = Recipient("account_manager", "email", "sam@partner.example", False)

    kept, refused = private_recipients([named, raw], sensitive=True)

    assert kept == (named,)
    assert refused == ("withheld: sensitive (account_manager sam@partner.example is not a named party)",)
    assert private_recipients([named, raw], sensitive=False) == ((named, raw), ())


# -- recipients ---------------------------------------------------------------------------------

# notify, channel, ticket changes, owner -> addresses, problems
RESOLUTIONS = {
    "party email": (["exec-escalations"], "email", {}, "", ["exec-escalations@example.com"], []),
    "party slack channel": (["security"], "slack", {}, "", ["#security-incidents"], []),
    "owner on slack": (["owner"], "slack", {}, "payments-eng", ["#payments-incidents"], []),
    "owner without slack": (["owner"], "slack", {}, "data-eng", [],
                            ["owner on slack: data-eng has no valid slack address in the matrix"]),
    "no owner yet": (["owner"], "email", {}, "", [], ["owner on email: the ticket has no owner yet"]),
    "requester by email": (["requester"], "email", {}, "", ["dana@customer.example"], []),
    "requester whose reporter is an address": (
        ["requester"], "email", {"reporter_email": "", "reporter": "dana@customer.example"}, "",
        ["dana@customer.example"], []),
    "requester without an address": (["requester"], "email", {"reporter_email": ""}, "", [],
                                     ["requester on email: the reporter's email address is not known"]),
    "requester on chat": (["requester"], "slack", {}, "", [],
                          ["requester on slack: customers are not reachable there; use ticket_comment or email"]),
    "assignee by jira account id": (["assignee"], "email", {}, "", ["payments-oncall@example.com"], []),
    "assignee as a zendesk group": (["assignee"], "email", {"platform": "zendesk", "assignee": "group:360001234571"},
                                    "", ["data-oncall@example.com"], []),
    "unknown assignee": (["assignee"], "email", {"assignee": "557058:abc"}, "", [],
                         ["assignee on email: assignee '557058:abc' is not a party of the matrix"]),
    "account manager as a party name": (["account_manager"], "email", {"account_manager": "cto"}, "",
                                        ["priya.raman@example.com"], []),
    "account manager as an address": (["account_manager"], "email", {"account_manager": "sam@example.com"}, "",
                                      ["sam@example.com"], []),
    "account manager as a display name": (
        ["account_manager"], "email", {}, "", [],
        ["account_manager on email: 'Sam Lee' is neither a party of the matrix nor an email address"]),
    "account manager with an injected header": (
        ["account_manager"], "email", {"account_manager": "sam@example.com\r\nBcc: evil@example.com"}, "", [],
        ["account_manager on email: 'sam@example.com\\r\\nBcc: evil@example.com' is neither a party of the "
         "matrix nor an email address"]),
    "duplicates collapse": (["exec-escalations", "owner"], "email", {}, "exec-escalations",
                            ["exec-escalations@example.com"], []),
    "one comment on the ticket for everyone": (["requester", "owner"], "ticket_comment", {}, "", ["jira:SUP-7"], []),
    "configured channel": (["owner"], "statuspage", {}, "", ["statuspage"], []),
    "unknown party": (["nobody"], "email", {}, "", [], ["nobody on email: 'nobody' is not a party of the matrix"]),
}


@pytest.mark.parametrize("notify, channel, changes, owner, addresses, problems", RESOLUTIONS.values(),
                         ids=RESOLUTIONS.keys())
def test_notify_entries_resolve_to_addresses_or_problems(shipped_matrix, notify, channel, changes, owner,
                                                         addresses, problems):
    resolved = resolve(notify, channel, shipped_matrix, TICKET | changes, owner)

    assert list(resolved.addresses) == addresses
    assert list(resolved.problems) == problems


def test_a_team_without_a_mailbox_reaches_its_members(shipped_matrix):
    parties = dict(shipped_matrix.parties)
    parties["exec-escalations"] = replace(parties["exec-escalations"], email="")
    matrix = replace(shipped_matrix, parties=parties)

    resolved = resolve(["exec-escalations"], "email", matrix, TICKET)

    assert resolved.addresses == ("jordan.avery@example.com", "priya.raman@example.com")
    assert resolved.problems == ()


def test_only_addresses_from_the_matrix_count_as_internal(shipped_matrix):
    resolved = resolve(["exec-escalations", "requester", "account_manager"], "email", shipped_matrix,
                       TICKET | {"account_manager": "priya.raman@example.com"}, "")

    assert [(r.address, r.internal) for r in resolved.recipients] == [
        ("exec-escalations@example.com", True), ("dana@customer.example", False), ("priya.raman@example.com", True)]


# -- one notification, end to end ---------------------------------------------------------------

def plan(matrix, notification, ticket=TICKET, level="L3", owner="vp-support"):
    context = message_context(ticket, matrix, severity="critical", level=level, owner=owner, now=NOW)
    return plan_notification(notification, matrix=matrix, templates_dir=RULES / "templates", ticket=ticket,
                             context=context, marker="escalator:SUP-7:1")


def test_the_shipped_exec_brief_goes_to_named_parties_and_withholds_the_rest(shipped_matrix):
    ticket = TICKET | {"account_manager": "sam@partner.example"}

    out = plan(shipped_matrix, Notification("escalated", "email", "exec_brief.md.j2",
                                            ("exec-escalations", "account_manager"), sensitive=True), ticket)

    assert [m.to for m in out.messages] == [("exec-escalations@example.com",)]
    assert out.messages[0].title == "Executive brief: SUP-7 — Checkout down"
    assert out.withheld == ("withheld: sensitive (account_manager sam@partner.example is not a named party)",)
    assert (out.actions, out.problems) == ((), ())


def test_a_customer_update_becomes_a_public_comment_action(shipped_matrix):
    out = plan(shipped_matrix, Notification("update", "ticket_comment", "status_update.md.j2", ("requester",)),
               level="L1", owner="support-oncall")

    (action,) = out.actions
    assert (action.platform, action.key, action.kind) == ("jira", "SUP-7", NOTE)
    assert action.data["public"] is True and action.data["marker"] == "escalator:SUP-7:1"
    assert action.data["body"].startswith("Update on SUP-7 — Checkout down")
    assert out.messages == ()


def test_a_security_ticket_gets_no_public_comment(shipped_matrix):
    out = plan(shipped_matrix, Notification("escalated", "ticket_comment", "ack.md.j2", ("requester",)),
               TICKET | {"labels": ["security"]}, level="L1", owner="support-oncall")

    assert (out.messages, out.actions) == ((), ())
    assert out.withheld == ("withheld: sensitive (ticket labelled security; ticket_comment is not private)",)


def test_a_template_error_is_a_problem_not_a_crash(shipped_matrix, tmp_path):
    (tmp_path / "bad.j2").write_text("{{ nope }}")
    context = message_context(TICKET, shipped_matrix, severity="critical", level="L2", owner="payments-eng", now=NOW)

    out = plan_notification(Notification("escalated", "slack", "bad.j2", ("owner",)), matrix=shipped_matrix,
                            templates_dir=tmp_path, ticket=TICKET, context=context)

    assert out.problems == ("template bad.j2 line 1: undefined variable: 'nope' is undefined",)
    assert out.messages == ()


def test_unresolved_recipients_are_reported_beside_the_ones_that_resolved(shipped_matrix):
    out = plan(shipped_matrix, Notification("resolved", "email", "resolution.md.j2", ("requester", "account_manager")))

    assert [m.to for m in out.messages] == [("dana@customer.example",)]
    assert out.problems == (
        "account_manager on email: 'Sam Lee' is neither a party of the matrix nor an email address",)
