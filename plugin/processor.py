"""The processor: decides what intake stored and fires due timers, a batch at a time.

Each pass reads the batch's deliveries, due timers, tickets and timers (a few queries), decides
every event in order per ticket with no database lock held, and writes everything in one short
transaction. A crash before that commit loses nothing: the deliveries are still `received` and the
timers still due, so the next pass decides them again, exactly once. On PostgreSQL each pass first
claims its tickets (advisory locks, skipping those another processor holds), so several processors
split the work and a ticket's events are decided in order by one of them; should two still meet,
the write is a Conflict (claims on deliveries, versions on tickets) and the batch is simply read
again. An event that cannot be decided (a defect, not bad input: intake refused that) holds up only
its own ticket, and after a few attempts its delivery is marked `failed` with the error, for an
operator to see.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace

from .domain.clock import Clock
from .domain.drafts import DraftAction
from .domain.errors import EscalatorError
from .domain.holds import holds, ticket_reader
from .domain.review import trigger_text
from .domain.snapshot import timer_event
from .domain.ticket import EventKind
from .domain.timers import Interest, fire, interest, next_at
from .drafting import DRAFT_ACTION, action_delivery, auto_action
from .logs import context
from .platforms import parse
from .queue import Doorbell, WakeQueue
from .service import EscalationService, Step
from .sla import clocks_for
from .store.port import (
    Batch,
    Conflict,
    DueTimer,
    LogEntry,
    NewReview,
    Received,
    StoragePort,
    TicketRecord,
    TimerWrite,
)

log = logging.getLogger(__name__)
BATCH = 200             # deliveries (and as many due timers) per pass
POLL_SECONDS = 0.1      # how often an idle processor looks for deliveries another process stored
QUEUE_POLL_SECONDS = 1.0    # the same with a wake-up queue, which announces them: a look for lost nudges
GATHER_SECONDS = 0.05   # waited past a timer's due time, so a dense stream fires several per pass
ATTEMPTS = 3            # passes an undecidable ticket is retried before its work is set aside


@dataclass
class Pass:
    """What one pass did, for metrics and tests."""
    decided: int = 0
    ignored: int = 0
    fired: int = 0
    queued: int = 0                                            # outbox rows written
    lags: list[float] = field(default_factory=list)          # received -> decided, seconds
    timer_lags: list[tuple[str, float]] = field(default_factory=list)   # (event kind, seconds late)

    def __bool__(self) -> bool:
        return bool(self.decided or self.ignored or self.fired)

    def add(self, other: Pass) -> None:
        self.decided, self.ignored, self.fired = (self.decided + other.decided, self.ignored + other.ignored,
                                                  self.fired + other.fired)
        self.lags += other.lags
        self.timer_lags += other.timer_lags


class Processor:
    def __init__(self, store: StoragePort, service: EscalationService, clock: Clock, *, batch: int = BATCH,
                 on_pass: Callable[[Pass], None] | None = None, wakeups: WakeQueue | None = None):
        self.store, self.service, self.clock, self.batch = store, service, clock, batch
        self.on_pass = on_pass or (lambda done: None)
        self.wakeups = wakeups
        self.doorbell = Doorbell(wakeups)       # rung by intake: decide at once (in every processor, with a queue)
        self.outbox_bell: threading.Event | None = None     # rung after a pass queued write-backs
        self._interest: dict[str, Interest] = {}
        self._attempts: dict[tuple[str, int], int] = {}     # ("delivery" | "timer", id) -> failed passes

    def run_once(self) -> Pass:
        """Decide one batch; an empty Pass when there was nothing to do."""
        now = self.clock.now()
        self._queue_due_drafts(now)
        with self._claim(now) as (received, due):
            if not received and not due:
                return Pass()
            return self._decide(received, due, now)

    def _claim(self, now) -> AbstractContextManager[tuple[list[Received], list[DueTimer]]]:
        """This pass's work: on a store that claims by ticket (PostgreSQL), only tickets no other processor holds."""
        claimed = getattr(self.store, "claimed", None)
        if claimed is not None:
            return claimed(now, self.batch)
        return nullcontext((self.store.pending(self.batch), self.store.due_timers(now, self.batch)))

    def _decide(self, received: list[Received], due: list[DueTimer], now) -> Pass:
        work = _by_ticket(received, due)
        records = self.store.load(work)
        parts = []
        for ref, items in work.items():
            loaded = records.get(ref) or TicketRecord(*ref)
            part, counts = Batch(now), Pass()
            try:
                self._ticket(loaded, items, part, counts)
            except Exception as exc:    # a defect on one ticket must not hold up every other
                part, counts = self._set_aside(loaded, items, exc, now), Pass()
            parts.append((loaded, items, part, counts))
        batch, done = Batch(now), Pass()
        for *_, part, counts in parts:
            batch.add(part)
            done.add(counts)
        late = self._stamp(batch, done, now)
        try:
            self.store.write(batch)
        except Conflict:
            raise
        except Exception:
            if not self._database_answers():
                raise       # the database is away: nothing is set aside, the next pass tries again
            batch, done = self._write_apart(parts, batch.now, late)
        done.queued = sum(len(entry.outbox) for entry in batch.log)
        if done.queued and self.outbox_bell is not None:
            self.outbox_bell.set()
        self.on_pass(done)
        return done

    def _write_apart(self, parts: list, now, late: float) -> tuple[Batch, Pass]:
        """A batch the database refused while answering, written ticket by ticket, so a ticket whose write it
        always refuses (a value no column holds, say) holds up only itself and is set aside after its
        attempts. If several tickets are all refused, the database is the trouble: that is raised."""
        written, done, refused = Batch(now), Pass(), []
        for loaded, items, part, counts in parts:
            part.now = now
            try:
                self.store.write(part)
            except Conflict:
                continue            # another processor was first: read again next pass
            except Exception as exc:
                refused.append((loaded, items, exc))
                continue
            written.add(part)
            done.add(_later(counts, late))
        if len(refused) == len(parts) > 1:
            raise refused[0][2]     # several tickets all refused: the database's trouble, not theirs
        for loaded, items, exc in refused:
            aside = self._set_aside(loaded, items, exc, now)
            if aside:
                self.store.write(aside)
                written.add(aside)
        return written, done

    def _database_answers(self) -> bool:
        try:
            self.store.ping()
        except Exception:
            return False
        return True

    def _stamp(self, batch: Batch, done: Pass, started) -> float:
        """Date the write (decided_at, lags) when it happens, not when the pass began reading; how late that is."""
        batch.now = self.clock.now()
        late = (batch.now - started).total_seconds()
        _later(done, late)
        return late

    def drain(self, limit: int = 10_000) -> int:
        """Run passes until nothing is pending or due; the number of events decided or fired."""
        total = 0
        for _ in range(limit):
            try:
                done = self.run_once()
            except Conflict:
                continue
            if not done:
                break
            total += done.decided + done.fired
        return total

    def run_forever(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                done = self.run_once()
                if done.decided + done.ignored + done.fired >= self.batch:
                    continue        # a full pass: more is waiting already. Otherwise let some gather.
            except Conflict as exc:
                log.info("batch re-read: %s", exc)
                continue
            except Exception:      # a database hiccup must not kill the processor thread
                log.exception("processing pass failed; retrying in 1 s")
                stop.wait(1.0)
                continue
            self._idle()

    def _idle(self) -> None:
        """Wait for a delivery or the next due timer: on the wake-up queue if there is one and it answers,
        else on this process's doorbell, polling the database for what other processes stored."""
        if self.wakeups is None or self.wakeups.wait(self._idle_seconds(QUEUE_POLL_SECONDS)) is None:
            self.doorbell.wait(self._idle_seconds(POLL_SECONDS))
        self.doorbell.clear()

    def _idle_seconds(self, poll: float) -> float:
        upcoming = self.store.next_timer_at()
        if upcoming is None:
            return poll
        ahead = (upcoming - self.clock.now()).total_seconds()
        return 0.0 if ahead <= 0 else min(poll, ahead + GATHER_SECONDS)

    # -- one ticket -------------------------------------------------------------------------------

    def _ticket(self, loaded: TicketRecord, items: list, batch: Batch, done: Pass) -> None:
        record, history, reviewed = loaded, _History(self.store, loaded, batch), loaded.reviewed
        for item in items:
            step = self._delivery(record, item, batch, done, history) if isinstance(item, Received) else \
                self._firing(record, item, batch, done, history)
            if step is not None:
                record = step.record
                if step.entry is not None:
                    batch.log.append(step.entry)
                    if not reviewed and self._significant(record, step.entry):
                        batch.reviews.append(_new_review(record, step.entry))
                        reviewed = True
        if record.version != loaded.version:
            batch.tickets.append((record, loaded.version))
            wants = self._wants(record.state.matrix_version)
            batch.timers += [TimerWrite(record.platform, record.key, t, next_at(t, wants))
                             for name, t in record.timers.items() if loaded.timers.get(name) is not t]

    def _delivery(self, record, item: Received, batch: Batch, done: Pass, history) -> Step | None:
        if item.authenticated_by == DRAFT_ACTION:
            return self._draft_action(record, item, batch, done, history)
        try:
            event = parse(item.platform, json.loads(item.body), item.headers)
        except (EscalatorError, ValueError, RecursionError) as exc:    # intake parsed it; a newer parser may not
            batch.ignored.append((item.id, f"cannot be parsed any more: {exc}"))
            done.ignored += 1
            return None
        if event is None or event.key != record.key:
            batch.ignored.append((item.id, "the delivery carries nothing to evaluate"))
            done.ignored += 1
            return None
        batch.decided.append(item.id)
        done.decided += 1
        done.lags.append((batch.now - item.received_at).total_seconds())
        return self.service.decide(record, event, item.received_at, item.id, history)

    def _draft_action(self, record, item: Received, batch: Batch, done: Pass, history) -> Step | None:
        """A person's send or discard, or the automatic send, on a draft that must still be pending."""
        action = DraftAction(**json.loads(item.body))
        draft = self.store.draft(action.draft)
        if draft is None or not draft.pending or (draft.platform, draft.key) != (record.platform, record.key):
            batch.ignored.append((item.id, f"draft {action.draft} was already acted on"))
            done.ignored += 1
            return None
        batch.decided.append(item.id)
        done.decided += 1
        done.lags.append((batch.now - item.received_at).total_seconds())
        return self.service.act_on_draft(record, draft, action, item.received_at, item.id, history)

    def _queue_due_drafts(self, now) -> None:
        """Send the drafts nobody acted on in time, as rendered: as deliveries, so a person's action that
        won the race (or another processor's sweep) makes these duplicates, refused by the store."""
        for draft in self.store.drafts_due(now, self.batch):
            self.store.receive(action_delivery(draft, auto_action(draft), draft.send_at))

    def _firing(self, record: TicketRecord, item: DueTimer, batch: Batch, done: Pass, history) -> Step | None:
        timer = record.timers.get(item.name)
        if timer is None or timer.id != item.id:
            return None         # replaced meanwhile: its successor has its own schedule
        matrix = self.service.matrices.for_version(record.state.matrix_version).matrix
        fired, kind = fire(timer, item.at, clocks_for(matrix))
        if kind is None:        # nothing due after all (changed in this batch); keep its schedule right
            rescheduled = record.with_timer(replace(timer))    # a new object: the pass writes it, rescheduled
            return Step(replace(rescheduled, version=record.version + 1))
        done.fired += 1
        done.timer_lags.append((kind.value, (batch.now - item.at).total_seconds()))
        record = record.with_timer(fired)
        event = timer_event(record.platform, record.key, record.snapshot, kind, item.name, item.at)
        return self.service.decide(record, event, item.at, None, history)

    def _set_aside(self, record: TicketRecord, items: list, exc: Exception, now) -> Batch:
        """Log the failure; after ATTEMPTS passes, mark its deliveries failed and stop firing its timers."""
        log.error("cannot decide %s/%s: %s: %s", record.platform, record.key, type(exc).__name__, exc,
                  exc_info=exc, extra=context(platform=record.platform, ticket=record.key))
        part = Batch(now)
        for item in items:
            kind = "delivery" if isinstance(item, Received) else "timer"
            attempts = self._attempts[(kind, item.id)] = self._attempts.get((kind, item.id), 0) + 1
            if attempts < ATTEMPTS:
                continue
            del self._attempts[(kind, item.id)]
            if kind == "delivery":
                part.failed.append((item.id, f"could not be decided: {type(exc).__name__}: {exc}"))
            elif item.name in record.timers:
                part.timers.append(TimerWrite(record.platform, record.key, record.timers[item.name], None))
        return part

    def _significant(self, record: TicketRecord, entry: LogEntry) -> bool:
        """Whether the ticket, as this logged decision left it, meets its matrix's condition for a review."""
        policy = self.service.matrices.for_version(record.state.matrix_version).matrix.reviews
        read = ticket_reader(record.platform, record.key, record.snapshot, EventKind(entry.event_kind), record.state)
        return holds(policy.when, read)

    def _wants(self, version: str) -> Interest:
        matrix = self.service.matrices.for_version(version).matrix
        if matrix.version not in self._interest:
            self._interest[matrix.version] = interest(matrix)
        return self._interest[matrix.version]


def _later(done: Pass, late: float) -> Pass:
    """`done` with its lags counted to the write, `late` seconds after the pass began."""
    done.lags = [lag + late for lag in done.lags]
    done.timer_lags = [(kind, lag + late) for kind, lag in done.timer_lags]
    return done


def _by_ticket(received: list[Received], due: list[DueTimer]) -> dict[tuple[str, str], list]:
    """Each ticket's work in time order: deliveries by arrival, timers by their due point."""
    items = [(d.received_at, 1, d.id, (d.platform, d.ticket_key), d) for d in received]
    items += [(t.at, 0, t.id, (t.platform, t.key), t) for t in due]
    work: dict[tuple[str, str], list] = {}
    for *_, ref, item in sorted(items, key=lambda i: i[:3]):
        work.setdefault(ref, []).append(item)
    return work


def _new_review(record: TicketRecord, entry: LogEntry) -> NewReview:
    decided = [f["rule"] for f in entry.decision.get("trace", ()) if f.get("decided")]
    why = trigger_text(record.state.severity, record.state.level, entry.event_kind, decided)
    return NewReview(record.platform, record.key, entry.at, why, record.state.matrix_version)


class _History:
    """A ticket's log for message templates: read once, only if a template shows it, plus this batch's entries."""

    def __init__(self, store: StoragePort, record: TicketRecord, batch: Batch):
        self.store, self.record, self.batch = store, record, batch
        self._stored: list[dict] | None = None

    def __call__(self) -> list[dict]:
        if self._stored is None:
            self._stored = self.store.timeline(self.record.platform, self.record.key) if self.record.version else []
        ours = [vars(e) for e in self.batch.log if (e.platform, e.key) == (self.record.platform, self.record.key)]
        return self._stored + ours

