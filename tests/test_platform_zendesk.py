"""Zendesk webhook deliveries become TicketEvents: one case per fixture, then the edges."""
from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from functools import reduce
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.domain.ticket import Change, Comment, EventKind, Satisfaction, TicketEvent
from plugin.platforms import PARSERS, parse
from plugin.platforms.zendesk import webhooks as zendesk

FIXTURES = Path(__file__).parent / "fixtures" / "zendesk"
TRIGGER_DOC = Path(__file__).parent.parent / "docs" / "zendesk-trigger-body.md"
K = EventKind

# fixture -> (kind, key, {dotted TicketEvent attribute: expected value})
EXPECTED = {
    "prismatic__ticket_created.json": (K.CREATED, "35436", {
        "status": "open",
        "occurred_at": datetime(2024, 4, 17, 17, 18, 10, tzinfo=UTC)}),
    "escalator__ticket_created.json": (K.CREATED, "5158", {
        "status": "new", "priority": "high", "issue_type": "incident",
        "labels": ("enterprise", "payments", "region_eu")}),
    "escalator__ticket_comment_added__agent_public.json": (K.COMMENTED, "5158", {
        "comment.author": "Priya Natarajan", "comment.public": True, "comment.by_agent": True}),
    "escalator__ticket_comment_added__customer.json": (K.COMMENTED, "5158", {
        "comment.body": "Still down. We are losing orders every minute, please escalate.",
        "comment.by_agent": False, "actor": "8447388090777"}),
    "escalator__ticket_priority_changed__urgent.json": (K.PRIORITY_CHANGED, "5158", {
        "priority": "urgent", "changes": (Change("priority", "high", "urgent"),)}),
    "escalator__ticket_agent_assignment_changed.json": (K.ASSIGNED, "5158", {
        "assignee": "8447388091200"}),
    "escalator__ticket_group_assignment_changed.json": (K.ASSIGNED, "5158", {
        "changes": (Change("group", "8447320466430", "8447320466901"),)}),
    "escalator__ticket_tags_changed.json": (K.UPDATED, "5158", {
        "labels": ("enterprise", "outage", "payments", "region_eu"),
        "changes": (Change("tags", "", "outage"),)}),
    "escalator__ticket_custom_field_changed.json": (K.UPDATED, "5158", {
        "custom_fields": {"360012345678": "payments"}}),
    "escalator__ticket_status_changed__pending.json": (K.STATUS_CHANGED, "5158", {
        "status": "pending"}),
    "escalator__ticket_status_changed__solved.json": (K.RESOLVED, "5158", {
        "changes": (Change("status", "pending", "solved"),)}),
    "escalator__ticket_status_changed__reopened.json": (K.REOPENED, "5158", {
        "status": "open", "actor": "8447388090777"}),
    "escalator__ticket_soft_deleted.json": (K.DELETED, "5158", {"project": "8447346621310"}),
    "escalator__trigger_body__created.json": (K.CREATED, "5160", {
        "reporter": "marta.kowalska@example.com", "organization": "Northwind Logistics",
        "organization_fields": {"customer_tier": "Enterprise", "region": "EU"},
        "custom_fields": {"360012345678": "Analytics"}, "satisfaction": None}),
    "escalator__trigger_body__satisfaction_rated.json": (K.SATISFACTION_RATED, "5160", {
        "satisfaction.rating": "bad", "status": "solved", "assignee": "jonas.berg@example.com"}),
}
# fixture -> part of the UnsupportedEvent message
IGNORED = {
    "zendesk-docs__user_active_changed.json": "Zendesk event 'user.active_changed' is ignored",
}


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def attribute(event: TicketEvent, dotted: str) -> object:
    return reduce(getattr, dotted.split("."), event)


def documented_trigger_body() -> dict:
    text = TRIGGER_DOC.read_text(encoding="utf-8")
    return json.loads(re.search(r"```json\n(.*?)```", text, re.S).group(1))


