"""handle(event): the one path every ticket event takes, live or replayed.

Load what we know of the ticket, evaluate the matrix, write only what changed, log why, and
queue the write-backs — all inside the caller's transaction, so a delivery, its decision and its
outbox rows are stored together or not at all. No Flask, no HTTP: the simulator calls this too.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .domain.actions import NOTE, Action, plan_actions
from .domain.clock import Clock
from .domain.decision import Decision
from .domain.ticket import TicketEvent, TicketState
from .engine import Evaluator
from .notify import COMMS, Notifier
from .sla import TIMER_ACTOR, TimerBook, Wakeup, merged_snapshot

_COMPARED = ("severity", "level", "owner", "assignee", "priority")


class RequestPlanner(Protocol):
    def requests_for(self, action: Action) -> list: ...


@dataclass(frozen=True)
class Outcome:
    status: str                     # accepted | ignored
    reason: str = ""
    decision: Decision | None = None
    changes: dict = field(default_factory=dict)
    outbox_ids: tuple[int, ...] = ()
    log_id: int | None = None
    wakeups: tuple[Wakeup, ...] = ()   # when the queue must wake the worker for this ticket's timers


class Matrices(Protocol):
    def __call__(self) -> Evaluator: ...
    def for_version(self, version: str, tx=None) -> Evaluator: ...


class EscalationService:
    def __init__(self, matrices: Matrices, clock: Clock, planners: Mapping[str, RequestPlanner],
                 live_platforms: set[str], bot_actors: Mapping[str, set[str]] | None = None,
                 notifier: Notifier | None = None):
        self.matrices = matrices
        self.notifier = notifier
        self.clock = clock
        self.planners = planners
        self.live_platforms = live_platforms       # platforms with write-back credentials
        self.bot_actors = bot_actors or {}

    def handle(self, tx, event: TicketEvent, delivery_id: int | None = None) -> Outcome:
        if event.actor and event.actor in self.bot_actors.get(event.platform, set()):
            return Outcome("ignored", "an echo of Escalator's own write-back (the actor is the bot account)")
        before = tx.ticket_state(event.platform, event.key)
        evaluator = self.matrices.for_version(before.matrix_version, tx)    # a ticket keeps its matrix
        event = evaluator.prepare(event)        # the snapshot and messages need the mapped attributes too
        decision = evaluator.evaluate(event, before)
        after = _state_after(before, decision, evaluator.matrix.version)
        changes = {f: [getattr(before, f), getattr(after, f)] for f in _COMPARED
                   if getattr(before, f) != getattr(after, f)}
        if set(after.labels) != set(before.labels):
            changes["labels"] = [list(before.labels), list(after.labels)]
        now = self.clock.now()
        log_id = None
        if changes or decision.trace or decision.start_timers or decision.stop_timers or decision.notifications:
            log_id = tx.append_log(platform=event.platform, key=event.key, at=now, delivery_id=delivery_id,
                                   event_kind=event.kind.value, actor=event.actor, changes=changes,
                                   decision=decision.as_dict(), matrix_version=after.matrix_version)
        is_timer_event = event.actor == TIMER_ACTOR     # keep the snapshot of the last real event
        snapshot = None if is_timer_event else merged_snapshot(tx.ticket(event.platform, event.key), event)
        tx.save_ticket(event.platform, event.key, after, now, snapshot)
        wakeups = TimerBook(tx, evaluator.matrix, now).apply(event, decision, before.severity != after.severity)
        actions = plan_actions(event.platform, event.key, before, decision, event.priority)
        if self.notifier is not None and log_id is not None:
            planned = self.notifier.plan(tx, event, decision, evaluator.matrix, now, f"escalator-{log_id}")
            actions += planned.actions + planned.messages
            if planned.log:
                tx.set_log_communications(log_id, planned.log)
        outbox_ids = tuple(self._enqueue(tx, action, log_id, delivery_id, now) for action in actions)
        return Outcome("accepted", decision=decision, changes=changes, outbox_ids=outbox_ids, log_id=log_id,
                       wakeups=tuple(wakeups))

    def _enqueue(self, tx, action: Action, log_id, delivery_id, now) -> int:
        if action.platform == COMMS:
            live = self.notifier.is_live(action.data)
            return tx.enqueue(action, request=[self.notifier.describe(action.data)],
                              status="pending" if live else "dry_run", now=now, delivery_id=delivery_id,
                              log_id=log_id)
        if action.kind == NOTE and "marker" not in action.data:
            # Lets the writer find a note it already posted when a retry follows a lost response.
            marked = {**action.data, "marker": f"escalator-{log_id}"}
            action = Action(action.platform, action.key, action.kind, marked)
        requests = [r.describe() for r in self.planners[action.platform].requests_for(action)]
        status = "pending" if action.platform in self.live_platforms else "dry_run"
        return tx.enqueue(action, request=requests, status=status, now=now, delivery_id=delivery_id, log_id=log_id)


def _state_after(before: TicketState, decision: Decision, matrix_version: str) -> TicketState:
    return TicketState(
        severity=decision.severity, level=decision.level, owner=decision.owner,
        matrix_version=before.matrix_version or matrix_version,
        labels=tuple(dict.fromkeys(before.labels + decision.labels)),
        priority=decision.priority or before.priority,
        assignee=decision.assignee or before.assignee,
        human_severity=decision.human_severity,
    )
