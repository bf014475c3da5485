"""The matrix compiled to one Python function: the reference the durable backend is tested against,
and the fallback for matrices past durable_rules' limits.

Each condition becomes a plain boolean expression, and all rules become one function, so an
evaluation is a single call with short-circuiting `and`/`or` instead of a closure per test.
Values and patterns are passed in a constants table, never written into the source, so nothing a
matrix contains can change the generated code.
"""
from __future__ import annotations

import re

from ..domain.conditions import All, Any, Condition, Not, Test, fields_in
from ..domain.fields import read_facts
from ..domain.matrix import Matrix

_COMPARISONS = {
    "eq": "get({f}) == {v}",
    "neq": "get({f}) != {v}",
    "in": "get({f}) in {v}",
    "not_in": "get({f}) not in {v}",
    "contains": "{v} in get({f}, ())",
    "contains_any": "not {v}.isdisjoint(get({f}, ()))",
    "matches": "({f} in R and {v}.search(R[{f}]) is not None)",
    "gt": "({f} in F and F[{f}] > {v})",
    "gte": "({f} in F and F[{f}] >= {v})",
    "lt": "({f} in F and F[{f}] < {v})",
    "lte": "({f} in F and F[{f}] <= {v})",
}


class PythonBackend:
    def __init__(self, matrix: Matrix):
        self.rules = matrix.rules
        self.fields = list(dict.fromkeys(f for rule in matrix.rules for f in fields_in(rule.when)))
        self._matching = _Compiler().function([rule.when for rule in self.rules])

    def matching(self, event, state):
        facts, raw = read_facts(self.fields, event, state)
        return [self.rules[i] for i in self._matching(facts, raw)]


class _Compiler:
    def __init__(self):
        self.constants: list = []

    def function(self, conditions: list[Condition]):
        lines = ["def matching(F, R):", "    hits = []", "    get = F.get"]
        lines += [f"    if {self.expression(c)}: hits.append({i})" for i, c in enumerate(conditions)]
        lines.append("    return hits")
        namespace = {"K": self.constants}
        exec(compile("\n".join(lines), "<matrix>", "exec"), namespace)
        return namespace["matching"]

    def constant(self, value) -> str:
        self.constants.append(value)
        return f"K[{len(self.constants) - 1}]"

    def expression(self, condition: Condition) -> str:
        if isinstance(condition, Not):
            return f"(not {self.expression(condition.item)})"
        if isinstance(condition, (All, Any)):
            joiner = " and " if isinstance(condition, All) else " or "
            return "(" + joiner.join(self.expression(c) for c in condition.items) + ")"
        return self.test(condition)

    def test(self, test: Test) -> str:
        f = self.constant(test.field)
        if test.op == "exists":
            return f"({f} in F)" if test.value else f"({f} not in F)"
        value = test.value
        if test.op == "matches":
            value = re.compile(value)
        elif test.op in ("in", "not_in", "contains_any"):
            value = frozenset(value)
        return _COMPARISONS[test.op].format(f=f, v=self.constant(value))