def trigger_body(**changes: object) -> dict:
    body = load("escalator__trigger_body__created.json")
    body.update(changes)
    return body


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_parses_to_the_expected_event(name):
    kind, key, fields = EXPECTED[name]
    event = zendesk.parse(load(name))
    assert (event.platform, event.kind, event.key) == ("zendesk", kind, key)
    assert {attr: attribute(event, attr) for attr in fields} == fields


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_fixture_of_an_event_escalator_does_not_handle_is_unsupported(name):
    with pytest.raises(UnsupportedEvent, match=IGNORED[name]):
        zendesk.parse(load(name))


def test_every_fixture_has_an_expected_outcome():
    assert set(EXPECTED) | set(IGNORED) == {path.name for path in FIXTURES.glob("*.json")}


def test_event_time_with_nanoseconds_is_read_to_the_microsecond_in_utc():
    event = zendesk.parse(load("escalator__ticket_created.json"))
    assert event.occurred_at == datetime(2025, 3, 3, 8, 41, 12, 672717, tzinfo=UTC)


def test_ticket_id_falls_back_to_the_event_subject():
    payload = load("escalator__ticket_created.json")
    del payload["detail"]["id"]
    assert zendesk.parse(payload).key == "5158"


def test_numeric_ticket_id_and_spaced_tags_are_accepted():
    payload = load("escalator__ticket_created.json")
    payload["detail"].update(id=5158, tags="enterprise payments")
    event = zendesk.parse(payload)
    assert (event.key, event.labels) == ("5158", ("enterprise", "payments"))


def test_ticket_event_that_changes_nothing_the_matrix_reads_is_ignored():
    payload = load("escalator__ticket_created.json")
    payload["type"] = "zen:event-type:ticket.comment_made_private"
    with pytest.raises(UnsupportedEvent, match="'ticket.comment_made_private' is ignored: it "
                                               "changes nothing the escalation matrix reads"):
        zendesk.parse(payload)


@pytest.mark.parametrize("event_type", ["user.created", "organization.created"])
def test_user_and_organization_events_are_unsupported(event_type):
    payload = {"type": f"zen:event-type:{event_type}", "detail": {"id": "1"}, "event": {}}
    with pytest.raises(UnsupportedEvent, match=f"'{event_type}' is ignored: it is not a ticket"):
        zendesk.parse(payload)


def test_documented_trigger_body_with_placeholders_unrendered_carries_nothing():
    assert zendesk.parse(documented_trigger_body()) is None


def test_satisfaction_trigger_before_the_customer_answers_carries_nothing():
    body = trigger_body(event="satisfaction_rated", satisfaction={"rating": "Offered"})
    assert zendesk.parse(body) is None


def test_good_rating_text_reads_as_good():
    body = trigger_body(event="satisfaction_rated",
                        satisfaction={"rating": "Good, I'm satisfied", "comment": " thanks "})
    assert zendesk.parse(body).satisfaction == Satisfaction("good", None, "thanks")


def test_comment_trigger_sends_the_latest_comment_by_its_author_role():
    body = trigger_body(event="commented", current_user={"email": "a@example.com", "role": "Agent"})
    body["ticket"]["latest_comment"] = {"body": "Engineering is on it.", "author": "Jonas Berg",
                                        "public": "false"}
    event = zendesk.parse(body)
    assert event.kind is K.COMMENTED
    assert event.comment == Comment("Engineering is on it.", "Jonas Berg", False, True)
    assert event.actor == "a@example.com"


def test_status_trigger_on_a_solved_ticket_is_resolved():
    body = trigger_body(event="status_changed")
    body["ticket"]["status"] = "Solved"
    assert zendesk.parse(body).kind is K.RESOLVED


def test_placeholder_renderings_are_normalised():
    body = trigger_body(event="updated")
    body["ticket"].update(status="On-hold", type="Ticket", priority="Urgent")
    event = zendesk.parse(body)
    assert (event.status, event.issue_type, event.priority) == ("hold", "", "urgent")


def without(path: tuple, payload: dict) -> dict:
    reduce(lambda node, key: node[key], path[:-1], payload).pop(path[-1])
    return payload


def created(**changes: object) -> dict:
    payload = load("escalator__ticket_created.json")
    payload.update(changes)
    return payload


def detail_without_id() -> dict:
    payload = without(("detail", "id"), load("escalator__ticket_created.json"))
    del payload["subject"]
    return payload


