"""SLA timers as values: what a decision does to a ticket's timers, and what a due timer raises.

Pure functions from (timers, event, decision, now) to new timers. Working time is counted by an
injected `Clocks` (business calendars), so this module never reads the wall clock.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from .conditions import All, Any, Condition, Not, Test
from .decision import Decision
from .matrix import Matrix, TimerSpec
from .ticket import EventKind, TicketEvent

RUNNING, PAUSED, STOPPED, BREACHED = "running", "paused", "stopped", "breached"
# Statuses in which a ticket waits on the customer: timers of a matrix with pause_when_waiting stop counting.
WAITING_STATUSES = frozenset({"pending", "waiting for customer", "waiting on customer", "awaiting customer"})
_LIVE = (RUNNING, PAUSED)


class Clocks(Protocol):
    """Working time on the matrix's calendars."""

    def deadline(self, calendar: str, start: datetime, seconds: float) -> datetime: ...
    def spent(self, calendar: str, start: datetime, end: datetime) -> int: ...


@dataclass(frozen=True)
class Timer:
    """One SLA clock of one ticket. `due_at` and `warn_at` are None while paused."""
    name: str
    seconds: int
    calendar: str
    recurring: bool
    warn_fraction: float
    state: str
    started_at: datetime
    segment_start: datetime              # when the clock last (re)started counting
    due_at: datetime | None
    warn_at: datetime | None = None
    spent_seconds: int = 0               # working time used before segment_start
    stopped_at: datetime | None = None
    warned: bool = False
    fired_at: datetime | None = None
    id: int | None = None                # the store's id; None until first written

    def breached_at(self, now: datetime) -> bool:
        """Whether the deadline passed before the timer stopped (or before `now`, while it runs)."""
        if self.state == BREACHED:
            return True
        end = self.stopped_at if self.state == STOPPED else now
        return self.due_at is not None and end is not None and end >= self.due_at and self.state != PAUSED


def arm(spec: TimerSpec, warn_fraction: float, now: datetime, clocks: Clocks, timer_id: int | None = None) -> Timer:
    """A timer counting from `now`; the id of the timer it replaces is kept."""
    seconds = int(spec.duration.total_seconds())
    warn = clocks.deadline(spec.calendar, now, seconds * warn_fraction) if warn_fraction else None
    return Timer(spec.name, seconds, spec.calendar, spec.recurring, warn_fraction, RUNNING, now, now,
                 clocks.deadline(spec.calendar, now, seconds), warn, id=timer_id)


def plan_timers(timers: Mapping[str, Timer], event: TicketEvent, decision: Decision, severity_changed: bool,
                matrix: Matrix, clocks: Clocks, now: datetime) -> dict[str, Timer]:
    """The ticket's timers after `decision`; unchanged timers are the same objects."""
    result = dict(timers)
    for spec in decision.start_timers:
        if _should_arm(result.get(spec.name), spec, event, severity_changed, matrix, decision.severity, now):
            existing = result.get(spec.name)
            result[spec.name] = arm(spec, _warn_fraction(matrix, decision.severity, spec), now, clocks,
                                    existing.id if existing else None)
    # A deleted ticket can breach nothing.
    stops = tuple(result) if event.kind is EventKind.DELETED else decision.stop_timers
    closing = event.kind in (EventKind.DELETED, EventKind.RESOLVED)
    for name in stops:
        if name in result:
            result[name] = _stopped(result[name], closing, now, clocks)
    _pause_or_resume(result, event, matrix, decision.severity, now, clocks)
    return result


def _should_arm(existing, spec, event, severity_changed, matrix, severity, now) -> bool:
    if existing is None:
        return True
    severity_timers = matrix.timers.get(severity)
    if severity_changed and existing.state in _LIVE and severity_timers and \
            spec.name in {t.name for t in severity_timers.timers}:
        return True             # a new severity re-arms its own timers
    # A reopened ticket needs answering again: its stopped and breached clocks start over.
    return event.kind is EventKind.REOPENED and (existing.state in (STOPPED, BREACHED) or existing.breached_at(now))


def _stopped(timer: Timer, closing: bool, now: datetime, clocks: Clocks) -> Timer:
    if timer.state not in _LIVE:
        return timer
    if timer.recurring and not closing:     # a cadence starts over: the next update is due a period from now
        spec = TimerSpec(timer.name, timedelta(seconds=timer.seconds), timer.calendar, True)
        return arm(spec, timer.warn_fraction, now, clocks, timer.id)
    return replace(timer, state=STOPPED, stopped_at=now)


def _pause_or_resume(timers: dict[str, Timer], event, matrix, severity, now, clocks) -> None:
    spec = matrix.timers.get(severity)
    if spec is None or not spec.pause_when_waiting or not event.status:
        return
    waiting = event.status.strip().casefold() in WAITING_STATUSES
    for name in {t.name for t in spec.timers} & set(timers):    # a regulator's deadline does not wait
        timer = timers[name]
        if waiting and timer.state == RUNNING:
            spent = timer.spent_seconds + clocks.spent(timer.calendar, timer.segment_start, now)
            timers[name] = replace(timer, state=PAUSED, spent_seconds=spent, due_at=None, warn_at=None)
        elif not waiting and timer.state == PAUSED:
            timers[name] = _resumed(timer, now, clocks)


