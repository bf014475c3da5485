"""The matrix compiled to durable_rules rulesets. The only module that imports durable_rules.

It respects what `reference/durable-rules-notes.md` measured:
- one Host per process, created lazily after fork, with its background threads disabled;
- evaluation is stateless: each event is asserted as a fact with an explicit id under one
  session and retracted afterwards, so no session slots or memory accumulate per ticket;
- text patterns are matched with Python's `re` and posted as booleans, because `$mt` misses
  matches with alternation; lists are trimmed to the values the matrix mentions and only the
  fields the matrix tests are posted, which keeps every message far below 255 properties;
- rules are split into rulesets of at most RULES_PER_RULESET, below the sizes that fail to compile;
- fired rules are read from the engine's action queue directly instead of running a Python
  callback per rule (the dominant cost), so actions do no I/O at all: they only name the rule.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import re
import threading

import durable_rules_engine
from durable import engine as durable_engine

from ..domain.conditions import All, Any, Condition, Not, Test, tests_in
from ..domain.errors import EscalatorError, Problem
from ..domain.fields import FIELDS, LIST, read_facts
from ..domain.matrix import Matrix
from .prefilter import PatternSet

RULES_PER_RULESET = 100
MAX_PROPERTIES = 250
MAX_RULES = 2000
_SESSION = "escalator"
_NOT_HANDLED = 1


class _QuietHost(durable_engine.Host):
    """A Host without the dispatch threads: we run every action synchronously."""

    def _run(self):
        pass


_host_lock = threading.Lock()
_host: tuple[int, _QuietHost] | None = None
_ruleset_numbers = itertools.count()


def _process_host() -> _QuietHost:
    """The one Host of this process; a new one after fork, since threads do not survive it."""
    global _host
    with _host_lock:
        if _host is None or _host[0] != os.getpid():
            _host = (os.getpid(), _QuietHost())
        return _host[1]


class EngineLimitError(EscalatorError):
    """The matrix is past what durable_rules can compile; `problems` says what to change."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(map(str, problems)))


def limit_problems(matrix: Matrix) -> list[Problem]:
    """What in this matrix durable_rules cannot take, each with the way out."""
    layout = _Layout(matrix)
    problems = []
    if len(matrix.rules) > MAX_RULES:
        problems.append(Problem(
            f"{len(matrix.rules)} rules exceed the durable engine's limit of {MAX_RULES}",
            fix="merge triggers that share an outcome, or run with ESCALATOR_ENGINE=python"))
    if layout.property_count > MAX_PROPERTIES:
        problems.append(Problem(
            f"the matrix tests {layout.property_count} distinct fields and patterns; durable_rules "
            f"accepts at most {MAX_PROPERTIES} per event",
            fix="combine text patterns into fewer `matches` tests, or run with ESCALATOR_ENGINE=python"))
    return problems


class _Layout:
    """How matrix fields map onto durable message properties.

    Absence is posted as explicit `has_<field>` booleans rather than tested with `$nex`:
    in 2.0.28 a `$nex` inside `$or` fires when another rule of the ruleset fires, and `$iall`
    is false on an empty list, so "does not contain" needs to know the list is empty.
    """

    def __init__(self, matrix: Matrix):
        tests = [t for rule in matrix.rules for t in tests_in(rule.when)]
        self.fields = list(dict.fromkeys(t.field for t in tests))
        self.patterns = {}
        for t in tests:
            if t.op == "matches":
                self.patterns.setdefault((t.field, t.value), f"rx{len(self.patterns)}")
        by_field: dict[str, dict[str, str]] = {}
        for (f, p), name in self.patterns.items():
            by_field.setdefault(f, {})[name] = p
        self.pattern_sets = [(f, PatternSet(patterns)) for f, patterns in by_field.items()]
        self.list_values: dict[str, set] = {}
        for t in tests:
            if t.op in ("contains", "contains_any"):
                self.list_values.setdefault(t.field, set()).update(t.value if t.op == "contains_any" else (t.value,))
        self.scalars = list(dict.fromkeys(t.field for t in tests if FIELDS[t.field].kind != LIST
                                          and t.op not in ("matches", "exists")))
        # Property names are computed once: this runs for every event.
        self._scalar_props = [(f, prop(f)) for f in self.scalars]
        self._list_props = [(f, wanted, prop(f)) for f, wanted in self.list_values.items()]
        self.flags_used: set[str] = set()
        self._presence: list[tuple[str, str]] = []
        self._list_flags: list[tuple[str, str]] = []

    def flag(self, kind: str, field: str) -> str:
        """The name of a presence flag a compiled rule tests; only flags some rule tests are posted."""
        name = f"{kind}_{prop(field)}"
        if name not in self.flags_used:
            self.flags_used.add(name)
            (self._presence if kind == "has" else self._list_flags).append((field, name))
        return name

    @property
    def property_count(self) -> int:
        return len(self.fields) + len(self.scalars) + 2 * len(self.list_values) + len(self.patterns) + 2

    def message(self, event, state, message_id: int) -> dict:
        facts, raw = read_facts(self.fields, event, state)
        message = {"id": message_id, "sid": _SESSION}
        for f, name in self._presence:
            message[name] = f in facts
        for f, name in self._scalar_props:
            if f in facts:
                message[name] = facts[f]
        for f, wanted, name in self._list_props:
            message[name] = [v for v in facts.get(f, ()) if v in wanted]
        for f, name in self._list_flags:
            message[name] = bool(message[prop(f)])
        for f, patterns in self.pattern_sets:
            message.update(patterns.search(raw.get(f)))
        return message