@pytest.mark.parametrize("payload, message", [
    ("zen:event-type:ticket.created", "expected a JSON object from Zendesk, found str"),
    ({"ticket": {"id": 1}}, r"expected a Zendesk event \('type': 'zen:event-type:...'\) or an "
                            r"Escalator trigger body .* found 'type' nothing"),
    (created(type="ticket.created"), "found 'type' str 'ticket.created'"),
    (without(("detail",), created()), "expected 'detail' to be an object in Zendesk "
                                      "ticket.created, found nothing"),
    (created(detail=["5158"]), "expected 'detail' to be an object in Zendesk ticket.created, "
                               "found list"),
    (created(event="solved"), "expected 'event' to be an object in Zendesk ticket.created, "
                              "found str 'solved'"),
    (detail_without_id(), "expected 'detail.id' or a 'zen:ticket:<id>' subject"),
    (trigger_body(escalator="zendesk-trigger/v9"), "expected 'escalator': 'zendesk-trigger/v1', "
                                                   "found str 'zendesk-trigger/v9'"),
    (without(("ticket",), trigger_body()),
     "expected 'ticket' to be an object in Zendesk trigger body"),
    (trigger_body(ticket={"id": "five"}), "expected a numeric 'ticket.id' in the Zendesk trigger"),
    (trigger_body(event="escalated"), "expected 'event' in the Zendesk trigger body to be one "
                                      "of created, updated, .* found str 'escalated'"),
    (without(("event",), trigger_body()), "to be one of .* found nothing"),
], ids=["not an object", "neither shape", "type without prefix", "no detail",
        "detail not an object", "event not an object", "no ticket id", "unknown body version",
        "trigger without ticket", "non-numeric trigger ticket id", "unknown trigger event",
        "trigger without event"])
def test_payloads_zendesk_would_not_send_are_anomalous_and_say_why(payload, message):
    with pytest.raises(AnomalousPayload, match=message):
        zendesk.parse(payload)


def test_registry_parses_by_platform_name():
    assert PARSERS["zendesk"] is zendesk.parse
    assert parse("zendesk", load("escalator__ticket_created.json")).key == "5158"


# Robustness: no JSON value may make the parser fail with anything but its own two errors.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)
FIXTURE_NAMES = sorted(EXPECTED) + sorted(IGNORED)
HANDLED_KEYS = ["type", "escalator", "event", "detail", "ticket", "id", "subject", "time",
                "comment", "author", "current", "previous", "custom_field", "satisfaction",
                "rating", "status", "tags", "organization", "fields", "custom_fields"]
EVENT_TYPES = [zendesk.EVENT_PREFIX + name
               for name in sorted(zendesk.EVENT_HANDLERS) + sorted(zendesk.IGNORED_EVENTS)]


def assert_parses_or_refuses(payload: object) -> None:
    try:
        event = zendesk.parse(payload)
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
    "type": st.sampled_from(EVENT_TYPES) | json_values,
    "subject": st.just("zen:ticket:42") | json_values,
    "time": json_values, "detail": json_values,
    "event": st.fixed_dictionaries({"current": json_values, "previous": json_values,
                                    "comment": json_values, "custom_field": json_values}),
}) | st.fixed_dictionaries({
    "escalator": st.just(zendesk.TRIGGER_MARKER), "event": st.sampled_from(
        sorted(zendesk.TRIGGER_EVENTS)) | json_values,
    "ticket": st.fixed_dictionaries({"id": st.just("42") | json_values}) | json_values,
    "satisfaction": json_values, "current_user": json_values,
}))
def test_payloads_shaped_like_zendesk_parse_or_are_refused_with_a_reason(payload):
    assert_parses_or_refuses(payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_fixtures_with_keys_deleted_or_replaced_parse_or_are_refused(data):
    payload = copy.deepcopy(LOADED[data.draw(st.sampled_from(FIXTURE_NAMES))])
    candidates = paths(payload)
    targeted = [path for path in candidates if path[-1] in HANDLED_KEYS]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(targeted or candidates) | st.sampled_from(candidates))
        mutate(payload, path, data.draw(json_values), data.draw(st.booleans()))
    assert_parses_or_refuses(payload)


LOADED = {name: load(name) for name in FIXTURE_NAMES}
