"""The matrix compiled to durable_rules rulesets. The only module that imports durable_rules.

It respects what `reference/durable-rules-notes.md` measured:
- one Host per process, created lazily after fork, with its background threads disabled;
- evaluation is stateless: each event is asserted as a fact with an explicit id under one
  session and retracted afterwards, so no session slots or memory accumulate per ticket;
- text patterns are matched with Python's `re` and posted as booleans, because `$mt` misses
  matches with alternation; lists are trimmed to the values the matrix mentions and only the
  fields the matrix tests are posted, which keeps every message far below 255 properties;
- rules are split into rulesets of at most RULES_PER_RULESET, below the sizes that fail to compile,
  grouped by the event kinds they can match, and an event is asserted only into the rulesets
  with a rule for its kind;
- fired rules are read from the engine's action queue directly instead of running a Python
  callback per rule (the dominant cost), so actions do no I/O at all: they only name the rule.

Per event, the Python side is one generated function (see `codegen`) that reads the fields and
writes the message's JSON text directly; it searches a text pattern only when some rule could
still use it.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import re
import threading
from collections.abc import Callable

import durable_rules_engine
from durable import engine as durable_engine

from ..domain.conditions import All, Any, Condition, Not, Test, tests_in
from ..domain.errors import EscalatorError, Problem
from ..domain.fields import FIELDS, LIST
from ..domain.matrix import Matrix, Rule
from ..domain.ticket import EventKind, TicketEvent, TicketState
from .bykind import rules_by_kind
from .codegen import Source
from .prefilter import prefiltered

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

    At every alpha node a message reaches, the engine looks up each of the message's
    properties, so messages are kept small: a flag or pattern is posted only when true (unless
    some rule tests it for false), and a list only when it holds a value some rule tests. A test
    on a property the message lacks fails, as the absent value would.
    """

    def __init__(self, matrix: Matrix):
        self.rules = matrix.rules
        tests = [t for rule in matrix.rules for t in tests_in(rule.when)]
        self.fields = list(dict.fromkeys(t.field for t in tests))
        self.patterns = {}
        self._pattern_rules: dict[tuple[str, str], list[Rule]] = {}
        for rule in matrix.rules:
            for t in tests_in(rule.when):
                if t.op == "matches":
                    self.patterns.setdefault((t.field, t.value), f"rx{len(self.patterns)}")
                    self._pattern_rules.setdefault((t.field, t.value), []).append(rule)
        self.tested_false: set[str] = set()
        self.list_values: dict[str, set] = {}
        for t in tests:
            if t.op in ("contains", "contains_any"):
                self.list_values.setdefault(t.field, set()).update(t.value if t.op == "contains_any" else (t.value,))
        self.scalars = list(dict.fromkeys(t.field for t in tests if FIELDS[t.field].kind != LIST
                                          and t.op not in ("matches", "exists")))
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

    def boolean(self, name: str, value: bool) -> dict:
        """A test of a flag or pattern property; only those some rule tests for false are posted
        when false, the rest only when true."""
        if not value:
            self.tested_false.add(name)
        return {name: value}

    @property
    def property_count(self) -> int:
        return len(self.fields) + len(self.scalars) + 2 * len(self.list_values) + len(self.patterns) + 2

    def message_function(self) -> Callable[[TicketEvent, TicketState, int], str]:
        """`message(event, state, id)`: the JSON text of the fact to assert, written by generated
        code (not through a dict and json.dumps) once every rule is compiled, since compiling
        decides which flags and patterns are posted."""
        source = Source()

        def key(name: str) -> str:     # `,"name":`, as a constant
            return source.constant(f",{_json(name)}:")

        body = [f"p = [{source.constant('{' + _json('sid') + ':' + _json(_SESSION) + ',' + _json('id') + ':')}, "
                "str(mid)]"]
        for f, name in self._presence:
            n = source.field(f)
            body.append(f"p += {key(name)}, ('true' if v{n} is not None else 'false')" if name in self.tested_false
                        else f"if v{n} is not None: p += {key(name)}, 'true'")
        for f in self.scalars:
            n = source.field(f)
            body.append(f"if v{n} is not None: p += {key(prop(f))}, J(v{n})")
        list_flags = dict(self._list_flags)
        for f, wanted in self.list_values.items():
            n = source.field(f)
            body += [f"w{n} = [x for x in v{n} if x in {source.constant(frozenset(wanted))}] if v{n} else None",
                     f"if w{n}: p += {key(prop(f))}, '[', ','.join(map(J, w{n})), ']'"]
            if f in list_flags:
                body.append(f"p += {key(list_flags[f])}, ('true' if w{n} else 'false')")
        for (f, pattern), name in self.patterns.items():
            found = source.test(Test(f, "matches", pattern), prefiltered(pattern))
            guard = self._guard(source, (f, pattern))
            if name in self.tested_false:
                posted = f"p += {key(name)}, ('true' if {found} else 'false')"
                body.append(posted if guard is None else f"if {guard}: {posted}")
            else:
                body.append(f"if {found if guard is None else f'{guard} and {found}'}: p += {key(name)}, 'true'")
        body.append("p.append('}')")
        body.append("return ''.join(p)")
        return source.function("message(E, S, mid)", body, {"J": _json})

    def _guard(self, source: Source, pattern: tuple[str, str]) -> str | None:
        """When a pattern can decide a rule: some rule using it has all its other top-level tests
        true. Otherwise the pattern is neither searched nor posted, which cannot change a result,
        as every rule using it fails anyway. None: the pattern is always searched.

        Searching text is the dearest part of a message, and those other tests are cheap.
        """
        alternatives = []
        for rule in self._pattern_rules[pattern]:
            conjuncts = rule.when.items if isinstance(rule.when, All) else (rule.when,)
            needed = [source.test(c) for c in conjuncts if isinstance(c, Test) and c.op != "matches"]
            if not needed:
                return None
            alternatives.append("(" + " and ".join(needed) + ")")
        return "(" + " or ".join(dict.fromkeys(alternatives)) + ")"


