"""`escalator check` beyond validity: what is legal but almost certainly not what the admin meant,
and what the chosen engine cannot run."""
from __future__ import annotations

from collections import defaultdict
from itertools import combinations

from jinja2 import TemplateError

from ..domain.conditions import conjuncts
from ..domain.durations import format_duration
from ..domain.errors import Problem
from ..domain.matrix import Matrix, Rule
from . import templates
from .loader import MatrixSource

PUBLIC_CHANNELS = {"ticket_comment", "slack", "teams", "statuspage", "webhook"}
_TIMER_ORDER = ("ack", "plan", "rca")


def lint(matrix: Matrix, source: MatrixSource) -> list[Problem]:
    file = source.doc.file if source.doc else ""
    problems = (_shadowed(matrix) + _unreachable(matrix) + _unowned_levels(matrix) + _timer_order(matrix)
                + _unstoppable_timers(matrix) + _overlapping_exceptions(matrix) + _sensitive_on_public(matrix)
                + _template_renders(matrix, source))
    for p in problems:
        p.file = p.file or file
        if source.doc and p.path and p.line is None:
            p.line = source.doc.line(_path_tuple(p.path))
    return problems


def _warn(message, path="", fix="") -> Problem:
    return Problem(message, path=path, fix=fix, severity="warning")


def _error(message, path="", fix="") -> Problem:
    return Problem(message, path=path, fix=fix)


# -- triggers --------------------------------------------------------------------------------

def _dominates(a: Rule, b: Rule, matrix: Matrix) -> bool:
    """Whether everything `b` decides, `a` already decides at least as strongly."""
    sev = {s.name: s.rank for s in matrix.severities}
    lvl = {lv.id: lv.rank for lv in matrix.levels}
    return ((not b.then.severity or (a.then.severity and sev[a.then.severity] <= sev[b.then.severity]))
            and (not b.then.level or (a.then.level and lvl[a.then.level] >= lvl[b.then.level]))
            and (not b.then.owner or b.then.owner == a.then.owner)
            and set(b.then.labels) <= set(a.then.labels)
            and {t.name for t in b.then.add_timers} <= {t.name for t in a.then.add_timers})


def _shadowed(matrix: Matrix) -> list[Problem]:
    problems = []
    rules = matrix.triggers
    for i, b in enumerate(rules):
        need_b = conjuncts(b.when)
        for j, a in enumerate(rules):
            need_a = conjuncts(a.when)
            if i == j or need_a is None or need_b is None or not need_a <= need_b:
                continue
            if need_a == need_b and j > i:
                continue    # identical conditions: report only the later rule
            if _dominates(a, b, matrix):
                problems.append(_warn(
                    f"trigger {b.name!r} is shadowed by {a.name!r}: every ticket it matches also matches "
                    f"{a.name!r}, which already decides as much, so it never changes a decision",
                    b.path, f"remove it, or make it decide more (e.g. a higher level) than {a.name!r}"))
                break
    return problems


def contradiction(rule: Rule) -> str:
    """Why the rule's conjunction can never hold, or '' if it can (as far as syntax shows)."""
    tests = conjuncts(rule.when)
    if not tests:
        return ""
    by_field = defaultdict(list)
    for t in tests:
        by_field[t.field].append(t)
    for field, group in by_field.items():
        allowed = None
        for t in group:
            values = {t.value} if t.op == "eq" else set(t.value) if t.op == "in" else None
            if values is not None:
                allowed = values if allowed is None else allowed & values
        excluded = {t.value for t in group if t.op == "neq"} | {
            v for t in group if t.op == "not_in" for v in t.value}
        if allowed is not None and not (allowed - excluded):
            return f"{field} cannot satisfy {' and '.join(t.describe() for t in group)}"
        absent = any(t.op == "exists" and t.value is False for t in group)
        if absent and any(t.op not in ("exists", "neq", "not_in") for t in group):
            return f"{field} must be absent and present at once"
    return ""


def _unreachable(matrix: Matrix) -> list[Problem]:
    return [_warn(f"{rule.kind} {rule.name!r} can never match: {why}", rule.path,
                  "fix the condition; two `eq` tests on one field need `any:` between them")
            for rule in matrix.rules if (why := contradiction(rule))]


def _overlapping_exceptions(matrix: Matrix) -> list[Problem]:
    problems = []
    for a, b in combinations(matrix.exceptions, 2):
        both = (conjuncts(a.when) or frozenset()) | (conjuncts(b.when) or frozenset())
        if contradiction(Rule("both", "exception", _all(both))) if both else False:
            continue
        clashes = [f for f in ("severity", "level", "owner")
                   if getattr(a.then, f) and getattr(b.then, f) and getattr(a.then, f) != getattr(b.then, f)]
        if clashes:
            problems.append(_warn(
                f"exceptions {a.name!r} and {b.name!r} can both match one ticket and set "
                f"{', '.join(clashes)} differently; {a.name!r}, listed first, wins",
                b.path, "make their conditions exclusive, or order them on purpose and say why in a comment"))
    return problems


def _all(tests):
    from ..domain.conditions import All
    return All(tuple(sorted(tests, key=lambda t: (t.field, t.op, str(t.value)))))


# -- levels, timers, communications -----------------------------------------------------------