def _resumed(timer: Timer, now: datetime, clocks: Clocks) -> Timer:
    due = clocks.deadline(timer.calendar, now, timer.seconds - timer.spent_seconds)
    warn_left = timer.seconds * timer.warn_fraction - timer.spent_seconds
    warn = None if timer.warned or warn_left <= 0 else clocks.deadline(timer.calendar, now, warn_left)
    return replace(timer, state=RUNNING, segment_start=now, due_at=due, warn_at=warn)


def _warn_fraction(matrix: Matrix, severity: str, spec: TimerSpec) -> float:
    timers = matrix.timers.get(severity)
    if timers is None or spec.name not in {t.name for t in timers.timers}:
        return 0.0      # exception timers (a regulator notice) warn only if the matrix says so
    return timers.warn_at


# -- firing -------------------------------------------------------------------------------------

def fire(timer: Timer, now: datetime, clocks: Clocks) -> tuple[Timer, EventKind | None]:
    """The timer after its warning or deadline passed, and the event that raises; None if not due."""
    if timer.state != RUNNING:
        return timer, None
    if timer.due_at is not None and timer.due_at <= now:
        if timer.recurring:     # a missed update: say so, then expect the next one a period later
            spec = TimerSpec(timer.name, timedelta(seconds=timer.seconds), timer.calendar, True)
            return replace(arm(spec, timer.warn_fraction, now, clocks, timer.id), fired_at=now), \
                EventKind.COMMUNICATION_STALLED
        return replace(timer, state=BREACHED, fired_at=now), EventKind.SLA_BREACHED
    if timer.warn_at is not None and not timer.warned and timer.warn_at <= now:
        return replace(timer, warned=True), EventKind.SLA_WARNING
    return timer, None


def fired_point(timer: Timer, kind: EventKind) -> datetime | None:
    """The due time the firing of `kind` answered, for the lag metric."""
    return timer.warn_at if kind is EventKind.SLA_WARNING else timer.due_at


Interest = Callable[[EventKind, str], bool]


def next_at(timer: Timer, wants: Interest) -> datetime | None:
    """When the timer next needs firing: only points that something in the matrix reacts to."""
    if timer.state != RUNNING:
        return None
    if timer.warn_at is not None and not timer.warned and wants(EventKind.SLA_WARNING, timer.name):
        return timer.warn_at
    deadline = EventKind.COMMUNICATION_STALLED if timer.recurring else EventKind.SLA_BREACHED
    return timer.due_at if wants(deadline, timer.name) else None


# -- what the matrix reacts to ------------------------------------------------------------------

_SITUATIONS = {EventKind.SLA_WARNING: ("reminder",), EventKind.COMMUNICATION_STALLED: ("update", "stalled")}


def interest(matrix: Matrix) -> Interest:
    """Whether any rule or communication of `matrix` could react to a timer event (kind, timer).

    A rule reacts if it tests `event` or `timer` and might hold with only those two known (so the
    answer errs towards firing). A rule that tests neither is about the ticket, not the clock: it
    was evaluated on the same snapshot when the ticket last changed, and is again at the next
    change. Firing nothing else saves most timer events of a simulation.
    """
    situations = {c.on for c in matrix.communications}
    clock_rules = [r for r in matrix.rules if {"event", "timer"} & set(r.fields)]
    cache: dict[tuple[EventKind, str], bool] = {}

    def wants(kind: EventKind, timer: str) -> bool:
        if (kind, timer) not in cache:
            talks = (kind is EventKind.SLA_WARNING and timer == "update" or kind is EventKind.COMMUNICATION_STALLED) \
                and any(s in situations for s in _SITUATIONS.get(kind, ()))
            known = {"event": kind.value, "timer": timer.casefold()}
            cache[(kind, timer)] = talks or any(_may_hold(r.when, known) is not False for r in clock_rules)
        return cache[(kind, timer)]
    return wants


def _may_hold(condition: Condition, known: Mapping[str, str]) -> bool | None:
    """Three-valued: True or False when the known fields settle it, None when they do not."""
    if isinstance(condition, Test):
        return _test(condition, known)
    if isinstance(condition, Not):
        inner = _may_hold(condition.item, known)
        return None if inner is None else not inner
    results = [_may_hold(item, known) for item in condition.items]
    if isinstance(condition, All):
        return False if False in results else (True if all(results) else None)
    assert isinstance(condition, Any)
    return True if True in results else (False if all(r is False for r in results) else None)


def _test(test: Test, known: Mapping[str, str]) -> bool | None:
    if test.field not in known:
        return None
    value = known[test.field]
    if test.op == "eq":
        return value == test.value
    if test.op == "neq":
        return value != test.value
    if test.op == "in":
        return value in test.value
    if test.op == "not_in":
        return value not in test.value
    if test.op == "exists":
        return bool(value) == bool(test.value)
    return None
