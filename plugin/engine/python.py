"""The matrix compiled to Python predicates: the reference the durable backend is tested against,
and the fallback for matrices past durable_rules' limits."""
from __future__ import annotations

import re
from collections.abc import Callable

from ..domain.conditions import All, Any, Condition, Not, Test, fields_in
from ..domain.fields import read_facts
from ..domain.matrix import Matrix

Predicate = Callable[[dict, dict], bool]


class PythonBackend:
    def __init__(self, matrix: Matrix):
        self.rules = [(rule, compile_condition(rule.when)) for rule in matrix.rules]
        self.fields = list(dict.fromkeys(f for rule in matrix.rules for f in fields_in(rule.when)))

    def matching(self, event, state):
        facts, raw = read_facts(self.fields, event, state)
        return [rule for rule, holds in self.rules if holds(facts, raw)]


def compile_condition(condition: Condition) -> Predicate:
    if isinstance(condition, All):
        parts = [compile_condition(c) for c in condition.items]
        return lambda facts, raw: all(p(facts, raw) for p in parts)
    if isinstance(condition, Any):
        parts = [compile_condition(c) for c in condition.items]
        return lambda facts, raw: any(p(facts, raw) for p in parts)
    if isinstance(condition, Not):
        inner = compile_condition(condition.item)
        return lambda facts, raw: not inner(facts, raw)
    return _compile_test(condition)


def _compile_test(test: Test) -> Predicate:
    f, v = test.field, test.value
    if test.op == "matches":
        pattern = re.compile(v)
        return lambda facts, raw: f in raw and pattern.search(raw[f]) is not None
    if test.op == "exists":
        return lambda facts, raw: (f in facts) == v
    if test.op in ("gt", "gte", "lt", "lte"):
        compare = {"gt": float.__gt__, "gte": float.__ge__, "lt": float.__lt__, "lte": float.__le__}[test.op]
        return lambda facts, raw: f in facts and compare(float(facts[f]), float(v))
    return _COMPARISONS[test.op](f, v)


_COMPARISONS = {
    "eq": lambda f, v: lambda facts, raw: facts.get(f) == v,
    "neq": lambda f, v: lambda facts, raw: facts.get(f) != v,
    "in": lambda f, v: lambda facts, raw: facts.get(f) in v,
    "not_in": lambda f, v: lambda facts, raw: facts.get(f) not in v,
    "contains": lambda f, v: lambda facts, raw: v in facts.get(f, ()),
    "contains_any": lambda f, v: lambda facts, raw: any(x in facts.get(f, ()) for x in v),
}