def _unowned_levels(matrix: Matrix) -> list[Problem]:
    return [_error(f"level {lv.id} ({lv.name}) has no owner", f"levels.{lv.id}",
                   "every escalation needs a named owner: add `owner: <team or person>`")
            for lv in matrix.levels if lv.owner is None]


def _timer_order(matrix: Matrix) -> list[Problem]:
    problems = []
    for sev in matrix.severities:
        spec = matrix.timers.get(sev.name)
        if spec is None:
            problems.append(_warn(f"severity {sev.name} has no timers", "timers",
                                  f"add `{sev.name}: {{ack: ..., calendar: ...}}` under timers"))
            continue
        durations = {t.name: t.duration for t in spec.timers}
        present = [n for n in _TIMER_ORDER if n in durations]
        for earlier, later in zip(present, present[1:], strict=False):
            if durations[earlier] > durations[later]:
                problems.append(_warn(f"{sev.name}: {earlier} ({durations[earlier]}) is longer than {later} "
                                      f"({durations[later]})", f"timers.{sev.name}",
                                      f"{earlier} comes before {later}; shorten {earlier} or lengthen {later}"))
    ordered = [s for s in matrix.severities if s.name in matrix.timers]
    for more, less in zip(ordered, ordered[1:], strict=False):
        for a in matrix.timers[more.name].timers:
            b = next((t for t in matrix.timers[less.name].timers if t.name == a.name), None)
            if b and a.duration > b.duration:
                problems.append(_warn(
                    f"{more.name}'s {a.name} timer ({a.duration}) is longer than {less.name}'s ({b.duration}), "
                    f"the next severity down", f"timers.{more.name}.{_yaml_key(a.name)}",
                    f"a more severe ticket should not get more time; shorten {more.name}.{_yaml_key(a.name)}"))
    return problems


def _unstoppable_timers(matrix: Matrix) -> list[Problem]:
    """A timer that no stop rule can end misses its target on every ticket that starts it, whatever
    the team does: the figure says nothing and the breach pages someone for nothing."""
    stoppers: dict[str, list[Rule]] = defaultdict(list)
    for rule in matrix.stops:
        for name in rule.stops:
            stoppers[name].append(rule)
    on_resolve = next((r.name for r in matrix.stops if _on_resolve(r) and not contradiction(r)), "")
    problems = []
    for name, (started_by, path, duration) in started_timers(matrix).items():
        if any(not contradiction(r) for r in stoppers.get(name, ())):
            continue
        dead = [r.name for r in stoppers.get(name, ())]
        why = (f"the only stop rules that list it ({', '.join(map(repr, dead))}) can never match" if dead
               else "no stop rule lists it" + ("" if on_resolve else ", and nothing stops it on resolve"))
        also = f", or add it to the timers of {on_resolve!r} if resolving the ticket meets it" if on_resolve else ""
        problems.append(_error(
            f"timer {name!r} (started by {started_by}) can never be stopped: {why}, so it misses its "
            f"{duration} target on every ticket that starts it", path,
            f"add a rule under stop_timers whose `timers` list names {name}, with a `when` for what meets it, "
            f"e.g. a label or an agent's note recording it{also}"))
    return problems


def started_timers(matrix: Matrix) -> dict[str, tuple[str, str, str]]:
    """Each timer the matrix can start: (what starts it, the YAML path of the first place, its target)."""
    found: dict[str, tuple[list[str], str, dict[str, None]]] = {}

    def add(name, who, path, duration):
        entry = found.setdefault(name, ([], path, {}))
        entry[0].append(who)
        entry[2][format_duration(duration)] = None
    for sev in matrix.severities:
        spec = matrix.timers.get(sev.name)
        for t in spec.timers if spec else ():
            add(t.name, f"severity {sev.name}", f"timers.{sev.name}.{_yaml_key(t.name)}", t.duration)
    for rule in matrix.exceptions + matrix.triggers:
        for t in rule.then.add_timers:
            add(t.name, f"{rule.kind} {rule.name!r}", f"{rule.path}.then.add_timers.{t.name}", t.duration)
    return {name: (", ".join(who), path, "/".join(targets))
            for name, (who, path, targets) in found.items()}


def _on_resolve(rule: Rule) -> bool:
    return any(t.field == "event" and t.op == "eq" and t.value == "resolved" for t in conjuncts(rule.when) or ())


def _yaml_key(timer: str) -> str:
    return "update_every" if timer == "update" else timer


def _sensitive_on_public(matrix: Matrix) -> list[Problem]:
    problems = []
    for c in matrix.communications:
        if c.sensitive and c.channel in PUBLIC_CHANNELS:
            problems.append(_error(
                f"a sensitive message ({c.template}) is sent on the public channel {c.channel}",
                f"communications.{c.level}", "sensitive messages only go to internal_note or email"))
    return problems


def _template_renders(matrix: Matrix, source: MatrixSource) -> list[Problem]:
    problems = []
    for c in matrix.communications:
        try:
            templates.render_sample(source.templates_dir, c.template, templates.sample_context(matrix, c.level))
        except TemplateError as exc:
            problems.append(_error(f"template {c.template} does not render: {exc}",
                                   f"communications.{c.level}",
                                   "use only the names listed in the README's template context section"))
    return problems


def _path_tuple(text: str) -> tuple:
    from .parse import _split_path
    return tuple(_split_path(text))
