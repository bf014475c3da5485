"""Jira webhook deliveries become TicketEvents: one case per real payload, then the edges."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.domain.ticket import Change, EventKind, TicketEvent
from plugin.platforms import PARSERS, parse
from plugin.platforms.jira import webhooks as jira

FIXTURES = Path(__file__).parent / "fixtures" / "jira"
K = EventKind

# fixture -> (kind, key, {dotted TicketEvent attribute: expected value})
EXPECTED = {
    "jenkins-jira-trigger__cloud_comment_added.json": (K.COMMENTED, "TEST-24", {
        "comment.body": "comment body", "comment.public": True,
        "actor": "557058:eb43b4a2-fad1-4ff6-a2d9-38eee0b088b9"}),
    "jenkins-jira-trigger__issue_updated_fields_updated.json": (K.RESOLVED, "TEST-11", {
        "priority": "Blocker", "actor": "admin", "summary": "summary updated"}),
    "jira-to-matrix__issue-updated-issue-assigned.json": (K.ASSIGNED, "INDEV-242", {
        "assignee": "5b912e21fa38ae2c896099ae", "occurred_at": None}),
    "jira-to-matrix__issue-updated-status-changed.json": (K.STATUS_CHANGED, "INDEV-6", {
        "status": "In Progress", "priority": "Highest"}),
    "mattermost__webhook-cloud-comment-created.json": (K.COMMENTED, "TES-41", {
        "comment.body": "Added a comment", "comment.author": "Test User"}),
    "mattermost__webhook-cloud-comment-updated.json": (K.COMMENTED, "TES-41", {
        "comment.body": "Added a comment, then edited it"}),
    "mattermost__webhook-cloud-issue-created-many-fields.json": (K.CREATED, "KT-22", {
        "labels": ("Label1", "Label2"), "issue_type": "Task", "project": "KT"}),
    "mattermost__webhook-cloud-issue-updated-custom-field.json": (K.UPDATED, "TES-14", {
        "changes": (Change("mjk - number field", "1", "12"),)}),
    "mattermost__webhook-issue-created.json": (K.CREATED, "TES-41", {
        "components": ("COMP-1",), "labels": ("test-label",),
        "reporter": "5c5f880629be9642ba529340"}),
    "mattermost__webhook-issue-deleted.json": (K.DELETED, "IDT-19", {"summary": "hey"}),
    "mattermost__webhook-issue-updated-assigned-nobody.json": (K.ASSIGNED, "TES-41", {
        "assignee": "", "changes": (Change("assignee", "Test User", ""),)}),
    "mattermost__webhook-issue-updated-assigned.json": (K.ASSIGNED, "TES-41", {
        "assignee": "5c5f880629be9642ba529340"}),
    "mattermost__webhook-issue-updated-labels.json": (K.UPDATED, "TES-41", {
        "labels": ("sad", "test-label")}),
    "mattermost__webhook-issue-updated-lowered-priority.json": (K.PRIORITY_CHANGED, "TES-41", {
        "priority": "Low", "changes": (Change("priority", "High", "Low"),)}),
    "mattermost__webhook-issue-updated-raised-priority.json": (K.PRIORITY_CHANGED, "TES-41", {
        "priority": "High"}),
    "mattermost__webhook-issue-updated-resolved.json": (K.RESOLVED, "TES-41", {
        "status": "Done"}),
    "mattermost__webhook-server-issue-updated-commented-1.json": (K.COMMENTED, "PRJX-14", {
        "actor": "levbrouk", "comment.body": "unik", "comment.by_agent": True}),
    # Jira Automation "Send web request" bodies: no webhookEvent; issue data cannot tell the event.
    "escalator-automation__issue-data-jira-format.json": (K.UPDATED, "KT-22", {
        "labels": ("Label1", "Label2"), "project": "KT", "status": "To Do", "priority": "Medium",
        "reporter": "5cedcb4355a88a0fc86388ba", "actor": "", "comment": None, "occurred_at": None}),
    "escalator-automation__issue-data-automation-format.json": (K.UPDATED, "TEST-11", {
        "priority": "Blocker", "summary": "summary updated", "changes": (), "comment": None}),
    "escalator-automation__custom-body-commented.json": (K.COMMENTED, "SUP-1842", {
        "comment.body": 'Checkout is still down for all our stores.\nFinance says "we lose about 40k '
                        'EUR per hour". Please escalate.',
        "comment.by_agent": False, "comment.public": True, "comment.author": "Dana Okafor",
        "actor": "712020:4f3c2a9e-8d51-4c57-a0f2-6b1e9d3c7a21", "summary":
        'Checkout returns "502 Bad Gateway" for EU customers', "status": "Waiting for support",
        "labels": ("region-eu", "customer-reported"), "components": ("payments",), "assignee": "",
        "issue_type": "[System] Incident", "project": "SUP",
        "occurred_at": datetime(2026, 3, 4, 9, 17, 42, 300000, tzinfo=UTC)}),
}
# fixture -> part of the UnsupportedEvent message
IGNORED = {
    "mattermost__webhook-cloud-comment-deleted.json": "Jira event 'comment_deleted' is ignored",
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def attribute(event: TicketEvent, dotted: str) -> object:
    return reduce(getattr, dotted.split("."), event)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_payload_parses_to_the_expected_event(name):
    kind, key, fields = EXPECTED[name]
    event = jira.parse(load(name))
    assert (event.platform, event.kind, event.key) == ("jira", kind, key)
    assert {attr: attribute(event, attr) for attr in fields} == fields


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_real_payload_of_an_ignored_event_is_unsupported(name):
    with pytest.raises(UnsupportedEvent, match=IGNORED[name]):
        jira.parse(load(name))


def test_every_fixture_has_an_expected_outcome():
    assert set(EXPECTED) | set(IGNORED) == {path.name for path in FIXTURES.glob("*.json")}


def test_timestamp_is_read_as_epoch_milliseconds_in_utc():
    event = jira.parse(load("mattermost__webhook-issue-created.json"))
    assert event.occurred_at == datetime(2019, 2, 16, 3, 1, 53, 23000, tzinfo=UTC)


def test_an_update_that_sets_resolution_and_priority_is_resolved_and_keeps_every_change():
    event = jira.parse(load("jenkins-jira-trigger__issue_updated_fields_updated.json"))
    assert event.kind is K.RESOLVED
    assert [change.field for change in event.changes] == [
        "summary", "description", "priority", "resolution"]


def reopened_payload(items: list[dict]) -> dict:
    payload = load("mattermost__webhook-issue-updated-resolved.json")
    payload["changelog"]["items"] = items
    payload["issue"]["fields"]["status"] = {
        "name": "In Progress", "statusCategory": {"key": "indeterminate"}}
    return payload


@pytest.mark.parametrize("items", [
    [{"field": "resolution", "fromString": "Done", "toString": None, "to": None},
     {"field": "status", "fromString": "Done", "toString": "In Progress"}],
    [{"field": "status", "fromString": "Done", "toString": "In Progress"}],
], ids=["resolution cleared", "status left done"])
def test_moving_an_issue_out_of_done_reopens_it(items):
    assert jira.parse(reopened_payload(items)).kind is K.REOPENED


def test_priority_change_outranks_assignment_in_one_update():
    payload = load("mattermost__webhook-issue-updated-raised-priority.json")
    payload["changelog"]["items"].insert(0, {"field": "assignee", "toString": "Test User"})
    event = jira.parse(payload)
    assert event.kind is K.PRIORITY_CHANGED
    assert len(event.changes) == 2


def test_rich_text_description_and_comment_are_flattened_to_plain_text():
    payload = load("mattermost__webhook-cloud-comment-created.json")
    payload["comment"]["body"] = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "Checkout is "}, {"type": "text", "text": "down"}]},
        {"type": "paragraph", "content": [
            {"type": "mention", "attrs": {"text": "@Ana"}}, {"type": "hardBreak"},
            {"type": "text", "text": "please escalate"}]}]}
    payload["issue"]["fields"]["description"] = {"type": "doc", "content": [
        {"type": "heading", "content": [{"type": "text", "text": "Outage"}]}]}
    event = jira.parse(payload)
    assert event.comment.body == "Checkout is down\n@Ana\nplease escalate"
    assert event.description == "Outage"


def test_service_management_internal_comment_is_not_public():
    payload = load("mattermost__webhook-cloud-comment-created.json")
    payload["comment"]["jsdPublic"] = False
    assert jira.parse(payload).comment.public is False


def test_comment_by_the_reporter_is_not_by_an_agent():
    payload = load("mattermost__webhook-server-issue-updated-commented-1.json")
    payload["issue"]["fields"]["reporter"] = payload["comment"]["author"]
    assert jira.parse(payload).comment.by_agent is False


def test_custom_fields_keep_their_ids_and_become_text():
    event = jira.parse(load("mattermost__webhook-cloud-issue-created-many-fields.json"))
    fields = event.custom_fields
    assert fields["customfield_10074"] == "A"  # select option -> its value
    assert fields["customfield_10075"] == ("1", "2")  # multi-select -> tuple
    assert fields["customfield_10080"] == "Sample User"  # user picker -> display name
    assert fields["customfield_10072"] == "23"
    assert "customfield_10060" not in fields  # null


def test_service_management_satisfaction_rating_is_read_from_its_custom_field():
    payload = load("mattermost__webhook-issue-updated-labels.json")
    payload["issue"]["fields"]["customfield_10090"] = {"rating": 2, "comment": {"body": "slow"}}
    payload["changelog"]["items"] = [{"field": "Satisfaction", "fromString": None, "toString": "2"}]
    event = jira.parse(payload)
    assert event.kind is K.SATISFACTION_RATED
    assert (event.satisfaction.rating, event.satisfaction.score) == ("2", 2.0)
    assert event.satisfaction.comment == "slow"
    assert event.custom_fields["customfield_10090"] == "2"


def test_server_work_logging_reported_as_an_update_is_ignored():
    payload = load("mattermost__webhook-server-issue-updated-commented-1.json")
    payload["issue_event_type_name"] = "issue_worklogged"
    del payload["comment"]
    with pytest.raises(UnsupportedEvent, match="'issue_worklogged' is ignored"):
        jira.parse(payload)


@pytest.mark.parametrize("event, message", [
    ("jira:worklog_updated", "Jira event 'jira:worklog_updated' is ignored"),
    ("sprint_started", "Jira event 'sprint_started' is ignored"),
    ("jira:issue_archived", "Jira event 'jira:issue_archived' is not supported; Escalator handles"),
])
def test_events_other_than_issue_and_comment_events_are_unsupported(event, message):
    payload = load("mattermost__webhook-issue-created.json")
    payload["webhookEvent"] = event
    with pytest.raises(UnsupportedEvent, match=message):
        jira.parse(payload)


def without(path: tuple, payload: dict | None = None) -> dict:
    payload = payload or load("mattermost__webhook-issue-created.json")
    reduce(lambda node, key: node[key], path[:-1], payload).pop(path[-1])
    return payload


def replaced(path: tuple, value: object) -> dict:
    payload = load("mattermost__webhook-issue-created.json")
    reduce(lambda node, key: node[key], path[:-1], payload)[path[-1]] = value
    return payload


@pytest.mark.parametrize("payload, message", [
    ([{"webhookEvent": "jira:issue_created"}], "expected a JSON object from Jira, found list"),
    ({"event": "issue_created"},
     r"expected a Jira webhook \('webhookEvent'\), Jira Automation issue data .* found an object "
     r"with keys \['event'\]\. See docs/jira-automation\.md"),
    (replaced(("webhookEvent",), 7), "'webhookEvent' name, found int 7"),
    (without(("issue",)), "expected an 'issue' object in Jira jira:issue_created, found nothing"),
    (without(("issue", "key")), "expected 'issue.key' in Jira jira:issue_created, found nothing"),
    (replaced(("issue", "key"), ""), "expected 'issue.key' in Jira jira:issue_created, found str"),
    (replaced(("issue", "fields"), ["summary"]), "expected 'issue.fields' to be an object"),
    (without(("comment",), load("mattermost__webhook-cloud-comment-created.json")),
     "expected a 'comment' object in Jira comment_created, found nothing"),
], ids=["not an object", "no webhookEvent", "numeric webhookEvent", "no issue", "no issue key",
        "empty issue key", "fields not an object", "comment event without comment"])
def test_payloads_jira_would_not_send_are_anomalous_and_say_why(payload, message):
    with pytest.raises(AnomalousPayload, match=message):
        jira.parse(payload)


def test_registry_parses_by_platform_name():
    assert PARSERS["jira"] is jira.parse
    assert parse("jira", load("mattermost__webhook-issue-created.json")).key == "TES-41"


def test_registry_refuses_an_unknown_platform_by_name():
    with pytest.raises(UnsupportedEvent, match="unknown platform 'servicenow'; expected one of"):
        parse("servicenow", {})


# Robustness: no JSON value may make the parser fail with anything but its own two errors.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)
FIXTURE_NAMES = sorted(EXPECTED) + sorted(IGNORED)
HANDLED_KEYS = ["webhookEvent", "issue", "fields", "key", "changelog", "items", "comment",
                "user", "body", "timestamp", "status", "statusCategory", "reporter", "author"]


def assert_parses_or_refuses(payload: object) -> None:
    try:
        event = jira.parse(payload)
    except (UnsupportedEvent, AnomalousPayload):
        return
    assert event is None or isinstance(event, TicketEvent) and event.key


def paths(node: object, prefix: tuple = ()) -> list[tuple]:
    found = [prefix] if prefix else []
    children = node.items() if isinstance(node, dict) else enumerate(node) \
        if isinstance(node, list) else ()
    for key, child in children:
        found += paths(child, prefix + (key,))
    return found


def mutate(payload: dict, path: tuple, value: object, delete: bool) -> None:
    try:
        parent = reduce(lambda node, key: node[key], path[:-1], payload)
        if delete:
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass  # an earlier mutation removed or replaced this path


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_any_json_value_parses_or_is_refused_with_a_reason(value):
    assert_parses_or_refuses(value)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({
    "webhookEvent": st.sampled_from(sorted(jira.HANDLERS)) | st.text(max_size=10),
    "issue": st.fixed_dictionaries({"key": json_values, "fields": json_values}) | json_values,
    "changelog": st.fixed_dictionaries({"items": st.lists(json_values, max_size=3)}),
    "comment": json_values, "user": json_values, "timestamp": json_values,
    "issue_event_type_name": st.sampled_from(sorted(jira.UPDATE_TYPE_KINDS)) | json_values,
}))
def test_payloads_shaped_like_jira_parse_or_are_refused_with_a_reason(payload):
    assert_parses_or_refuses(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_real_payloads_with_keys_deleted_or_replaced_parse_or_are_refused(data):
    payload = copy.deepcopy(LOADED[data.draw(st.sampled_from(FIXTURE_NAMES))])
    candidates = paths(payload)
    targeted = [path for path in candidates if path[-1] in HANDLED_KEYS]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(targeted or candidates) | st.sampled_from(candidates))
        mutate(payload, path, data.draw(json_values), data.draw(st.booleans()))
    assert_parses_or_refuses(payload)


LOADED = {name: load(name) for name in FIXTURE_NAMES}
