"""The matrix's health: how often each rule fires and which never do, what `escalator check` finds,
owners nobody can reach or who carry too much, level hand-offs no timer drives, timer targets that
history does not support, the exceptions used most, and one score.

Pure: plain facts in (read by `store.audit_sql`), the loaded matrix and its lint findings, JSON-ready
dicts out. Usage figures cover the 30 days before `now`.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from .comms.recipients import PARTY_CHANNELS, resolve
from .domain.conditions import conjuncts
from .domain.durations import format_duration
from .domain.errors import Problem
from .domain.matrix import Matrix, Rule
from .domain.timers import STOPPED, Timer
from .matrix.lint import contradiction

WINDOWS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
PERIOD = WINDOWS["30d"]
UNREALISTIC_MISS_RATE = 0.25     # a target missed this often is one the team cannot meet as staffed
SUPPORTED_SHARE = 0.9            # the target history supports: the time 90% of these timers were met in
MIN_SAMPLE = 10                  # fewer decided timers say nothing about a target
OVERLOAD_FACTOR = 2              # an owner with more than twice the median owner's open tickets ...
OVERLOAD_MIN_OPEN = 5            # ... and at least this many is overloaded
CLOCK_EVENTS = ("sla_breached", "sla_warning", "communication_stalled")

# Working seconds between two instants on one of the matrix's calendars.
Spent = Callable[[str, datetime, datetime], int]


@dataclass(frozen=True)
class RuleCount:
    """How often one rule appeared in decisions' traces, and on how many tickets in 30 days."""
    rule: str
    kind: str
    category: str = ""
    last_24h: int = 0
    last_7d: int = 0
    last_30d: int = 0
    tickets_30d: int = 0
    last_at: datetime | None = None


@dataclass(frozen=True)
class TimerFact:
    """A deadline timer started in the period; `met_at` is when a stop rule ended it after a breach."""
    severity: str
    timer: Timer
    met_at: datetime | None = None


@dataclass(frozen=True)
class OwnerLoad:
    owner: str
    tickets_30d: int = 0        # tickets the owner held that changed in the 30 days
    open_now: int = 0           # tickets the owner holds whose last event is not a resolution


@dataclass(frozen=True)
class AuditFacts:
    now: datetime
    rules: Sequence[RuleCount] = ()
    timers: Sequence[TimerFact] = ()
    owners: Sequence[OwnerLoad] = ()
    log_entries: int = 0        # decisions logged in the 30 days: none means usage cannot be judged
    simulated: bool = False


@dataclass(frozen=True)
class Reach:
    """What the current settings can send on: SMTP for email, the Slack and Teams names with a webhook."""
    email: bool = False
    slack: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    def delivers(self, channel: str, address: str) -> bool:
        return self.email if channel == "email" else address in getattr(self, channel, ())


def audit(matrix: Matrix, findings: Sequence[Problem], facts: AuditFacts, reach: Reach, spent: Spent) -> dict:
    """Every figure of the audit page, and the health score they add up to."""
    loads = {o.owner: o for o in facts.owners}
    report = {
        "generated_at": facts.now.isoformat(), "matrix_version": matrix.version, "simulated": facts.simulated,
        "log_entries_30d": facts.log_entries,
        "rules": rule_activity(matrix, facts),
        "findings": [_finding(p) for p in findings],
        "owners": owners(matrix, reach, loads),
        "handoffs": handoffs(matrix),
        "timers": timer_targets(facts.timers, spent, facts.now),
        "exceptions": exceptions_used(matrix, facts.rules),
    }
    report["health"] = health(report)
    return report


# -- rules ---------------------------------------------------------------------------------------

def rule_activity(matrix: Matrix, facts: AuditFacts) -> dict:
    """Each rule's firings in the last 24 h, 7 d and 30 d; the rules that never fired in 30 days."""
    counts = {c.rule: c for c in facts.rules}
    rows = [_rule_row(rule, counts.get(rule.name)) for rule in matrix.rules]
    judged = facts.log_entries > 0
    return {"rows": rows, "never_fired": [r["rule"] for r in rows if judged and not r["last_30d"]],
            "judged": judged}


def _rule_row(rule: Rule, count: RuleCount | None) -> dict:
    count = count or RuleCount(rule.name, rule.kind)
    return {"rule": rule.name, "kind": rule.kind, "category": rule.category, "path": rule.path,
            "last_24h": count.last_24h, "last_7d": count.last_7d, "last_30d": count.last_30d,
            "tickets_30d": count.tickets_30d, "last_at": count.last_at.isoformat() if count.last_at else None}


def exceptions_used(matrix: Matrix, counts: Iterable[RuleCount]) -> list[dict]:
    """The matrix's exceptions, the most used first (by tickets in 30 days)."""
    by_name = {c.rule: c for c in counts}
    rows = [{"rule": e.name, "category": e.category, "tickets_30d": by_name[e.name].tickets_30d if e.name in by_name
             else 0, "last_30d": by_name[e.name].last_30d if e.name in by_name else 0} for e in matrix.exceptions]
    return sorted(rows, key=lambda r: (-r["tickets_30d"], -r["last_30d"], r["rule"]))


