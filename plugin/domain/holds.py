"""A matrix condition evaluated on one ticket by reading its fields one at a time.

The rule backends compile conditions because they run on every event; a condition asked once
per decision of a ticket (is an after-action review due?) needs only the same meaning: the
comparisons of `engine.codegen` on the facts of `fields.fact`, an absent field being None.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .conditions import All, Condition, Not, Test
from .fields import FIELDS, fact
from .snapshot import SNAPSHOT_FIELDS
from .ticket import EventKind, TicketEvent, TicketState

Reader = Callable[[str], tuple[object, str | None]]     # field -> (normalised value, raw text)
_ABSENT_HOLDS = frozenset({"neq", "not_in"})     # what an absent value satisfies, as in the backends


def holds(condition: Condition, read: Reader) -> bool:
    if isinstance(condition, Test):
        return _test(condition, *read(condition.field))
    if isinstance(condition, Not):
        return not holds(condition.item, read)
    results = (holds(item, read) for item in condition.items)
    return all(results) if isinstance(condition, All) else any(results)


def _test(test: Test, value: object, raw: str | None) -> bool:
    op, wanted = test.op, test.value
    if op == "exists":
        return (value is not None) == bool(wanted)
    if op == "matches":
        return raw is not None and re.search(wanted, raw) is not None
    if value is None:
        return op in _ABSENT_HOLDS
    if op in ("eq", "neq"):
        return (value == wanted) == (op == "eq")
    if op in ("in", "not_in"):
        return (value in wanted) == (op == "in")
    if op == "contains":
        return wanted in value
    if op == "contains_any":
        return not set(wanted).isdisjoint(value)
    return _compare(op, value, wanted)


def _compare(op: str, value, wanted) -> bool:
    if op == "gt":
        return value > wanted
    if op == "gte":
        return value >= wanted
    if op == "lt":
        return value < wanted
    return value <= wanted


def ticket_reader(platform: str, key: str, snapshot: Mapping, kind: EventKind, state: TicketState) -> Reader:
    """The ticket as it now stands: its state, and the ticket as last seen for every other field.
    The event is built only if the condition reads more than the state."""
    event: list[TicketEvent] = []

    def read(name: str):
        if not event and not name.startswith("current."):
            event.append(_as_event(platform, key, snapshot, kind))
        return fact(FIELDS[name].read(event[0] if event else None, state))
    return read


def _as_event(platform: str, key: str, snapshot: Mapping, kind: EventKind) -> TicketEvent:
    values = {k: v for k, v in snapshot.items() if k in SNAPSHOT_FIELDS}
    values["labels"] = tuple(values.get("labels", ()))
    values["components"] = tuple(values.get("components", ()))
    return TicketEvent(platform, kind, key, **values)
