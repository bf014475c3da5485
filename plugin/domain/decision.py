"""Turn the rules that matched an event into one decision, and say why.

Escalation only goes up on its own: severity and level are the most severe of what the
ticket already has and what matched; lowering them is a human's call.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .fields import FIELDS
from .matrix import Matrix, Rule, TimerSpec
from .ticket import EventKind, TicketEvent, TicketState

_TRACE_VALUE_LIMIT = 200
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
                               "recipients": list(n.recipients), "sensitive": n.sensitive}
                              for n in self.notifications],
            "reasons": dict(self.reasons),
            "human_severity": self.human_severity,
            "trace": [{"rule": f.rule, "kind": f.kind, "category": f.category,
                       "values": dict(f.values), "decided": list(f.decided)} for f in self.trace],
        }


def decide(matrix: Matrix, event: TicketEvent, state: TicketState, matched: Sequence[Rule]) -> Decision:
    """The decision for `event` given the rules that matched it, in matrix order."""
    reasons: dict[str, str] = {}
    severity = _pick_severity(matrix, event, state, matched, reasons)
    level = _pick_level(matrix, state, matched, reasons)
    owner = _pick_owner(matrix, event, state, level, matched, reasons)
    party = matrix.parties.get(owner)
    decision = Decision(
        severity=severity,
        level=level,
        owner=owner,
        assignee=party.assignee_for(event.platform) if party else "",
        priority=matrix.severity(severity).platform_priority.get(event.platform, "") if severity else "",
        labels=tuple(dict.fromkeys(lb for r in matched for lb in r.then.labels)),
        start_timers=_timers_to_start(matrix, event, state, severity, matched),
        stop_timers=_timers_to_stop(matrix, state, severity, matched),
        notifications=_notifications(matrix, event, state, level),
        trace=_trace(matched, event, state, reasons),
        reasons=reasons,
        human_severity=human_severity(matrix, event, state),
    )
    return decision


def _most_severe(candidates: Iterable[tuple[int, str, str]], reasons: dict, key: str) -> str:
    """Pick the lowest rank; on a tie the earliest candidate (current state, then matrix order)."""
    best = min(candidates, key=lambda c: c[0], default=None)
    if best is None:
        return ""
    reasons[key] = best[2]
    return best[1]


def human_severity(matrix: Matrix, event: TicketEvent, state: TicketState) -> str:
    """The severity an agent chose by changing the priority by hand, which Escalator then respects.

    Our own priority writes come back with the severity we already hold, so they never count.
    """
    if event.kind is _PRIORITY_CHANGED:
        chosen = matrix.severity_for_priority(event.platform, event.priority)
        if chosen and chosen != state.severity:
            return chosen
    return state.human_severity


def _pick_severity(matrix, event, state, matched, reasons) -> str:
    rank = matrix.severity_rank
    by_hand = human_severity(matrix, event, state)
    if by_hand:
        # Only rules the matrix pins may override an agent's own choice of priority.
        candidates = [(rank[by_hand], by_hand, f"human:{event.priority or by_hand}")]
        candidates += [(rank[r.then.severity], r.then.severity, f"rule:{r.name}")
                       for r in matched if r.then.severity and r.then.pin]
        return _most_severe(candidates, reasons, "severity")
    candidates = []
    if state.severity in rank:
        candidates.append((rank[state.severity], state.severity, "current"))
    candidates += [(rank[r.then.severity], r.then.severity, f"rule:{r.name}")
                   for r in matched if r.then.severity]
    from_priority = matrix.severity_for_priority(event.platform, event.priority)
    if from_priority:
        candidates.append((rank[from_priority], from_priority, f"priority:{event.priority}"))
    if not candidates and matrix.default_severity:
        candidates.append((rank[matrix.default_severity], matrix.default_severity, "default"))
    return _most_severe(candidates, reasons, "severity")


def _pick_level(matrix, state, matched, reasons) -> str:
    rank = matrix.level_rank
    # Higher level wins, so rank is negated for the shared "lowest wins" picker.
    candidates = []
    if state.level in rank:
        candidates.append((-rank[state.level], state.level, "current"))
    candidates += [(-rank[r.then.level], r.then.level, f"rule:{r.name}") for r in matched if r.then.level]
    if not candidates:
        candidates.append((-rank[matrix.default_level], matrix.default_level, "default"))
    return _most_severe(candidates, reasons, "level")


def _pick_owner(matrix, event, state, level, matched, reasons) -> str:
    # Exceptions come first in matrix.rules, so an exception's owner beats a trigger's.
    explicit = next((r for r in matched if r.then.owner), None)
    if explicit:
        reasons["owner"] = f"rule:{explicit.name}"
        return explicit.then.owner
    if state.owner and state.level == level:
        reasons["owner"] = "current"
        return state.owner
    rule = matrix.level(level).owner
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


def _timers_to_start(matrix, event, state, severity, matched) -> tuple[TimerSpec, ...]:
    timers: list[TimerSpec] = []
    if (severity != state.severity or event.kind is _REOPENED) and severity in matrix.timers:
        timers += matrix.timers[severity].timers
    timers += [t for r in matched for t in r.then.add_timers]
    return tuple({t.name: t for t in timers}.values())


def _timers_to_stop(matrix, state, severity, matched) -> tuple[str, ...]:
    # Only what stop rules say; timers of a severity that changed are re-armed by their new start.
    return tuple(dict.fromkeys(name for r in matched if r.kind == "stop" for name in r.stops))


def _notifications(matrix, event, state, level) -> tuple[Notification, ...]:
    situations = _situations(event, state, level)
    return tuple(Notification(c.on, c.channel, c.template, c.notify, c.sensitive)
                 for situation in situations for c in matrix.communications
                 if c.level == level and c.on == situation)


def _situations(event, state, level) -> list[str]:
    """Which communications an event calls for: a level entered, a cadence tick, resolution."""
    situations = ["escalated"] if level != state.level else []
    if event.kind is _RESOLVED:
        situations.append("resolved")
    elif event.kind is _STALLED:
        # The cadence lapsed: the customer still hears from us on time, and the lapse is flagged.
        situations += ["update", "stalled"]
    elif event.kind is _WARNING and event.timer == "update":
        situations.append("reminder")
    return situations


def _trace(matched: Sequence[Rule], event: TicketEvent, state: TicketState, reasons: dict) -> tuple[Fired, ...]:
    shown: dict[str, str] = {}      # matched rules often test the same fields: read each once
    decided_by: dict[str, list[str]] = {}
    for key, why in reasons.items():
        decided_by.setdefault(why, []).append(key)
    return tuple(Fired(rule.name, rule.kind, rule.category,
                       tuple((name, _shown(name, event, state, shown)) for name in rule.fields),
                       tuple(decided_by.get(f"rule:{rule.name}", ())))
                 for rule in matched)


def _shown(name: str, event: TicketEvent, state: TicketState, shown: dict[str, str]) -> str:
    """A field's value as the trace shows it: lists joined, long text cut."""
    if name not in shown:
        value = FIELDS[name].read(event, state)
        if isinstance(value, (list, tuple)):
            value = ", ".join(map(str, value))
        text = "" if value is None else str(value)
        shown[name] = text if len(text) <= _TRACE_VALUE_LIMIT else text[:_TRACE_VALUE_LIMIT] + "…"
    return shown[name]
