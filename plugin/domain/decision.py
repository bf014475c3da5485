"""Turn the rules that matched an event into one decision, and say why.

Escalation only goes up on its own: severity and level are the most severe of what the
ticket already has and what matched; lowering them is a human's call.
"""
from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from .fields import FIELDS
from .matrix import Matrix, Rule, TimerSpec
from .ticket import EventKind, TicketEvent, TicketState

_TRACE_VALUE_LIMIT = 200
_READ = {name: f.read for name, f in FIELDS.items()}
# Enum attribute lookups are slow and this runs for every event.
_RESOLVED, _STALLED, _PRIORITY_CHANGED = EventKind.RESOLVED, EventKind.COMMUNICATION_STALLED, EventKind.PRIORITY_CHANGED
_WARNING, _REOPENED = EventKind.SLA_WARNING, EventKind.REOPENED


@dataclass(frozen=True)
class Fired:
    """One rule that matched, the field values it matched on, and what it decided."""
    rule: str
    kind: str
    category: str = ""
    values: tuple[tuple[str, str], ...] = ()
    decided: tuple[str, ...] = ()


@dataclass(frozen=True)
class Notification:
    situation: str
    channel: str
    template: str
    recipients: tuple[str, ...]
    sensitive: bool = False
    send: str = "auto"              # auto | draft | draft_then_auto
    after: timedelta | None = None  # draft_then_auto: how long the owner has to act


@dataclass(frozen=True)
class Decision:
    severity: str
    level: str
    owner: str
    assignee: str
    priority: str
    labels: tuple[str, ...] = ()
    start_timers: tuple[TimerSpec, ...] = ()
    stop_timers: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()
    trace: tuple[Fired, ...] = ()
    reasons: dict = field(default_factory=dict, compare=False)   # decided field -> why
    human_severity: str = ""        # an agent's own choice of severity, kept until they change it again

    @property
    def matched(self) -> tuple[str, ...]:
        return tuple(f.rule for f in self.trace)

    def as_dict(self) -> dict:
        return {
            "severity": self.severity, "level": self.level, "owner": self.owner,
            "assignee": self.assignee, "priority": self.priority, "labels": list(self.labels),
            "start_timers": [{"name": t.name, "seconds": int(t.duration.total_seconds()),
                              "calendar": t.calendar, "recurring": t.recurring} for t in self.start_timers],
            "stop_timers": list(self.stop_timers),
            "notifications": [{"situation": n.situation, "channel": n.channel, "template": n.template,
                               "recipients": list(n.recipients), "sensitive": n.sensitive,
                               **({"send": n.send} if n.send != "auto" else {})}
                              for n in self.notifications],
            "reasons": dict(self.reasons),
            "human_severity": self.human_severity,
            "trace": [{"rule": f.rule, "kind": f.kind, "category": f.category,
                       "values": dict(f.values), "decided": list(f.decided)} for f in self.trace],
        }


def decide(matrix: Matrix, event: TicketEvent, state: TicketState, matched: Sequence[Rule]) -> Decision:
    """The decision for `event` given the rules that matched it, in matrix order."""
    tables = _tables(matrix)
    reasons: dict[str, str] = {}
    by_hand = _human_severity(tables, event, state)
    severity = _pick_severity(tables, event, state, matched, by_hand, reasons)
    level = _pick_level(tables, state, matched, reasons)
    owner = _pick_owner(tables, event, state, level, matched, reasons)
    party = matrix.parties.get(owner)
    labels: dict[str, None] = {}
    stops: dict[str, None] = {}     # only what stop rules say: a changed severity re-arms its own timers
    for r in matched:
        for label in r.then.labels:
            labels[label] = None
        if r.kind == "stop":
            for timer in r.stops:
                stops[timer] = None
    return Decision(
        severity=severity,
        level=level,
        owner=owner,
        assignee=party.assignee_for(event.platform) if party else "",
        priority=tables.severities[severity].platform_priority.get(event.platform, "") if severity else "",
        labels=tuple(labels),
        start_timers=_timers_to_start(tables, event, state, severity, matched),
        stop_timers=tuple(stops),
        notifications=_notifications(tables, event, state, level),
        trace=_trace(matched, event, state, reasons) if matched else (),
        reasons=reasons,
        human_severity=by_hand,
    )