# One value as JSON, without ASCII escaping like the durable package's own json.dumps; a string,
# the common case, takes the encoder's fast path.
_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def prop(field: str) -> str:
    return re.sub(r"\W", "_", field)


class DurableBackend:
    def __init__(self, matrix: Matrix):
        problems = limit_problems(matrix)
        if problems:
            raise EngineLimitError(problems)
        self.rules = matrix.rules
        self.layout = _Layout(matrix)
        conditions = [self.compile(rule.when) for rule in self.rules]
        self._message = self.layout.message_function()
        self.host = _process_host()
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.handles = []
        by_kind: dict[EventKind, list[int]] = {kind: [] for kind in EventKind}
        for chunk in _chunks(self.rules):
            handle = self._register({f"r{i}": {"all": [{"m": conditions[i]}], "run": _name_only} for i in chunk},
                                    chunk)
            self.handles.append(handle)
            for kind, kind_rules in rules_by_kind(tuple(self.rules[i] for i in chunk)).items():
                if kind_rules:
                    by_kind[kind].append(handle)
        # A ruleset none of whose rules can match an event's kind is not asked.
        self._handles_by_kind = by_kind

    def _register(self, definition: dict, chunk: list[int]) -> int:
        # Ruleset names are never reused: a Host cannot drop a ruleset, so a reload adds new ones.
        name = f"escalator{next(_ruleset_numbers)}"
        try:
            self.host.set_rulesets({name: copy.deepcopy(definition)})
        except Exception as exc:    # the C compiler reports only a numeric code
            raise EngineLimitError([Problem(
                f"durable_rules could not compile rules {_ranges(chunk)}: {exc}",
                fix="simplify the largest conditions, or run with ESCALATOR_ENGINE=python")]) from None
        return self.host.get_ruleset(name)._handle

    def matching(self, event, state):
        handles = self._handles_by_kind.get(event.kind, self.handles)
        with self._lock:
            text = self._message(event, state, next(self._ids))
            fired = [i for handle in handles for i in _fired(handle, text)]
        if not fired:
            return fired
        # A rule whose `any` holds on several branches is activated once per branch.
        return [self.rules[i] for i in sorted(set(fired))]

    def compile(self, condition: Condition, negate: bool = False) -> dict:
        if isinstance(condition, Not):
            return self.compile(condition.item, not negate)
        if isinstance(condition, (All, Any)):
            conjunction = isinstance(condition, All) != negate
            items = condition.items
            if conjunction and not negate:
                # The engine tries a conjunction's tests in order, each only on the messages the
                # ones before let through: the rarest first.
                items = sorted(items, key=_selectivity)
            parts = [self.compile(c, negate) for c in items]
            return parts[0] if len(parts) == 1 else {"$and" if conjunction else "$or": parts}
        return self._test(condition, negate)

    def _test(self, test: Test, negate: bool) -> dict:
        p, v, op = prop(test.field), test.value, test.op

        def has():
            return self.layout.flag("has", test.field)

        def absent_or(flag: str, condition: dict) -> dict:
            return {"$or": [self.layout.boolean(flag, False), condition]}

        if op == "matches":
            return self.layout.boolean(self.layout.patterns[(test.field, v)], not negate)
        if op == "exists":
            return self.layout.boolean(has(), v != negate)
        if op in ("in", "not_in"):
            inner = _any([{p: x} for x in v])
            return inner if (op == "in") != negate else absent_or(has(), _all([_neq(p, x) for x in v]))
        if op in ("contains", "contains_any"):
            values = v if op == "contains_any" else (v,)
            if not negate:
                return _any([{"$iany": {p: {"$i": x}}} for x in values])
            none_of = _all([{"$iall": {p: {"$neq": {"$i": x}}}} for x in values])
            return absent_or(self.layout.flag("hasv", test.field), none_of)
        if op in ("eq", "neq"):
            return {p: v} if (op == "eq") != negate else absent_or(has(), _neq(p, v))
        flipped = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
        if negate:
            return absent_or(has(), {f"${flipped[op]}": {p: v}})
        return {f"${op}": {p: v}}