def _finding(p: Problem) -> dict:
    return {"kind": _finding_kind(p.message), "severity": p.severity, "message": p.message, "path": p.path,
            "line": p.line, "fix": p.fix}


def _finding_kind(message: str) -> str:
    for words, kind in (("is shadowed by", "shadowed"), ("can never match", "unreachable"),
                        ("can never be stopped", "unstoppable timer")):
        if words in message:
            return kind
    return "other"


# -- owners --------------------------------------------------------------------------------------

def owner_names(matrix: Matrix) -> dict[str, list[str]]:
    """Everyone who can own a ticket, with where the matrix makes them owner."""
    found: dict[str, list[str]] = defaultdict(list)
    for level in matrix.levels:
        for name in sorted(level.owner.names()) if level.owner else ():
            found[name].append(f"level {level.id}")
    for rule in matrix.rules:
        if rule.then.owner:
            found[rule.then.owner].append(f"{rule.kind} {rule.name!r}")
    return dict(found)


def owners(matrix: Matrix, reach: Reach, loads: dict[str, OwnerLoad]) -> dict:
    """Each owner's addresses, whether the settings can reach them, their activity and load."""
    open_counts = [lo.open_now for lo in loads.values() if lo.open_now]
    typical = median(open_counts) if open_counts else 0
    rows = []
    for name, where in sorted(owner_names(matrix).items()):
        contacts = {ch: list(resolve(["owner"], ch, matrix, {}, owner=name).addresses) for ch in PARTY_CHANNELS}
        contacts = {ch: addresses for ch, addresses in contacts.items() if addresses}
        load = loads.get(name, OwnerLoad(name))
        rows.append({
            "owner": name, "name": _display(matrix, name), "owns_at": where, "contacts": contacts,
            "has_contact": bool(contacts),
            "reachable": any(reach.delivers(ch, a) for ch, addresses in contacts.items() for a in addresses),
            "tickets_30d": load.tickets_30d, "open_now": load.open_now, "active": load.tickets_30d > 0,
            "overloaded": load.open_now >= OVERLOAD_MIN_OPEN and load.open_now > OVERLOAD_FACTOR * typical})
    unknown = sorted(set(loads) - {r["owner"] for r in rows} - {""})
    return {"rows": rows, "median_open": typical, "not_in_matrix": unknown}


def _display(matrix: Matrix, name: str) -> str:
    party = matrix.parties.get(name)
    return party.display_name if party and party.display_name else name


# -- level hand-offs -----------------------------------------------------------------------------

def handoffs(matrix: Matrix) -> list[dict]:
    """For each move to the next level and each severity: the timers whose lapse makes it happen."""
    levels = sorted(matrix.levels, key=lambda lv: lv.rank)
    clock_rules = [r for r in matrix.triggers if r.then.level and not contradiction(r)]
    rows = []
    for lower, upper in zip(levels, levels[1:], strict=False):
        for sev in matrix.severities:
            timers = sorted({t for r in clock_rules if matrix.level_rank[r.then.level] >= upper.rank
                             for t in _timers_that_move(r, sev.name, matrix)})
            rows.append({"from": lower.id, "to": upper.id, "severity": sev.name, "timers": timers})
    return rows


def _timers_that_move(rule: Rule, severity: str, matrix: Matrix) -> set[str]:
    """The severity's timers whose breach or lapse makes `rule` hold (as far as its tests say)."""
    tests = conjuncts(rule.when)
    if tests is None:
        return set()        # alternatives or negations: not read as a clock rule
    by_field = defaultdict(list)
    for t in tests:
        by_field[t.field].append(t)
    events = _allowed(by_field.get("event", ()), set(CLOCK_EVENTS))
    spec = matrix.timers.get(severity)
    if not events or spec is None or not _allowed(by_field.get("current.severity", ()), {severity}):
        return set()
    timers = {t.name.casefold(): t for t in spec.timers}
    named = _allowed(by_field.get("timer", ()), set(timers))
    return {timers[n].name for n in named
            if (timers[n].recurring and "communication_stalled" in events)
            or (not timers[n].recurring and events & {"sla_breached", "sla_warning"})}


def _allowed(tests, values: set[str]) -> set[str]:
    """Which of `values` pass every eq/in/neq/not_in test (other operators are not narrowed)."""
    for t in tests:
        if t.op == "eq":
            values = values & {t.value}
        elif t.op == "in":
            values = values & set(t.value)
        elif t.op == "neq":
            values = values - {t.value}
        elif t.op == "not_in":
            values = values - set(t.value)
    return values


# -- timer targets -------------------------------------------------------------------------------