class _Tables:
    """What `decide` looks up in a matrix, indexed once per matrix instead of searched per event.

    It holds no reference to the matrix itself, so that the cache below does not keep it alive.
    """

    def __init__(self, matrix: Matrix):
        self.default_severity = matrix.default_severity
        self.default_level = matrix.default_level
        # The timers a severity starts, each name once (a later spec of a name replaces it).
        self.start_timers = {name: tuple({t.name: t for t in spec.timers}.values())
                             for name, spec in matrix.timers.items()}
        self.severity_rank = matrix.severity_rank
        self.level_rank = matrix.level_rank
        self.severities = {s.name: s for s in matrix.severities}
        self.levels = {lv.id: lv for lv in matrix.levels}
        # (platform, priority case-folded) -> the first severity that maps to it
        self.by_priority: dict[tuple[str, str], str] = {}
        for s in matrix.severities:
            for platform, priority in s.platform_priority.items():
                if priority.casefold():
                    self.by_priority.setdefault((platform, priority.casefold()), s.name)
        self.notifications = {}
        for c in matrix.communications:
            self.notifications.setdefault((c.level, c.on), []).append(
                Notification(c.on, c.channel, c.template, c.notify, c.sensitive, c.send, c.after))

    def severity_for_priority(self, platform: str, priority: str) -> str:
        """`Matrix.severity_for_priority`, by lookup."""
        return self.by_priority.get((platform, priority.strip().casefold()), "") if priority else ""


_tables_by_matrix: dict[int, tuple[weakref.ref, _Tables]] = {}


def _tables(matrix: Matrix) -> _Tables:
    """The tables of this matrix object, built on first use and dropped with the matrix."""
    key = id(matrix)
    entry = _tables_by_matrix.get(key)
    if entry is not None and entry[0]() is matrix:
        return entry[1]
    tables = _Tables(matrix)
    forget = lambda _ref, key=key, cache=_tables_by_matrix: cache.pop(key, None)  # noqa: E731
    _tables_by_matrix[key] = (weakref.ref(matrix, forget), tables)
    return tables


def human_severity(matrix: Matrix, event: TicketEvent, state: TicketState) -> str:
    """The severity an agent chose by changing the priority by hand, which Escalator then respects.

    Our own priority writes come back with the severity we already hold, so they never count.
    """
    return _human_severity(_tables(matrix), event, state)


def _human_severity(tables: _Tables, event: TicketEvent, state: TicketState) -> str:
    if event.kind is _PRIORITY_CHANGED:
        chosen = tables.severity_for_priority(event.platform, event.priority)
        if chosen and chosen != state.severity:
            return chosen
    return state.human_severity


def _pick_severity(tables, event, state, matched, by_hand, reasons) -> str:
    """The most severe candidate; on a tie the earliest (current state, then matrix order)."""
    rank = tables.severity_rank
    if by_hand:
        # Only rules the matrix pins may override an agent's own choice of priority.
        best, best_rank, why = by_hand, rank[by_hand], None
        for r in matched:
            if r.then.severity and r.then.pin and rank[r.then.severity] < best_rank:
                best, best_rank, why = r.then.severity, rank[r.then.severity], r
        reasons["severity"] = f"rule:{why.name}" if why else f"human:{event.priority or by_hand}"
        return best
    best, best_rank, why = "", None, None
    if state.severity in rank:
        best, best_rank, why = state.severity, rank[state.severity], "current"
    for r in matched:
        severity = r.then.severity
        if severity and (best_rank is None or rank[severity] < best_rank):
            best, best_rank, why = severity, rank[severity], r
    from_priority = tables.severity_for_priority(event.platform, event.priority)
    if from_priority and (best_rank is None or rank[from_priority] < best_rank):
        best, best_rank, why = from_priority, rank[from_priority], f"priority:{event.priority}"
    default = tables.default_severity
    if best_rank is None and default:
        best, best_rank, why = default, rank[default], "default"
    if best_rank is not None:
        reasons["severity"] = why if isinstance(why, str) else f"rule:{why.name}"
    return best


