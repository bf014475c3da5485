"""One event on one ticket: evaluate the matrix, plan timers, messages and write-backs, and say why.

Pure on values read beforehand: no store, no lock, no Flask. The processor calls it for deliveries
and due timers alike, live and in replays, and writes what it returns in one batch.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Protocol

from .domain.actions import NOTE, Action, plan_actions
from .domain.decision import Decision
from .domain.drafts import AUTO, AUTO_SENT, DISCARD, DISCARDED, SENT, Draft, DraftAction, as_public_reply, with_text
from .domain.snapshot import TIMER_ACTOR, merged_snapshot
from .domain.ticket import TicketEvent, TicketState
from .domain.timers import plan_timers
from .drafting import log_record
from .engine import Evaluator
from .notify import COMMS, Notifier
from .sla import clocks_for
from .store.port import DraftDone, LogEntry, OutboxRow, TicketRecord

_COMPARED = ("severity", "level", "owner", "assignee", "priority")


class RequestPlanner(Protocol):
    def requests_for(self, action: Action) -> list: ...


class Matrices(Protocol):
    def __call__(self) -> Evaluator: ...
    def for_version(self, version: str) -> Evaluator: ...


@dataclass(frozen=True)
class Step:
    """What one event did to one ticket."""
    record: TicketRecord                # the ticket after the event
    decision: Decision | None = None
    changes: dict = field(default_factory=dict)
    entry: LogEntry | None = None       # None when nothing worth logging happened


class EscalationService:
    def __init__(self, matrices: Matrices, planners: Mapping[str, RequestPlanner], live_platforms: set[str],
                 notifier: Notifier | None = None):
        self.matrices = matrices
        self.planners = planners
        self.live_platforms = live_platforms       # platforms with write-back credentials
        self.notifier = notifier

    def decide(self, record: TicketRecord, event: TicketEvent, now: datetime, delivery_id: int | None = None,
               history: Callable[[], list] = list) -> Step:
        """The ticket after `event` at `now`; `history` reads its log, only if a message shows it."""
        before = record.state
        evaluator = self.matrices.for_version(before.matrix_version)     # a ticket keeps its matrix
        event = evaluator.prepare(event)        # the snapshot and messages need the mapped attributes too
        decision = evaluator.evaluate(event, before)
        matrix = evaluator.matrix
        after = _state_after(before, decision, matrix.version)
        changes = _changes(before, after)
        timers = plan_timers(record.timers, event, decision, before.severity != after.severity, matrix,
                             clocks_for(matrix), now)
        snapshot = record.snapshot if event.actor == TIMER_ACTOR else merged_snapshot(record.snapshot, event)
        new = TicketRecord(record.platform, record.key, after, snapshot, timers, record.version + 1, record.created_at)
        if not (changes or decision.trace or decision.start_timers or decision.stop_timers or decision.notifications):
            return Step(new, decision, changes)
        marker = f"escalator-{new.version}"     # unique among the ticket's comments, stable across retries
        actions = plan_actions(event.platform, event.key, before, decision, event.priority)
        communications, drafts = [], ()
        if self.notifier is not None:
            planned = self.notifier.plan(event, decision, matrix, now, marker, snapshot=snapshot,
                                         timers=timers.values(), history=history)
            actions += planned.actions + planned.messages
            communications, drafts = planned.log, tuple(planned.drafts)
        outbox = tuple(self._outbox_row(action, marker, delivery_id) for action in actions)
        entry = LogEntry(event.platform, event.key, now, delivery_id, event.kind.value, event.actor, changes,
                         decision.as_dict(), after.matrix_version, communications, outbox, drafts)
        return Step(new, decision, changes, entry)

    def act_on_draft(self, record: TicketRecord, draft: Draft, action: DraftAction, now: datetime,
                     delivery_id: int | None, history: Callable[[], list] = list) -> Step:
        """A pending draft sent (as edited, or as rendered when nobody acted) or discarded.

        A send goes out through the outbox on the draft's own channel, and the matrix sees it as a
        public reply by an agent: the stop rules that end the cadence on any public update end it here.
        """
        if action.action in (DISCARD, AUTO):
            return Step(record, entry=self._draft_entry(record, draft, action, now, delivery_id))
        text = action.text or draft.template_text
        step = self.decide(record, as_public_reply(draft, text, action.by, record.snapshot, now), now,
                           delivery_id, history)
        entry = self._draft_entry(record, draft, action, now, delivery_id, text)
        if step.entry is not None:      # what the reply decided, with the draft's record and messages after it
            entry = replace(step.entry, event_kind=entry.event_kind, actor=entry.actor,
                            communications=[*step.entry.communications, *entry.communications],
                            outbox=step.entry.outbox + entry.outbox, draft_done=entry.draft_done)
        return replace(step, entry=entry)

    def _draft_entry(self, record: TicketRecord, draft: Draft, action: DraftAction, now: datetime,
                     delivery_id: int | None, text: str = "") -> LogEntry:
        """The log entry of an action on a draft: what was sent (and queued) or why nothing was.
        An automatic send is Escalator's, like any automatic message: no person replied, no clock stops."""
        if action.action == DISCARD:
            done, kind, rows = DraftDone(draft.id, DISCARDED, "", action.by, now, action.reason), "draft_discarded", ()
        else:
            text = text or draft.template_text
            automatic = action.action == AUTO
            done = DraftDone(draft.id, AUTO_SENT if automatic else SENT, text, action.by, now)
            kind = "draft_auto_sent" if automatic else "draft_sent"
            rows = tuple(self._outbox_row(Action(a["platform"], draft.key, a["kind"], a["data"]), "", delivery_id)
                         for a in with_text(draft.outbound, text))
        return LogEntry(record.platform, record.key, now, delivery_id, kind, action.by or TIMER_ACTOR, {},
                        _unchanged(record.state).as_dict(), record.state.matrix_version,
                        [log_record(draft, action, text)], rows, draft_done=done)

    def _outbox_row(self, action: Action, marker: str, delivery_id: int | None) -> OutboxRow:
        if action.platform == COMMS:
            live = self.notifier.is_live(action.data)
            return OutboxRow(action.platform, action.key, action.kind, action.data,
                             [self.notifier.describe(action.data)], "pending" if live else "dry_run", delivery_id)
        if action.kind == NOTE and "marker" not in action.data:
            # Lets the writer find a note it already posted when a retry follows a lost response.
            action = Action(action.platform, action.key, action.kind, {**action.data, "marker": marker})
        requests = [r.describe() for r in self.planners[action.platform].requests_for(action)]
        status = "pending" if action.platform in self.live_platforms else "dry_run"
        return OutboxRow(action.platform, action.key, action.kind, action.data, requests, status, delivery_id)


def _unchanged(state: TicketState) -> Decision:
    """The decision of an event the matrix does not evaluate: the ticket stays as it is."""
    return Decision(state.severity, state.level, state.owner, state.assignee, state.priority, state.labels,
                    human_severity=state.human_severity)


def _changes(before: TicketState, after: TicketState) -> dict:
    changes = {f: [getattr(before, f), getattr(after, f)] for f in _COMPARED if getattr(before, f) != getattr(after, f)}
    if set(after.labels) != set(before.labels):
        changes["labels"] = [list(before.labels), list(after.labels)]
    return changes


def _state_after(before: TicketState, decision: Decision, matrix_version: str) -> TicketState:
    return TicketState(
        severity=decision.severity, level=decision.level, owner=decision.owner,
        matrix_version=before.matrix_version or matrix_version,
        labels=tuple(dict.fromkeys(before.labels + decision.labels)),
        priority=decision.priority or before.priority,
        assignee=decision.assignee or before.assignee,
        human_severity=decision.human_severity,
    )
