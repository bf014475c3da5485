"""The ticket fields a matrix condition can test, and how each is read from an event.

Both rule backends read the same normalised facts, so they cannot disagree about what a
field's value is: strings are compared case-insensitively (`Enterprise` equals `enterprise`),
text patterns see the original text, and an empty value counts as absent.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .ticket import EventKind, TicketEvent, TicketState

STR, TEXT, LIST, NUMBER, BOOL = "string", "text", "list", "number", "boolean"

# Which operators make sense on which kind of field; the loader rejects the rest.
OPERATORS = {
    STR: {"eq", "neq", "in", "not_in", "matches", "exists"},
    TEXT: {"matches", "exists", "eq", "neq"},
    LIST: {"contains", "contains_any", "exists"},
    NUMBER: {"eq", "neq", "gt", "gte", "lt", "lte", "exists"},
    BOOL: {"eq", "exists"},
}


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    read: Callable[[TicketEvent, TicketState], object]
    doc: str
    values: tuple[str, ...] = ()   # the closed set of values, when there is one


def _comment(attr: str):
    return lambda e, s: getattr(e.comment, attr) if e.comment else None


def _satisfaction(attr: str):
    return lambda e, s: getattr(e.satisfaction, attr) if e.satisfaction else None


_CATALOG = [
    # `_value_` is the enum member's plain value; `.value` is a property, five times slower.
    Field("event", STR, lambda e, s: e.kind._value_, "what happened: " + ", ".join(k.value for k in EventKind),
          tuple(k.value for k in EventKind)),
    Field("platform", STR, lambda e, s: e.platform, "jira, zendesk or simulator", ("jira", "zendesk", "simulator")),
    Field("summary", TEXT, lambda e, s: e.summary, "the ticket's title"),
    Field("description", TEXT, lambda e, s: e.description, "the ticket's description"),
    Field("comment", TEXT, lambda e, s: e.comment.body if e.comment else None, "the comment on this event"),
    Field("text", TEXT, lambda e, s: e.text, "summary, description and comment together"),
    Field("comment.public", BOOL, _comment("public"), "whether the comment is visible to the customer"),
    Field("comment.by_agent", BOOL, _comment("by_agent"), "whether an agent (not the customer) wrote it"),
    Field("status", STR, lambda e, s: e.status, "the platform's status name"),
    Field("priority", STR, lambda e, s: e.priority, "the platform's priority name"),
    Field("issue_type", STR, lambda e, s: e.issue_type, "Jira issue type or Zendesk ticket type"),
    Field("project", STR, lambda e, s: e.project, "Jira project key or Zendesk brand"),
    Field("labels", LIST, lambda e, s: e.labels, "Jira labels or Zendesk tags"),
    Field("components", LIST, lambda e, s: e.components, "Jira components"),
    Field("changed", LIST, lambda e, s: tuple(c.field for c in e.changes), "names of the fields this event changed"),
    Field("reporter", STR, lambda e, s: e.reporter, "who reported the ticket"),
    Field("assignee", STR, lambda e, s: e.assignee, "who the ticket is assigned to"),
    Field("actor", STR, lambda e, s: e.actor, "who caused this event"),
    Field("organization", STR, lambda e, s: e.organization, "the customer's organization"),
    Field("customer.tier", STR, lambda e, s: e.customer_tier, "customer tier, from the field map"),
    Field("customer.region", STR, lambda e, s: e.customer_region, "customer region, from the field map"),
    Field("customer.requested_priority", STR, lambda e, s: e.requested_priority,
          "the priority the customer asked for, from the field map"),
    Field("product_area", STR, lambda e, s: e.product_area, "product area, from the field map"),
    Field("account_manager", STR, lambda e, s: e.account_manager, "account manager, from the field map"),
    Field("satisfaction.rating", STR, _satisfaction("rating"), "good, bad or a score as text"),
    Field("satisfaction.score", NUMBER, _satisfaction("score"), "the satisfaction score, 1-5"),
    Field("timer", STR, lambda e, s: e.timer, "the SLA timer of an sla_warning/sla_breached event"),
    Field("current.severity", STR, lambda e, s: s.severity, "the severity we already set"),
    Field("current.level", STR, lambda e, s: s.level, "the escalation level we already set"),
    Field("current.owner", STR, lambda e, s: s.owner, "the owner we already set"),
]

FIELDS: dict[str, Field] = {f.name: f for f in _CATALOG}


def normalize(value: object) -> object:
    """The comparable form of a value: case-folded strings, tuples of them, numbers, booleans."""
    if type(value) is str:     # the common case first: this runs for every field of every event
        return value.strip().casefold()
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, (list, tuple)):
        return tuple(dict.fromkeys(normalize(v) for v in value if v not in (None, "")))
    return normalize(str(value))


def is_absent(value: object) -> bool:
    return value is None or value == "" or value == ()


def read_facts(names, event: TicketEvent, state: TicketState) -> tuple[dict, dict]:
    """The normalised value of each named field, and the raw text of each (for patterns).

    Absent values are left out of both dictionaries.
    """
    facts, raw = {}, {}
    for name in names:
        normalized, text = fact(FIELDS[name].read(event, state))
        if normalized is not None:
            facts[name] = normalized
            raw[name] = text
    return facts, raw


def fact(value: object) -> tuple[object, str | None]:
    """A field's value as read: its normalised form and raw text, or (None, None) when absent."""
    if isinstance(value, (list, tuple)):
        value = tuple(value)
        try:    # labels and components: strings, normalised here without a call per item
            normalized = tuple(dict.fromkeys([v.strip().casefold() for v in value if v != ""]))
        except AttributeError:
            normalized = normalize(value)
    else:
        normalized = normalize(value) if value is not None else None
    if is_absent(normalized):
        return None, None
    return normalized, value if isinstance(value, str) else str(value)