def _pick_level(tables, state, matched, reasons) -> str:
    """The highest candidate level; on a tie the earliest (current state, then matrix order)."""
    rank = tables.level_rank
    best, best_rank, why = "", None, None
    if state.level in rank:
        best, best_rank, why = state.level, rank[state.level], "current"
    for r in matched:
        level = r.then.level
        if level and (best_rank is None or rank[level] > best_rank):
            best, best_rank, why = level, rank[level], r
    if best_rank is None:
        best, why = tables.default_level, "default"
    reasons["level"] = why if isinstance(why, str) else f"rule:{why.name}"
    return best


def _pick_owner(tables, event, state, level, matched, reasons) -> str:
    # Exceptions come first in matrix.rules, so an exception's owner beats a trigger's.
    explicit = next((r for r in matched if r.then.owner), None)
    if explicit:
        reasons["owner"] = f"rule:{explicit.name}"
        return explicit.then.owner
    if state.owner and state.level == level:
        reasons["owner"] = "current"
        return state.owner
    rule = tables.levels.get(level).owner
    if rule is None:
        reasons["owner"] = "unowned"
        return ""
    if rule.by:
        value = FIELDS[rule.by].read(event, state)
        chosen = rule.choices.get(str(value or "").strip().casefold())
        if chosen:
            reasons["owner"] = f"level:{level} by {rule.by}={value}"
            return chosen
    reasons["owner"] = f"level:{level}"
    return rule.default


def _timers_to_start(tables, event, state, severity, matched) -> tuple[TimerSpec, ...]:
    timers = tables.start_timers.get(severity, ()) if severity != state.severity or event.kind is _REOPENED else ()
    added = [t for r in matched for t in r.then.add_timers]
    if not added:
        return timers
    return tuple({t.name: t for t in (*timers, *added)}.values())


def _notifications(tables, event, state, level) -> tuple[Notification, ...]:
    found: list[Notification] = []
    for situation in _situations(event, state, level):
        found += tables.notifications.get((level, situation), ())
    return tuple(found)


def _situations(event, state, level) -> list[str]:
    """Which communications an event calls for: a level entered, a cadence tick, resolution."""
    situations = ["escalated"] if level != state.level else []
    kind = event.kind
    if kind is _RESOLVED:
        situations.append("resolved")
    elif kind is _STALLED:
        # The cadence lapsed: the customer still hears from us on time, and the lapse is flagged.
        situations += ["update", "stalled"]
    elif kind is _WARNING and event.timer == "update":
        situations.append("reminder")
    return situations


def _trace(matched: Sequence[Rule], event: TicketEvent, state: TicketState, reasons: dict) -> tuple[Fired, ...]:
    decided_by: dict[str, list[str]] = {}      # rule name -> what it decided
    for key, why in reasons.items():
        if why[:5] == "rule:":
            decided_by.setdefault(why[5:], []).append(key)
    shown: dict[str, str] = {}      # matched rules often test the same fields: read each once
    trace = []
    for rule in matched:
        values = []
        for name in rule.fields:
            text = shown.get(name)
            if text is None:
                value = _READ[name](event, state)
                short_text = value.__class__ is str and len(value) <= _TRACE_VALUE_LIMIT
                text = shown[name] = value if short_text else _shown(value)
            values.append((name, text))
        decided = decided_by.get(rule.name)
        trace.append(Fired(rule.name, rule.kind, rule.category, tuple(values), tuple(decided) if decided else ()))
    return tuple(trace)


def _shown(value: object) -> str:
    """A field's value as the trace shows it: lists joined, long text cut."""
    if value.__class__ is not str:
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        value = "" if value is None else str(value)
    return value if len(value) <= _TRACE_VALUE_LIMIT else value[:_TRACE_VALUE_LIMIT] + "…"