def timer_targets(facts: Iterable[TimerFact], spent: Spent, now: datetime) -> list[dict]:
    """Per timer and target: met, missed, the working time it took, and the target history supports."""
    groups: dict[tuple[str, int], list[TimerFact]] = defaultdict(list)
    for fact in facts:
        if not fact.timer.recurring:        # a cadence is judged by its lapses, not by one deadline
            groups[(fact.timer.name, fact.timer.seconds)].append(fact)
    return [_target_row(name, seconds, group, spent, now) for (name, seconds), group in sorted(groups.items())]


def _target_row(name: str, seconds: int, group: list[TimerFact], spent: Spent, now: datetime) -> dict:
    taken, met, missed, never = [], 0, 0, 0
    for fact in group:
        used, late = _time_to_meet(fact, spent), fact.timer.breached_at(now)
        if used is not None:
            taken.append(used)
        never += late and used is None
        missed += late
        met += not late and fact.timer.state == STOPPED
    decided = met + missed
    rate = missed / decided if decided else None
    supported = _supported(taken, never)
    return {"timer": name, "target_seconds": seconds, "target": _text(seconds),
            "severities": sorted({f.severity for f in group if f.severity}),
            "started": len(group), "met": met, "missed": missed, "never_met": never, "pending": len(group) - decided,
            "miss_rate": round(rate, 3) if rate is not None else None,
            "median": _text(int(median(taken))) if taken else None,
            "distribution": _distribution(taken, never, seconds),
            "supported_seconds": supported, "supported": _text(supported) if supported else None,
            "unrealistic": decided >= MIN_SAMPLE and rate is not None and rate >= UNREALISTIC_MISS_RATE}


def _text(seconds: int) -> str:
    return format_duration(timedelta(seconds=seconds))


def _time_to_meet(fact: TimerFact, spent: Spent) -> int | None:
    """Working seconds from start to the stop that met it; None if nothing has stopped it yet."""
    timer = fact.timer
    if timer.state == STOPPED and timer.stopped_at is not None:
        return timer.spent_seconds + spent(timer.calendar, timer.segment_start, timer.stopped_at)
    if fact.met_at is not None:     # met after its breach: waits on the customer are not subtracted here
        return spent(timer.calendar, timer.started_at, fact.met_at)
    return None


def _supported(taken: list[int], never: int) -> int | None:
    """The time SUPPORTED_SHARE of the timers were met in, rounded up; None when too few were met at all."""
    total = len(taken) + never
    if total < MIN_SAMPLE:
        return None
    index = math.ceil(SUPPORTED_SHARE * total) - 1
    ordered = sorted(taken)
    return _round_up(ordered[index]) if index < len(ordered) else None


def _round_up(seconds: int) -> int:
    for limit, step in ((2 * 3600, 300), (2 * 86400, 3600)):
        if seconds <= limit:
            return max(step, math.ceil(seconds / step) * step)
    return math.ceil(seconds / 86400) * 86400


BUCKETS = (("within half the target", 0.5), ("within the target", 1.0), ("up to 1.5×", 1.5),
           ("up to 2×", 2.0), ("later than 2×", math.inf))


def _distribution(taken: list[int], never: int, target: int) -> list[dict]:
    counts = dict.fromkeys((label for label, _ in BUCKETS), 0)
    for used in taken:
        counts[next(label for label, share in BUCKETS if used <= share * target)] += 1
    return [{"label": label, "count": n} for label, n in counts.items()] + [{"label": "not met yet", "count": never}]


# -- the score -----------------------------------------------------------------------------------

# (what, points per item, most points it can cost): the page prints this table as the formula.
PENALTIES = (
    ("check errors", 15, 45),
    ("check warnings", 5, 20),
    ("owners with no contact method", 10, 20),
    ("rules that never fired in 30 days", 2, 10),
    ("timer targets missed at least 25% of the time", 5, 20),
    ("overloaded owners", 5, 10),
    ("level hand-offs no timer drives (per severity)", 1, 5),
)
FORMULA = ("100 minus, for each line below, its points per item times the number of items, at most its cap; "
           "never below 0.")


def health(report: dict) -> dict:
    counts = {
        "check errors": sum(f["severity"] == "error" for f in report["findings"]),
        "check warnings": sum(f["severity"] != "error" for f in report["findings"]),
        "owners with no contact method": sum(not o["has_contact"] for o in report["owners"]["rows"]),
        "rules that never fired in 30 days": len(report["rules"]["never_fired"]),
        "timer targets missed at least 25% of the time": sum(t["unrealistic"] for t in report["timers"]),
        "overloaded owners": sum(o["overloaded"] for o in report["owners"]["rows"]),
        "level hand-offs no timer drives (per severity)": sum(not h["timers"] for h in report["handoffs"]),
    }
    lines = [{"what": what, "count": counts[what], "each": each, "cap": cap, "points": min(cap, each * counts[what])}
             for what, each, cap in PENALTIES]
    return {"score": max(0, 100 - sum(line["points"] for line in lines)), "formula": FORMULA, "lines": lines}
