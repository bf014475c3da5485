"""Jira Automation "Send web request" bodies become TicketEvents: issue data, and Escalator's body."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.domain.ticket import EventKind, TicketEvent
from plugin.platforms import jira, parse
from plugin.platforms.jira import automation as jira_automation

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
K = EventKind
JIRA_FORMAT = "escalator-automation__issue-data-jira-format.json"
AUTOMATION_FORMAT = "escalator-automation__issue-data-automation-format.json"
OURS = "escalator-automation__custom-body-commented.json"
ALLOWED = ", ".join(kind.value for kind in EventKind)


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def ours(**changes) -> dict:
    """Our custom body with top-level keys replaced; a value of None removes the key."""
    body = load(OURS)
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def with_fields(body: dict, **fields) -> dict:
    issue = body.get("issue", body)
    issue["fields"].update(fields)
    return body


@pytest.mark.parametrize("name", [JIRA_FORMAT, AUTOMATION_FORMAT])
@pytest.mark.parametrize("header, kind", [
    ("created", K.CREATED), ("updated", K.UPDATED), ("priority_changed", K.PRIORITY_CHANGED),
    ("assigned", K.ASSIGNED), ("resolved", K.RESOLVED), ("sla_breached", K.SLA_BREACHED),
    (" Reopened ", K.REOPENED),
])
def test_the_event_header_selects_the_kind_of_issue_data(name, header, kind):
    assert jira.parse(load(name), {"X-Escalator-Event": header}).kind is kind


@pytest.mark.parametrize("headers", [
    {"x-escalator-event": "created"}, {"X-ESCALATOR-EVENT": "created"},
], ids=["lower case", "upper case"])
def test_the_event_header_name_is_case_insensitive(headers):
    assert jira.parse(load(JIRA_FORMAT), headers).kind is K.CREATED


@pytest.mark.parametrize("headers", [None, {}, {"X-Escalator-Event": "  "}],
                         ids=["no headers", "no header", "blank header"])
def test_issue_data_without_an_event_header_is_an_update(headers):
    assert jira.parse(load(JIRA_FORMAT), headers).kind is K.UPDATED


@pytest.mark.parametrize("value", ["issue_created", "comment", "sla"])
def test_an_unknown_event_header_is_anomalous_and_names_the_allowed_values(value):
    with pytest.raises(AnomalousPayload) as raised:
        jira.parse(load(JIRA_FORMAT), {"X-Escalator-Event": value})
    assert f"expected the X-Escalator-Event header to be one of {ALLOWED}, found str '{value}'" \
        in str(raised.value)


def test_a_status_change_into_a_done_status_is_resolved():
    body = with_fields(load(JIRA_FORMAT), status={"name": "Done", "statusCategory": {"key": "done"}})
    assert jira.parse(body, {"X-Escalator-Event": "status_changed"}).kind is K.RESOLVED


def test_a_status_change_into_an_open_status_stays_a_status_change():
    assert jira.parse(load(JIRA_FORMAT), {"X-Escalator-Event": "status_changed"}).kind \
        is K.STATUS_CHANGED


def test_commented_issue_data_takes_the_latest_comment_and_its_author_as_actor():
    event = jira.parse(load(AUTOMATION_FORMAT), {"X-Escalator-Event": "commented"})
    assert (event.comment.body, event.comment.author, event.actor) == ("comment body", "admin", "admin")


def test_issue_data_maps_fields_like_a_webhook_of_the_same_issue():
    webhook = jira.parse(load("mattermost__webhook-cloud-issue-created-many-fields.json"))
    automation = jira.parse(load(JIRA_FORMAT), {"X-Escalator-Event": "created"})
    same = ("kind", "key", "summary", "description", "status", "priority", "issue_type", "project",
            "labels", "components", "reporter", "assignee", "custom_fields")
    assert {a: getattr(automation, a) for a in same} == {a: getattr(webhook, a) for a in same}


def test_a_webhook_ignores_the_event_header():
    payload = load("mattermost__webhook-issue-created.json")
    assert jira.parse(payload, {"X-Escalator-Event": "resolved"}).kind is K.CREATED


def test_our_body_keeps_custom_field_values_by_id_and_drops_empty_ones():
    assert dict(jira.parse(load(OURS)).custom_fields) == {
        "customfield_10050": "gold", "customfield_10060": "ines.ferreira@example.com"}


@pytest.mark.parametrize("event, header, kind", [
    ("priority_changed", None, K.PRIORITY_CHANGED),
    ("priority_changed", "created", K.PRIORITY_CHANGED),
    (None, "assigned", K.ASSIGNED),
    ("STATUS_CHANGED", None, K.STATUS_CHANGED),
], ids=["body event", "body event beats header", "header when the body has none", "upper case"])
def test_our_body_names_its_event_or_takes_the_header(event, header, kind):
    headers = {"X-Escalator-Event": header} if header else {}
    assert jira.parse(ours(event=event), headers).kind is kind


def test_our_body_reads_lists_and_users_as_the_rest_issue_has_them():
    body = with_fields(ours(), labels=["region-eu"], components=[{"name": "payments"}],
                       assignee={"accountId": "5b10ac8d82e05b22cc7d4ef5"})
    event = jira.parse(body)
    assert (event.labels, event.components, event.assignee) == (
        ("region-eu",), ("payments",), "5b10ac8d82e05b22cc7d4ef5")


@pytest.mark.parametrize("internal, public", [("true", False), ("false", True), (True, False), ("", True)])
def test_our_body_marks_service_management_internal_comments(internal, public):
    body = ours()
    body["comment"]["internal"] = internal
    assert jira.parse(body).comment.public is public


def test_a_comment_by_anyone_but_the_reporter_is_by_an_agent():
    body = ours()
    body["comment"]["author"] = {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ana"}
    assert jira.parse(body).comment.by_agent is True


def test_our_body_without_comment_text_has_no_comment():
    body = ours(event="priority_changed")
    body["comment"]["body"] = ""
    assert jira.parse(body).comment is None


def test_our_body_names_the_timer_of_an_sla_event():
    event = jira.parse(ours(event="sla_breached", timer="ack"))
    assert (event.kind, event.timer) == (K.SLA_BREACHED, "ack")


@pytest.mark.parametrize("timestamp", ["Mar 4, 2026 9:17:42 AM", "", None],
                         ids=["localized", "empty", "missing"])
def test_a_timestamp_that_is_not_iso_8601_leaves_the_receipt_time(timestamp):
    assert jira.parse(ours(timestamp=timestamp)).occurred_at is None


@pytest.mark.parametrize("key", ["{{issue.key}}", " {{issue.key}}"])
def test_a_template_with_unrendered_smart_values_is_ignored(key):
    body = ours()
    body["issue"]["key"] = key
    assert jira.parse(body) is None


@pytest.mark.parametrize("payload, message", [
    (ours(escalator="jira-automation/v0"),
     "expected 'escalator': 'jira-automation/v1', found str 'jira-automation/v0'; copy the body "
     "again from docs/jira-automation.md"),
    (ours(event="escalated"), f"expected 'event' in the Jira Automation body to be one of {ALLOWED}"),
    (ours(event=None), "expected 'event' in the Jira Automation body or an X-Escalator-Event header"),
    (ours(issue="SUP-1842"), "expected an 'issue' object in the Jira Automation body, found str"),
    (ours(issue={"key": "", "fields": {}}), "expected 'issue.key' in the Jira Automation body, found "
     "str ''; the rule's trigger must give it an issue"),
    (ours(issue={"key": "SUP-1", "fields": "x"}), "expected 'fields' to be an object"),
    ({"issue": ["KT-22"]}, "expected an 'issue' object in Jira Automation issue data, found list"),
    ({"issue": {"fields": {}}}, r"expected 'issue.key' in Jira Automation issue data \(Jira format\)"),
    ({"key": 22, "fields": {}}, r"expected 'key' in Jira Automation issue data \(Automation format\), "
     "found int 22"),
    ({"key": "KT-22"}, r"found an object with keys \['key'\]\. See docs/jira-automation\.md"),
    ({}, r"found an object with keys \[\]\. See docs/jira-automation\.md"),
], ids=["old marker", "unknown event", "no event", "issue not an object", "empty key",
        "fields not an object", "issue data not an object", "issue data without key",
        "numeric key", "bare key without fields", "empty object"])
def test_bodies_automation_would_not_send_are_anomalous_and_say_why(payload, message):
    with pytest.raises(AnomalousPayload, match=message):
        jira.parse(payload)


def test_the_registry_passes_headers_to_the_jira_parser():
    assert parse("jira", load(JIRA_FORMAT), {"X-Escalator-Event": "created"}).kind is K.CREATED


@pytest.mark.parametrize("event, status, answer", [
    ("created", 202, "accepted"),
    ("escalated", 400, f"to be one of {ALLOWED}"),
], ids=["known event", "unknown event"])
def test_a_delivery_with_the_token_reaches_the_parser_with_its_event_header(make_app, event, status, answer):
    client = make_app(jira_automation_secret="t0ken").test_client()
    reply = client.post("/webhooks/jira", data=(FIXTURES / JIRA_FORMAT).read_bytes(),
                        content_type="application/json",
                        headers={"X-Escalator-Token": "t0ken", "x-escalator-event": event})
    assert reply.status_code == status
    assert answer in (reply.json.get("status") or reply.json["error"])


# Robustness: Automation-shaped bodies and any header value only ever raise the parser's own errors.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)
header_values = st.sampled_from([kind.value for kind in EventKind]) | st.text(max_size=12)
headers = st.none() | st.dictionaries(st.sampled_from(["X-Escalator-Event", "x-escalator-event",
                                                       "Content-Type"]), header_values, max_size=2)
issues = st.fixed_dictionaries({"key": st.text(max_size=8) | json_values, "fields": json_values},
                               optional={"changelog": json_values})
fields = st.fixed_dictionaries({}, optional={
    name: json_values | st.text(max_size=12) for name in (
        "summary", "status", "priority", "labels", "components", "reporter", "assignee",
        "comment", "customfield_10050")})


def assert_parses_or_refuses(payload: object, given_headers: dict | None) -> None:
    try:
        event = jira.parse(payload, given_headers)
    except (UnsupportedEvent, AnomalousPayload):
        return
    assert event is None or isinstance(event, TicketEvent) and event.key


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.fixed_dictionaries({"issue": issues | json_values}, optional={"timestamp": json_values}),
    issues,
    st.fixed_dictionaries({"escalator": st.just(jira_automation.MARKER) | json_values},
                          optional={"event": header_values | json_values, "issue": issues | json_values,
                                    "comment": json_values, "actor": json_values,
                                    "timestamp": json_values, "timer": json_values}),
), headers)
def test_automation_shaped_bodies_parse_or_are_refused_with_a_reason(payload, given_headers):
    assert_parses_or_refuses(payload, given_headers)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([JIRA_FORMAT, AUTOMATION_FORMAT, OURS]), fields, headers)
def test_real_bodies_with_fields_replaced_parse_or_are_refused(name, replaced, given_headers):
    body = copy.deepcopy(LOADED[name])
    issue = body.get("issue", body)
    issue["fields"].update(replaced)
    assert_parses_or_refuses(body, given_headers)


LOADED = {name: load(name) for name in (JIRA_FORMAT, AUTOMATION_FORMAT, OURS)}
