"""After-action reviews as pure values: the pre-fill from a ticket's log, status transitions, action
items and their reminders, all with exact times; and the review condition meaning what a rule's does."""
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.domain.fields import FIELDS, fact
from plugin.domain.holds import holds, ticket_reader
from plugin.domain.matrix import DEFAULT_REVIEWS, Effects, Rule
from plugin.domain.review import (
    DONE,
    DRAFT,
    FINAL,
    IN_REVIEW,
    OPEN,
    WONT_DO,
    ActionItem,
    InvalidReviewInput,
    Review,
    ReviewConflict,
    ReviewNotFound,
    changed_action,
    check_link,
    edited,
    moved,
    new_action,
    parse_due,
    reminder_due,
    reminder_text,
)
from plugin.domain.review_timeline import prefill
from plugin.domain.ticket import EventKind, TicketState
from plugin.engine.python import PythonBackend

from .strategies import conditions, events, states

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
OWNERS = {"platform-sre", "vp-support"}


def at(**delta) -> datetime:
    return T0 + timedelta(**delta)


def entry(n, when, kind, changes=None, rules=(), level_by="", stops=(), sent=(), withheld=()):
    trace = [{"rule": r, "kind": "stop" if r.startswith("stop:") else "trigger", "values": {}, "decided": []}
             for r in rules]
    comms = [{"situation": "escalated", "channel": "slack", "template": "t.md.j2",
              "sent": [{"to": [to], "text": "hi"} for to in sent], "withheld": list(withheld), "problems": []}] \
        if sent or withheld else []
    return {"id": n, "at": when, "event_kind": kind, "actor": "agent", "changes": changes or {},
            "decision": {"trace": trace, "stop_timers": list(stops), "severity": "critical", "level": "L3",
                         "owner": "vp-support", "reasons": {"level": f"rule:{level_by}"} if level_by else {}},
            "communications": comms, "delivery_id": n}


LOG = [
    entry(1, T0, "created", {"severity": ["", "critical"], "level": ["", "L1"], "owner": ["", "support-oncall"]},
          ["enterprise outage is critical"], "enterprise outage is critical", sent=["ticket"]),
    entry(2, at(minutes=15), "sla_breached", {"level": ["L1", "L2"], "owner": ["support-oncall", "payments-eng"]},
          ["missed acknowledgement escalates to L2"], "missed acknowledgement escalates to L2",
          sent=["#payments-incidents"], withheld=["requester on slack: customers are not reachable there"]),
    entry(3, at(minutes=20), "commented", rules=["stop:agent replied publicly"], stops=["ack", "update"]),
    entry(4, at(hours=2), "sla_breached", {"level": ["L2", "L3"], "owner": ["payments-eng", "vp-support"]},
          ["missed remediation plan on critical goes to L3"], "missed remediation plan on critical goes to L3"),
    entry(5, at(hours=3), "resolved", rules=["stop:ticket resolved"], stops=["ack", "plan", "update"]),
    entry(6, at(hours=4), "satisfaction_rated", {"labels": [[], ["csat-detractor"]]}, ["unhappy customer"]),
]


def timer(name, state, due, stopped=None, fired=None, recurring=False):
    return {"name": name, "state": state, "seconds": int((due - T0).total_seconds()), "recurring": recurring,
            "started_at": T0, "due_at": due, "stopped_at": stopped, "fired_at": fired}


TIMERS = [timer("ack", "breached", at(minutes=15), fired=at(minutes=15)),
          timer("plan", "breached", at(hours=2), fired=at(hours=2)),
          timer("rca", "stopped", at(hours=24), stopped=at(hours=2, minutes=30)),
          timer("update", "stopped", at(hours=3, minutes=30), stopped=at(hours=3), recurring=True)]
RATINGS = [{"at": at(hours=4), "rating": "bad", "score": None, "comment": "too slow"}]


# -- the pre-fill ----------------------------------------------------------------------------------

def test_the_prefill_measures_acknowledgement_and_resolution_from_the_log():
    facts = prefill("jira", "SUP-7", LOG, TIMERS, RATINGS, at(hours=5))
    assert (facts["opened_at"], facts["acknowledged_at"], facts["resolved_at"]) == (
        T0.isoformat(), at(minutes=20).isoformat(), at(hours=3).isoformat())
    assert (facts["time_to_acknowledge_seconds"], facts["time_to_resolve_seconds"]) == (1200, 10800)
    assert (facts["severity"], facts["level"], facts["owner"]) == ("critical", "L3", "vp-support")