def prop(field: str) -> str:
    return re.sub(r"\W", "_", field)


class DurableBackend:
    def __init__(self, matrix: Matrix):
        problems = limit_problems(matrix)
        if problems:
            raise EngineLimitError(problems)
        self.rules = matrix.rules
        self.layout = _Layout(matrix)
        self.host = _process_host()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.handles = [self._register(chunk_start) for chunk_start in range(0, len(self.rules), RULES_PER_RULESET)]

    def _register(self, start: int) -> int:
        definition = {f"r{i}": {"all": [{"m": self.compile(self.rules[i].when)}], "run": _name_only}
                      for i in range(start, min(start + RULES_PER_RULESET, len(self.rules)))}
        # Ruleset names are never reused: a Host cannot drop a ruleset, so a reload adds new ones.
        name = f"escalator{next(_ruleset_numbers)}"
        try:
            self.host.set_rulesets({name: copy.deepcopy(definition)})
        except Exception as exc:    # the C compiler reports only a numeric code
            raise EngineLimitError([Problem(
                f"durable_rules could not compile rules {start}-{start + len(definition) - 1}: {exc}",
                fix="simplify the largest conditions, or run with ESCALATOR_ENGINE=python")]) from None
        return self.host.get_ruleset(name)._handle

    def matching(self, event, state):
        with self._lock:
            text = json.dumps(self.layout.message(event, state, next(self._ids)), ensure_ascii=False)
            fired = {i for handle in self.handles for i in _fired(handle, text)}
        # A rule whose `any` holds on several branches is activated once per branch.
        return [self.rules[i] for i in sorted(fired)]

    def compile(self, condition: Condition, negate: bool = False) -> dict:
        if isinstance(condition, Not):
            return self.compile(condition.item, not negate)
        if isinstance(condition, (All, Any)):
            conjunction = isinstance(condition, All) != negate
            parts = [self.compile(c, negate) for c in condition.items]
            return parts[0] if len(parts) == 1 else {"$and" if conjunction else "$or": parts}
        return self._test(condition, negate)

    def _test(self, test: Test, negate: bool) -> dict:
        p, v, op = prop(test.field), test.value, test.op

        def has():
            return self.layout.flag("has", test.field)

        if op == "matches":
            return {self.layout.patterns[(test.field, v)]: not negate}
        if op == "exists":
            return {has(): v != negate}
        if op in ("in", "not_in"):
            inner = _any([{p: x} for x in v])
            return inner if (op == "in") != negate else _absent_or(has(), _all([_neq(p, x) for x in v]))
        if op in ("contains", "contains_any"):
            values = v if op == "contains_any" else (v,)
            if not negate:
                return _any([{"$iany": {p: {"$i": x}}} for x in values])
            none_of = _all([{"$iall": {p: {"$neq": {"$i": x}}}} for x in values])
            return _absent_or(self.layout.flag("hasv", test.field), none_of)
        if op in ("eq", "neq"):
            return {p: v} if (op == "eq") != negate else _absent_or(has(), _neq(p, v))
        flipped = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
        if negate:
            return _absent_or(has(), {f"${flipped[op]}": {p: v}})
        return {f"${op}": {p: v}}


def _name_only(c):
    """Never called: fired rules are read from the action queue without running callbacks."""


def _fired(handle: int, message: str) -> list[int]:
    """Assert one fact, collect the names of the rules it fired, then retract it."""
    result = durable_rules_engine.assert_fact(handle, message)
    fired = []
    if result[0] != _NOT_HANDLED:
        action = durable_rules_engine.start_action_for_state(handle, result[1])
        while action:
            fired.append(_rule_number(action[1]))
            following = durable_rules_engine.complete_and_start_action(handle, result[1])
            action = (None, following) if following else None
    durable_rules_engine.retract_fact(handle, message)
    return fired


def _rule_number(action: str) -> int:
    """`{"r12": {"m": {...the whole fact...}}}` -> 12, without parsing the fact back."""
    return int(action[3:action.index('"', 3)])


def _neq(p, v) -> dict:
    return {"$neq": {p: v}}


def _absent_or(flag: str, condition: dict) -> dict:
    return {"$or": [{flag: False}, condition]}


def _any(parts):
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _all(parts):
    return parts[0] if len(parts) == 1 else {"$and": parts}
