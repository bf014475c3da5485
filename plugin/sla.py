"""SLA timers: due times on each calendar, kept in step with every decision, fired when due.

Timers live in the database (due time, state); the queue only wakes the worker at the due
time, and firing re-reads the timer first, so a duplicate, early or late wake-up is harmless.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .domain.calendar import BusinessClock
from .domain.decision import Decision
from .domain.matrix import Matrix, TimerSpec
from .domain.ticket import EventKind, TicketEvent
from .holidays_adapter import holiday_checker

# Statuses in which a ticket waits on the customer: timers of a matrix with pause_when_waiting stop counting.
WAITING_STATUSES = {"pending", "waiting for customer", "waiting on customer", "awaiting customer"}
SNAPSHOT_FIELDS = ("summary", "description", "status", "priority", "issue_type", "project", "labels", "components",
                   "reporter", "reporter_name", "assignee", "organization", "customer_tier", "customer_region",
                   "product_area", "account_manager", "requested_priority")
_DESCRIPTION_KEPT = 4000
TIMER_ACTOR = "escalator"          # the actor of events the SLA clock raises


@dataclass(frozen=True)
class Wakeup:
    timer_id: int
    at: datetime


class SlaClocks:
    """A BusinessClock per calendar of one matrix."""

    def __init__(self, matrix: Matrix):
        self.clocks = {name: BusinessClock(cal, holiday_checker(cal.holidays))
                       for name, cal in matrix.calendars.items()}

    def deadline(self, calendar: str, start: datetime, seconds: float) -> datetime:
        return self.clocks[calendar].due_at(start, timedelta(seconds=max(seconds, 0)))

    def spent(self, calendar: str, start: datetime, end: datetime) -> int:
        return int(self.clocks[calendar].elapsed(start, end).total_seconds())


_clocks_by_version: dict[str, SlaClocks] = {}


def clocks_for(matrix: Matrix) -> SlaClocks:
    if matrix.version not in _clocks_by_version:
        _clocks_by_version[matrix.version] = SlaClocks(matrix)
    return _clocks_by_version[matrix.version]


class TimerBook:
    """Applies one decision to a ticket's timers inside the caller's transaction."""

    def __init__(self, tx, matrix: Matrix, now: datetime):
        self.tx, self.matrix, self.now = tx, matrix, now
        self.clocks = clocks_for(matrix)
        self.wakeups: list[Wakeup] = []
        self._known: dict[tuple, dict[str, dict]] = {}      # a ticket's timers, read once

    def timers(self, platform: str, key: str) -> dict[str, dict]:
        if (platform, key) not in self._known:
            self._known[(platform, key)] = {t["name"]: t for t in self.tx.timers_of(platform, key)}
        return self._known[(platform, key)]

    def apply(self, event: TicketEvent, decision: Decision, severity_changed: bool) -> list[Wakeup]:
        severity_timers = {t.name for t in self.matrix.timers.get(decision.severity, _NO_TIMERS).timers}
        reopened = event.kind is EventKind.REOPENED
        for spec in decision.start_timers:
            existing = self.timers(event.platform, event.key).get(spec.name)
            rearm = severity_changed and spec.name in severity_timers and existing is not None \
                and existing["state"] in ("running", "paused")
            # A reopened ticket needs answering again: its stopped clocks start over.
            restart = reopened and existing is not None and existing["state"] in ("stopped", "breached")
            if existing is None or rearm or restart:
                self.arm(event.platform, event.key, spec, self._warn_fraction(decision.severity, spec))
        stops = decision.stop_timers
        if event.kind is EventKind.DELETED:     # a deleted ticket can breach nothing
            stops = tuple(self.timers(event.platform, event.key))
        # Stopping a cadence restarts it (an update was given), unless the ticket is closed.
        closing = event.kind in (EventKind.DELETED, EventKind.RESOLVED)
        for name in stops:
            self.stop(event.platform, event.key, name, cancel=closing)
        self._pause_or_resume(event, decision.severity)
        return self.wakeups

    def arm(self, platform: str, key: str, spec: TimerSpec, warn_fraction: float) -> None:
        seconds = int(spec.duration.total_seconds())
        due = self.clocks.deadline(spec.calendar, self.now, seconds)
        warn = self.clocks.deadline(spec.calendar, self.now, seconds * warn_fraction) if warn_fraction else None
        known = self.timers(platform, key)
        timer_id = self.tx.arm_timer(platform=platform, key=key, name=spec.name, seconds=seconds,
                                     calendar=spec.calendar, recurring=spec.recurring, warn_fraction=warn_fraction,
                                     now=self.now, due_at=due, warn_at=warn,
                                     timer_id=known[spec.name]["id"] if spec.name in known else None)
        known[spec.name] = self.tx.timer(timer_id)
        self.wakeups.append(Wakeup(timer_id, warn or due))     # the warning reschedules the deadline

    def stop(self, platform: str, key: str, name: str, cancel: bool = False) -> None:
        timer = self.timers(platform, key).get(name)
        if timer is None or timer["state"] not in ("running", "paused"):
            return
        if timer["recurring"] and not cancel:   # a cadence starts over: the next update is due a period from now
            spec = TimerSpec(name, timedelta(seconds=timer["seconds"]), timer["calendar"], True)
            self.arm(platform, key, spec, timer["warn_fraction"])
        else:
            self.tx.update_timer(timer["id"], state="stopped", stopped_at=self.now)
            timer.update(state="stopped", stopped_at=self.now)

    def _pause_or_resume(self, event: TicketEvent, severity: str) -> None:
        spec = self.matrix.timers.get(severity)
        if spec is None or not spec.pause_when_waiting or not event.status:
            return
        waiting = event.status.strip().casefold() in WAITING_STATUSES
        pausable = {t.name for t in spec.timers}
        for timer in list(self.timers(event.platform, event.key).values()):
            if timer["name"] not in pausable:
                continue    # a regulator's deadline does not wait for the customer
            if waiting and timer["state"] == "running":
                spent = timer["spent_seconds"] + self.clocks.spent(timer["calendar"], timer["segment_start"], self.now)
                self.tx.update_timer(timer["id"], state="paused", spent_seconds=spent, due_at=None, warn_at=None)
            elif not waiting and timer["state"] == "paused":
                self._resume(timer)

    def _resume(self, timer: dict) -> None:
        left = timer["seconds"] - timer["spent_seconds"]
        due = self.clocks.deadline(timer["calendar"], self.now, left)
        warn_left = timer["seconds"] * timer["warn_fraction"] - timer["spent_seconds"]
        warn = None if timer["warned"] or warn_left <= 0 else self.clocks.deadline(timer["calendar"], self.now,
                                                                                   warn_left)
        self.tx.update_timer(timer["id"], state="running", segment_start=self.now, due_at=due, warn_at=warn)
        self.wakeups.append(Wakeup(timer["id"], warn or due))

    def _warn_fraction(self, severity: str, spec: TimerSpec) -> float:
        timers = self.matrix.timers.get(severity)
        if timers is None or spec.name not in {t.name for t in timers.timers}:
            return 0.0      # exception timers (a regulator notice) warn only if the matrix says so
        return timers.warn_at


class _NoTimers:
    timers: tuple = ()


_NO_TIMERS = _NoTimers()


def snapshot_of(event: TicketEvent) -> dict:
    """The ticket as this event showed it; timer events are evaluated against it."""
    snapshot = {name: getattr(event, name) for name in SNAPSHOT_FIELDS}
    snapshot["labels"], snapshot["components"] = list(event.labels), list(event.components)
    snapshot["description"] = event.description[:_DESCRIPTION_KEPT]
    return snapshot


def merged_snapshot(ticket: dict | None, event: TicketEvent) -> dict:
    """The snapshot updated with what this event shows. A Jira comment webhook carries a trimmed
    issue, so an empty value means "not said", never "cleared"."""
    known = dict((ticket or {}).get("snapshot") or {})
    known.update({k: v for k, v in snapshot_of(event).items() if v not in ("", [], None)})
    return known


def timer_event(platform: str, key: str, snapshot: dict, kind: EventKind, timer: str, now: datetime) -> TicketEvent:
    values = {k: v for k, v in snapshot.items() if k in SNAPSHOT_FIELDS}
    values["labels"] = tuple(values.get("labels", ()))
    values["components"] = tuple(values.get("components", ()))
    return TicketEvent(platform, kind, key, occurred_at=now, timer=timer, actor=TIMER_ACTOR, **values)


class TimerFiring:
    """Turns a due timer into an event through the same service.handle as a webhook."""

    def __init__(self, store, service, clock, on_fired: Callable[[str, str, float], None] | None = None):
        self.store, self.service, self.clock = store, service, clock
        self.on_fired = on_fired or (lambda kind, timer, lag: None)

    def fire(self, timer_id: int) -> list[Wakeup]:
        """Fire the timer if its warning or deadline has passed; a no-op otherwise."""
        with self.store.transaction() as tx:
            now = self.clock.now()      # after the lock: waiting for SQLite's writer is part of the lag
            timer = tx.timer(timer_id)
            if timer is None or timer["state"] != "running":
                return []
            fired = self._transition(tx, timer, now)
            if fired is None:      # woke early: wake again at the next point of this timer
                pending = timer["warn_at"] if timer["warn_at"] and not timer["warned"] else timer["due_at"]
                return [Wakeup(timer_id, pending)] if pending else []
            kind, lag, wakeups = fired
            ticket = tx.ticket(timer["platform"], timer["key"]) or {"snapshot": {}}
            event = timer_event(timer["platform"], timer["key"], ticket["snapshot"], kind, timer["name"], now)
            outcome = self.service.handle(tx, event)
        self.on_fired(kind.value, timer["name"], lag)
        return wakeups + list(outcome.wakeups)

    def sweep(self) -> list[Wakeup]:
        """Fire everything overdue: what a lost wake-up or a crash left behind."""
        with self.store.transaction() as tx:
            due = tx.due_timer_ids(self.clock.now())
        return [w for timer_id in due for w in self.fire(timer_id)]

    def _transition(self, tx, timer: dict, now: datetime):
        if timer["due_at"] is not None and timer["due_at"] <= now:
            lag = (now - timer["due_at"]).total_seconds()
            if timer["recurring"]:      # a missed update: say so, then expect the next one a period later
                version = tx.ticket_state(timer["platform"], timer["key"]).matrix_version
                book = TimerBook(tx, self.service.matrices.for_version(version, tx).matrix, now)
                book.arm(timer["platform"], timer["key"],
                         TimerSpec(timer["name"], timedelta(seconds=timer["seconds"]), timer["calendar"], True),
                         timer["warn_fraction"])
                tx.update_timer(timer["id"], fired_at=now)
                return EventKind.COMMUNICATION_STALLED, lag, book.wakeups
            tx.update_timer(timer["id"], state="breached", fired_at=now)
            return EventKind.SLA_BREACHED, lag, []
        if timer["warn_at"] is not None and not timer["warned"] and timer["warn_at"] <= now:
            tx.update_timer(timer["id"], warned=True)
            return EventKind.SLA_WARNING, (now - timer["warn_at"]).total_seconds(), [Wakeup(timer["id"],
                                                                                            timer["due_at"])]
        return None