def test_the_prefill_has_every_log_entry_with_its_rule_trace_in_order():
    facts = prefill("jira", "SUP-7", LOG, TIMERS, RATINGS, at(hours=5))
    assert [(e["id"], e["at"], e["event"]) for e in facts["timeline"]] == [
        (e["id"], e["at"].isoformat(), e["event_kind"]) for e in LOG]
    assert facts["timeline"][1]["rules"] == ["missed acknowledgement escalates to L2"]
    assert facts["timeline"][1]["trace"] == LOG[1]["decision"]["trace"]
    assert facts["timeline"][2]["stopped_timers"] == ["ack", "update"]


def test_each_level_has_its_dwell_time_up_to_the_resolution():
    facts = prefill("jira", "SUP-7", LOG, TIMERS, RATINGS, at(hours=5))
    assert [(s["level"], s["dwell_seconds"], s["ongoing"], s["by"]) for s in facts["levels"]] == [
        ("L1", 900, False, "enterprise outage is critical"),
        ("L2", 6300, False, "missed acknowledgement escalates to L2"),
        ("L3", 3600, False, "missed remediation plan on critical goes to L3")]
    assert facts["levels"][2]["left_at"] == at(hours=3).isoformat()


def test_a_reopened_ticket_is_unresolved_and_its_level_dwells_until_now():
    log = LOG + [entry(7, at(hours=6), "reopened", rules=["reopened ticket goes back to specialists"])]
    facts = prefill("jira", "SUP-7", log, TIMERS, [], at(hours=8))
    assert facts["resolved_at"] is None and facts["time_to_resolve_seconds"] is None
    assert (facts["levels"][-1]["dwell_seconds"], facts["levels"][-1]["ongoing"]) == (6 * 3600, True)


@pytest.mark.parametrize("row, now, expected", [
    (timer("ack", "breached", at(minutes=15), fired=at(minutes=15)), at(hours=1), "breached"),
    (timer("ack", "stopped", at(minutes=15), stopped=at(minutes=14, seconds=59)), at(hours=1), "met"),
    (timer("ack", "stopped", at(minutes=15), stopped=at(minutes=15)), at(hours=1), "breached"),
    (timer("ack", "running", at(minutes=15)), at(minutes=14), "running"),
    (timer("ack", "running", at(minutes=15)), at(minutes=15), "breached"),
    (timer("update", "running", at(minutes=30), recurring=True), at(hours=2), "running"),
    (timer("update", "stopped", at(minutes=30), stopped=at(hours=1), recurring=True), at(hours=2), "stopped"),
    (timer("ack", "paused", at(minutes=15)), at(hours=1), "paused"),
], ids=["fired", "stopped in time", "stopped at the deadline", "running", "due, not fired yet",
        "cadence", "cadence ended", "paused"])
def test_a_timer_is_met_or_breached_by_when_it_stopped(row, now, expected):
    [shown] = prefill("jira", "SUP-7", LOG[:1], [row], [], now)["timers"]
    assert shown["outcome"] == expected


def test_messages_sent_and_withheld_and_the_rating_are_in_the_prefill():
    facts = prefill("jira", "SUP-7", LOG, TIMERS, RATINGS, at(hours=5))
    assert [(m["at"], [s["to"] for s in m["sent"]], m["withheld"]) for m in facts["messages"]] == [
        (T0.isoformat(), [["ticket"]], []),
        (at(minutes=15).isoformat(), [["#payments-incidents"]],
         ["requester on slack: customers are not reachable there"])]
    assert facts["csat"] == [{"at": at(hours=4).isoformat(), "rating": "bad", "score": None, "comment": "too slow"}]


def test_what_happened_is_told_from_the_log_with_exact_offsets():
    assert prefill("jira", "SUP-7", LOG, TIMERS, RATINGS, at(hours=5))["summary"].splitlines() == [
        "jira/SUP-7 was opened 2026-11-30 09:00:00 UTC (created): severity critical, level L1, owner support-oncall "
        "by enterprise outage is critical.",
        "+15m: level L1 → L2, owner support-oncall → payments-eng after sla_breached by missed acknowledgement "
        "escalates to L2.",
        "+2h: level L2 → L3, owner payments-eng → vp-support after sla_breached by missed remediation plan on "
        "critical goes to L3.",
        "Acknowledged after 20m.",
        "Timers breached: ack, plan; met: rca.",
        "2 message(s) sent, 1 withheld.",
        "Resolved after 3h.",
        'The customer rated it bad: "too slow".']


def test_a_ticket_with_nothing_logged_has_an_empty_prefill():
    facts = prefill("jira", "SUP-7", [], [], [], T0)
    assert facts["timeline"] == [] and facts["levels"] == [] and facts["opened_at"] is None
    assert facts["summary"] == "jira/SUP-7: nothing is logged yet."


