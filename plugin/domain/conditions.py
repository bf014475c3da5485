"""The engine-neutral condition tree that matrix triggers are written in."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Test:
    """One comparison of a field with a value; `value` is already normalised."""
    field: str
    op: str
    value: object
    path: str = ""          # YAML path, for messages

    def describe(self) -> str:
        return f"{self.field} {self.op} {self.value!r}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Any:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Test | All | Any | Not


def tests_in(condition: Condition) -> Iterator[Test]:
    """Every leaf comparison of a condition, in order."""
    if isinstance(condition, Test):
        yield condition
    elif isinstance(condition, Not):
        yield from tests_in(condition.item)
    else:
        for item in condition.items:
            yield from tests_in(item)


def fields_in(condition: Condition) -> tuple[str, ...]:
    """The fields a condition reads, in order."""
    return tuple(dict.fromkeys(t.field for t in tests_in(condition)))


def conjuncts(condition: Condition) -> frozenset[Test] | None:
    """The set of tests that must all hold, when the condition is a plain conjunction.

    None when it has alternatives or negations, which the lint then treats as opaque.
    """
    if isinstance(condition, Test):
        return frozenset([condition.__class__(condition.field, condition.op, condition.value)])
    if isinstance(condition, All):
        parts = [conjuncts(item) for item in condition.items]
        if any(p is None for p in parts):
            return None
        return frozenset().union(*parts)
    return None
