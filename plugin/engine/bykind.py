"""Rules indexed by event kind, with the tests on `event` already decided.

Most triggers name the events they apply to (`event in [created, commented]`), and every event
has exactly one kind. Deciding those tests once per kind, when the matrix is compiled, leaves
each kind only the rules that can still match it, and those without their `event` tests.
"""
from __future__ import annotations

import re

from ..domain.conditions import Any, Condition, Not, Test
from ..domain.fields import normalize
from ..domain.matrix import Rule
from ..domain.ticket import EventKind

EVENT = "event"
Decided = Condition | bool


def rules_by_kind(rules: tuple[Rule, ...]) -> dict[EventKind, list[tuple[int, Decided]]]:
    """`rules_for_kind` of every kind."""
    return {kind: rules_for_kind(rules, kind) for kind in EventKind}


def rules_for_kind(rules: tuple[Rule, ...], kind: EventKind) -> list[tuple[int, Decided]]:
    """The matrix index of every rule that can match an event of this kind and what is left of
    its condition: True when the kind alone decides that it matches."""
    decided = ((i, specialize(rule.when, EVENT, kind.value)) for i, rule in enumerate(rules))
    return [(i, when) for i, when in decided if when is not False]


def specialize(condition: Condition, field: str, value: str) -> Decided:
    """`condition` for events whose `field` has the non-empty string `value`: simplified, or
    True/False when that value alone decides it."""
    if isinstance(condition, Test):
        return _holds(condition, value) if condition.field == field else condition
    if isinstance(condition, Not):
        item = specialize(condition.item, field, value)
        return (not item) if isinstance(item, bool) else Not(item)
    is_any = isinstance(condition, Any)
    items = []
    for item in condition.items:
        item = specialize(item, field, value)
        if isinstance(item, bool):
            if item is is_any:      # True decides an Any, False an All
                return is_any
            continue                # True in an All, False in an Any: no effect
        items.append(item)
    if not items:
        return not is_any
    if len(items) == 1:
        return items[0]
    return type(condition)(tuple(items))


def _holds(test: Test, raw: str) -> bool:
    """A test on a present string field, as both backends evaluate it."""
    value = normalize(raw)
    op = test.op
    if op == "exists":
        return bool(test.value)
    if op == "eq":
        return value == test.value
    if op == "neq":
        return value != test.value
    if op == "in":
        return value in test.value
    if op == "not_in":
        return value not in test.value
    if op == "matches":
        return re.search(test.value, raw) is not None
    raise ValueError(f"{test.describe()}: no such test on a text field")