# -- the review's status and sections ------------------------------------------------------------------

REVIEW = Review(1, "jira", "SUP-7", DRAFT, T0, T0, "severity critical, level L3", "v1")


@pytest.mark.parametrize("start, wanted", [(DRAFT, IN_REVIEW), (IN_REVIEW, FINAL), (DRAFT, DRAFT)])
def test_a_review_moves_one_step_at_a_time(start, wanted):
    after = moved(replace(REVIEW, status=start), wanted, at(days=1), {"summary": "x"})
    assert after.status == wanted
    assert after.updated_at == (T0 if start == wanted else at(days=1))


@pytest.mark.parametrize("start, wanted, message", [
    (DRAFT, FINAL, "review 1 is draft; it can only move to in_review (draft → in_review → final)"),
    (IN_REVIEW, DRAFT, "review 1 is in_review; it can only move to final (draft → in_review → final)"),
    (FINAL, IN_REVIEW, "review 1 is final; it can only move no further: it is final (draft → in_review → final)"),
    (FINAL, DRAFT, "review 1 is final; it can only move no further: it is final (draft → in_review → final)"),
])
def test_any_other_transition_is_refused_with_the_allowed_one(start, wanted, message):
    with pytest.raises(ReviewConflict) as refused:
        moved(replace(REVIEW, status=start), wanted, T0, {})
    assert str(refused.value) == message


def test_an_unknown_status_is_invalid_input():
    with pytest.raises(InvalidReviewInput, match="unknown status 'done'; a review is one of: draft, in_review, final"):
        moved(REVIEW, "done", T0)


def test_becoming_final_freezes_the_prefill_and_the_time():
    final = moved(replace(REVIEW, status=IN_REVIEW), FINAL, at(days=2), {"summary": "as it was"})
    assert (final.frozen, final.final_at, final.updated_at) == ({"summary": "as it was"}, at(days=2), at(days=2))


def test_sections_are_edited_and_an_empty_text_reverts_to_the_prefill():
    review = edited(REVIEW, {"why_it_happened": "A bad deploy", "what_happened": "Mine"}, at(hours=1))
    assert review.sections == {"why_it_happened": "A bad deploy", "what_happened": "Mine"}
    assert edited(review, {"what_happened": ""}, at(hours=2)).sections == {"why_it_happened": "A bad deploy"}


@pytest.mark.parametrize("review, edits, error, message", [
    (REVIEW, {"root_cause": "x"}, InvalidReviewInput, "unknown section(s) 'root_cause'; sections are: what_happened"),
    (REVIEW, {"why_it_happened": 3}, InvalidReviewInput, "section why_it_happened must be text, not int"),
    (REVIEW, {"why_it_happened": "x" * 20_001}, InvalidReviewInput, "is 20001 characters; at most 20000 fit"),
    (replace(REVIEW, status=FINAL), {"why_it_happened": "late"}, ReviewConflict, "review 1 is final; its sections"),
], ids=["unknown section", "not text", "too long", "final"])
def test_section_edits_that_cannot_be_made_say_why(review, edits, error, message):
    with pytest.raises(error) as refused:
        edited(review, edits, T0)
    assert message in str(refused.value)


# -- action items ----------------------------------------------------------------------------------------

ITEM = ActionItem(1, "Add a canary to checkout deploys", "platform-sre", at(days=3), created_at=T0)


def test_a_new_action_item_is_open_and_due_at_the_end_of_its_day():
    item = new_action(1, "Add a canary to checkout deploys", "platform-sre", "2026-12-03", "OPS-12", T0, OWNERS)
    assert item == ActionItem(1, "Add a canary to checkout deploys", "platform-sre",
                              datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC), OPEN, "OPS-12", created_at=T0)


@pytest.mark.parametrize("text, expected", [
    ("2026-12-03", datetime(2026, 12, 3, 23, 59, 59, tzinfo=UTC)),
    ("2026-12-03T17:00:00+01:00", datetime(2026, 12, 3, 16, 0, tzinfo=UTC)),
    ("2026-12-03T17:00", datetime(2026, 12, 3, 17, 0, tzinfo=UTC)),
])
def test_a_due_date_is_read_as_utc(text, expected):
    assert parse_due(text) == expected


@pytest.mark.parametrize("link", ["OPS-123", "SUPPORT_2-9", "https://example.atlassian.net/browse/OPS-1",
                                  "https://acme.zendesk.com/agent/tickets/123", ""])
def test_a_link_is_a_jira_key_or_an_https_url(link):
    assert check_link(link) == link


@pytest.mark.parametrize("link", ["ops-123", "OPS-0", "OPS-", "http://example.com/x", "javascript:alert(1)",
                                  "https://", "https://exa mple.com", "see OPS-1", 42])