_SELECTIVITY = {"matches": 0, "eq": 1, "in": 2, "contains": 3, "contains_any": 3}


def _selectivity(condition: Condition) -> int:
    """Tests that rarely hold, or test a property rarely posted, first: a pattern is posted only
    when it matched; a comparison with one value holds more rarely than one with several."""
    return _SELECTIVITY.get(condition.op, 4) if isinstance(condition, Test) else 5


def _chunks(rules: tuple[Rule, ...]) -> list[list[int]]:
    """Rule indexes split into rulesets of at most RULES_PER_RULESET, rules that can match the
    same event kinds kept together so that an event asks as few rulesets as possible."""
    kinds = {i: set() for i in range(len(rules))}
    for kind, decided in rules_by_kind(rules).items():
        for i, _ in decided:
            kinds[i].add(kind.value)
    order = sorted(kinds, key=lambda i: (-len(kinds[i]), sorted(kinds[i]), i))
    return [sorted(order[start:start + RULES_PER_RULESET]) for start in range(0, len(order), RULES_PER_RULESET)]


def _ranges(indexes: list[int]) -> str:
    """`0-99` for a contiguous chunk of rule numbers, else the numbers themselves."""
    if indexes == list(range(indexes[0], indexes[-1] + 1)):
        return f"{indexes[0]}-{indexes[-1]}"
    return ", ".join(map(str, indexes))


def _name_only(c):
    """Never called: fired rules are read from the action queue without running callbacks."""


_assert_fact = durable_rules_engine.assert_fact
_retract_fact = durable_rules_engine.retract_fact
_first_action = durable_rules_engine.start_action_for_state
_next_action = durable_rules_engine.complete_and_start_action


def _fired(handle: int, message: str) -> list[int]:
    """Assert one fact, collect the numbers of the rules it fired, then retract it."""
    result = _assert_fact(handle, message)
    fired = []
    if result[0] != _NOT_HANDLED:
        state = result[1]
        first = _first_action(handle, state)
        action = first[1] if first else None
        while action:
            # `{"r12": {"m": {...the whole fact...}}}` -> 12, without parsing the fact back.
            fired.append(int(action[3:action.index('"', 3)]))
            action = _next_action(handle, state)
    _retract_fact(handle, message)
    return fired


def _neq(p, v) -> dict:
    return {"$neq": {p: v}}


def _any(parts):
    return parts[0] if len(parts) == 1 else {"$or": parts}


def _all(parts):
    return parts[0] if len(parts) == 1 else {"$and": parts}
