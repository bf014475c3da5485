"""The matrix compiled to Python functions: the reference the durable backend is tested against,
and the fallback for matrices past durable_rules' limits.

Each condition becomes a plain boolean expression, and all rules become one function per event
kind (see `bykind`), so an evaluation is a single call with short-circuiting `and`/`or` that
reads each field it needs once, into a local variable (see `codegen`). Cheap tests run before
text patterns, and a pattern's regex runs only when a word every match contains is in the text
(see `prefilter`).
"""
from __future__ import annotations

from collections.abc import Callable

from ..domain.conditions import All, Any, Condition, Not, Test
from ..domain.matrix import Matrix, Rule
from ..domain.ticket import EventKind
from .bykind import Decided, rules_for_kind
from .codegen import Source
from .prefilter import Prefiltered, prefiltered


class PythonBackend:
    def __init__(self, matrix: Matrix):
        self.rules = matrix.rules
        self._patterns: dict[str, Prefiltered] = {}     # shared by the functions of this matrix
        # Compiled on the first event of each kind: compiling takes far longer than evaluating.
        self._by_kind: dict[EventKind, Callable] = {}

    def matching(self, event, state) -> list[Rule]:
        function = self._by_kind.get(event.kind)
        if function is None:
            function = self._by_kind[event.kind] = self._compile(event.kind)
        return function(event, state)

    def _compile(self, kind) -> Callable:
        try:
            decided = rules_for_kind(self.rules, EventKind(kind))
        except ValueError:      # a kind the parsers never produce: nothing is decided in advance
            decided = list(enumerate(rule.when for rule in self.rules))
        return _Compiler(self._patterns).function(self.rules, decided)


def cost(condition: Condition) -> int:
    """A rough relative cost of evaluating a condition: a regex search dwarfs a comparison."""
    if isinstance(condition, Test):
        return 8 if condition.op == "matches" else 1
    if isinstance(condition, Not):
        return cost(condition.item)
    return sum(map(cost, condition.items))


class _Compiler:
    def __init__(self, patterns: dict[str, Prefiltered]):
        self.source = Source()
        self.patterns = patterns

    def function(self, rules: tuple[Rule, ...], decided: list[tuple[int, Decided]]):
        body = ["hits = []", "add = hits.append"]
        for i, when in decided:
            hit = f"add({self.source.constant(rules[i])})"
            body.append(hit if when is True else f"if {self.expression(when)}: {hit}")
        body.append("return hits")
        return self.source.function("matching(E, S)", body)

    def pattern(self, regex: str) -> Prefiltered:
        if regex not in self.patterns:
            self.patterns[regex] = prefiltered(regex)
        return self.patterns[regex]

    def expression(self, condition: Condition) -> str:
        if isinstance(condition, Not):
            return f"(not {self.expression(condition.item)})"
        if isinstance(condition, (All, Any)):
            joiner = " and " if isinstance(condition, All) else " or "
            # Conditions have no side effects, so the cheapest can short-circuit the rest.
            items = sorted(condition.items, key=cost)
            return "(" + joiner.join(self.expression(c) for c in items) + ")"
        return self.source.test(condition, self.pattern(condition.value) if condition.op == "matches" else None)