def test_anything_else_is_refused_as_a_link(link):
    with pytest.raises(InvalidReviewInput, match="neither a Jira issue key"):
        check_link(link)


@pytest.mark.parametrize("fields, message", [
    ({"title": " "}, "an action item needs a title"),
    ({"owner": "nobody"}, "owner 'nobody' is not a team or person of the matrix; owners are: platform-sre, vp-support"),
    ({"due": "next friday"}, "due 'next friday' is not a date"),
    ({"due": None}, "due None is not a date"),
    ({"link": "JIRA 12"}, "link 'JIRA 12' is neither"),
], ids=["blank title", "unknown owner", "unreadable due", "no due", "bad link"])
def test_a_bad_action_item_is_refused_with_the_reason(fields, message):
    values = {"title": "Fix it", "owner": "platform-sre", "due": "2026-12-03", "link": "", **fields}
    with pytest.raises(InvalidReviewInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        new_action(1, values["title"], values["owner"], values["due"], values["link"], T0, OWNERS)


@pytest.mark.parametrize("status, closed_at", [(DONE, at(days=4)), (WONT_DO, at(days=4)), (OPEN, None)])
def test_closing_an_item_records_when(status, closed_at):
    item = changed_action(ITEM, {"status": status}, at(days=4), OWNERS)
    assert (item.status, item.closed_at) == (status, closed_at)


def test_a_new_due_date_starts_the_reminders_over():
    reminded = replace(ITEM, last_reminded_at=at(days=4))
    assert changed_action(reminded, {"due": "2026-12-10"}, at(days=4), OWNERS).last_reminded_at is None
    assert changed_action(reminded, {"title": "Canary"}, at(days=4), OWNERS).last_reminded_at == at(days=4)


def test_an_unknown_item_or_field_is_named():
    with pytest.raises(ReviewNotFound, match="review 1 has no action item 2; it has 1"):
        replace(REVIEW, actions=(ITEM,)).action(2)
    with pytest.raises(InvalidReviewInput, match="unknown field"):
        changed_action(ITEM, {"priority": "high"}, T0, OWNERS)


@pytest.mark.parametrize("item, now, due", [
    (ITEM, at(days=3) - timedelta(seconds=1), False),
    (ITEM, at(days=3), True),
    (replace(ITEM, last_reminded_at=at(days=3)), at(days=4) - timedelta(seconds=1), False),
    (replace(ITEM, last_reminded_at=at(days=3)), at(days=4), True),
    (replace(ITEM, status=DONE), at(days=9), False),
    (replace(ITEM, status=WONT_DO), at(days=9), False),
], ids=["not yet due", "just overdue", "reminded less than a day ago", "a day since the reminder", "done",
        "won't do"])
def test_an_overdue_open_item_reminds_at_once_then_every_period(item, now, due):
    assert reminder_due(item, now, timedelta(days=1)) is due


def test_the_reminder_says_what_is_overdue_and_how_to_close_it():
    text = reminder_text(REVIEW, replace(ITEM, link="OPS-12"), at(days=4, hours=2), "https://jira/browse/SUP-7")
    assert text.splitlines() == [
        "Overdue action item from the review of jira/SUP-7",
        '"Add a canary to checkout deploys" was due 2026-12-03 09:00 UTC (1d 2h ago) and is still open.',
        "Owner: platform-sre. Tracked in OPS-12.",
        "Close it: escalator review action close 1 1",
        "Ticket: https://jira/browse/SUP-7"]


# -- the review condition --------------------------------------------------------------------------------

@pytest.mark.parametrize("state, significant", [
    (TicketState(severity="critical", level="L1"), True),
    (TicketState(severity="high", level="L3"), True),
    (TicketState(severity="high", level="L2"), False),
    (TicketState(), False),
])
def test_by_default_level_l3_or_severity_critical_is_significant(state, significant):
    read = ticket_reader("jira", "SUP-7", {"summary": "x"}, EventKind.UPDATED, state)
    assert holds(DEFAULT_REVIEWS.when, read) is significant


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(when=conditions, cases=st.lists(st.tuples(events, states), min_size=10, max_size=10))
def test_the_review_condition_holds_exactly_when_the_same_rule_would_match(when, cases):
    rule = Rule("review", "trigger", when, Effects(labels=("r",)))
    backend = PythonBackend(type("M", (), {"rules": (rule,)})())
    for event, state in cases:
        read = lambda name, e=event, s=state: fact(FIELDS[name].read(e, s))  # noqa: E731
        assert holds(when, read) == bool(backend.matching(event, state)), (event, state)
