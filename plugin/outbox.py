"""The outbox worker: sends queued write-backs, retrying with backoff until they land or go dead.

Rows are committed with the delivery that caused them, so a crash loses nothing: a row a dead
worker left in `sending` goes back to `pending` at once (SQLite: the worker taking over; PostgreSQL:
its sender's lock is free), or after a while if its sender is alive but stuck (the sweep); and
writers are idempotent, so a write sent twice leaves the ticket the same. A ticket's rows go out
one at a time in the order they were decided, spaced by the platform's pacing (Jira limits writes
per issue); different tickets' rows go out side by side, a wave at a time. A `Retry-After` holds every write to that
platform, since its rate limits count per account, not per ticket.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from .domain.actions import Action
from .domain.clock import Clock
from .domain.errors import RemoteActionError
from .logs import context

log = logging.getLogger(__name__)
STUCK_AFTER = timedelta(minutes=5)
PASS_ROWS = 50              # rows a pass sends before it looks at the sweep (and at `stop`) again
LANES = 4                   # rows of different tickets sent side by side, claimed and recorded in one commit each
REMEMBERED_WRITES = 1024    # tickets whose last write time is kept for pacing, beyond those still within it


@dataclass
class _Outcome:
    """What became of one row of a wave, recorded with the others in one commit."""
    row: dict
    status: str                         # sent | skipped | dry_run | dead, or pending to try again
    error: str = ""
    retry_at: datetime | None = None
    hold: datetime | None = None        # a Retry-After: every write to the platform waits until then
    next_write: datetime | None = None  # pacing: the ticket's next row waits until then
    attempt: bool = True                # False: never sent (held back), so it used up no attempt


class OutboxWorker:
    def __init__(self, store, clients: Mapping, clock: Clock, *, max_attempts: int = 20,
                 base_delay: float = 2.0, max_delay: float = 900.0, pacing: Mapping[str, float] | None = None,
                 rng: random.Random | None = None, on_result=None, lanes: int = LANES):
        self.store, self.clients, self.clock = store, clients, clock
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.pacing = {platform: seconds for platform, seconds in (pacing or {}).items() if seconds > 0}
        self.rng = rng or random.Random()
        self.on_result = on_result or (lambda platform, status: None)
        self.wake = threading.Event()
        self.holds: dict[str, datetime] = {}                    # platform -> when it lets us write again
        self._holds_lock = threading.Lock()
        self.lanes = max(lanes, 1)
        self._pool: ThreadPoolExecutor | None = None
        self.sender: int | None = None      # PostgreSQL: this worker's id while alive (0: none needed)
        self._last_write: dict[tuple[str, str], datetime] = {}  # (platform, ticket) -> when the last write began

    @classmethod
    def from_settings(cls, store, clients: Mapping, clock: Clock, settings, **options) -> OutboxWorker:
        """A worker with the ESCALATOR_OUTBOX_* retry policy and Jira's per-issue pacing."""
        return cls(store, clients, clock, max_attempts=settings.outbox_max_attempts,
                   base_delay=settings.outbox_base_delay, max_delay=settings.outbox_max_delay,
                   pacing={"jira": settings.jira_issue_write_interval}, lanes=settings.outbox_lanes, **options)

    def take_over(self) -> int:
        """Become the only sender (SQLite's elected worker): rows a dead predecessor left `sending` are free at
        once, not after the sweep's wait, which also holds up each such ticket's later rows. The number freed."""
        with self.store.transaction() as tx:
            freed = tx.release_stuck(self.clock.now() + STUCK_AFTER)
        if freed:
            log.warning("%d write-back(s) left sending by a stopped worker will be sent again", freed)
        return freed

    def run_once(self, limit: int = PASS_ROWS, stop: threading.Event | None = None) -> int:
        """Send what is due now, a wave of rows at a time until `stop` is set; the number of rows attempted."""
        now = self.clock.now()
        if self.sender is None and hasattr(self.store, "register_sender"):
            self.sender = self.store.register_sender() or 0
        with self.store.transaction() as tx:
            tx.release_stuck(now - STUCK_AFTER)
            tx.release_orphans()
        attempted = 0
        while attempted < limit:
            if stop is not None and stop.is_set():     # stopping: the rest stay pending for the restart
                break
            rows = self._claim_wave(now)
            if not rows:
                return attempted
            self._record(self._send_all(rows))
            attempted += len(rows)
        return attempted

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                full = self.run_once(limit=PASS_ROWS, stop=stop) >= PASS_ROWS
            except Exception:      # a database hiccup must not kill the worker thread
                log.exception("outbox pass failed; retrying in %.0fs", interval)
                full = False
            if not full:        # a full pass leaves rows due: a backlog goes out at once, not 50 per interval
                self.wake.wait(interval)
                self.wake.clear()

    # -- a wave: claimed in one transaction, sent side by side, recorded in one transaction ----------

    def _claim_wave(self, now: datetime) -> list[dict]:
        """Up to `lanes` due rows, each of another ticket (a ticket's next row waits behind one `sending`)."""
        rows: list[dict] = []
        with self.store.transaction() as tx:
            self._keep_holds(tx)       # rows queued since a platform said "wait" wait too
            while len(rows) < self.lanes and (row := tx.claim_in_ticket_order(now, self.sender or None)) is not None:
                rows.append(row)
        return rows

    def _send_all(self, rows: list[dict]) -> list[_Outcome]:
        # Side by side: a platform's answer takes far longer than our part, and tickets are independent.
        if len(rows) == 1:
            return [self._send(rows[0])]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.lanes, thread_name_prefix="escalator-outbox-lane")
        return list(self._pool.map(self._send, rows))

    def _send(self, row: dict) -> _Outcome:
        client = self.clients.get(row["platform"])
        if client is None:      # credentials were removed since the row was queued
            return _Outcome(row, "dry_run")
        self._pace(row)
        held = self.holds.get(row["platform"])
        if held is not None and held > self.clock.now():    # another lane was just told to wait
            return _Outcome(row, "pending", "held: the platform asked us to wait", retry_at=held, attempt=False)
        try:
            result = client.apply(Action(row["platform"], row["key"], row["kind"], row["data"]))
        except RemoteActionError as exc:
            self._wrote(row)
            return self._failed(row, exc)
        return _Outcome(row, result.status, next_write=self._wrote(row))

    def _failed(self, row: dict, exc: RemoteActionError) -> _Outcome:
        now = self.clock.now()      # after the answer: a Retry-After counts from when it was given
        retryable = getattr(exc, "retryable", True)
        if not retryable or row["attempts"] >= self.max_attempts:
            log.warning("write-back %s for %s %s is dead after %d attempt(s): %s", row["kind"], row["platform"],
                        row["key"], row["attempts"], exc,
                        extra=context(outbox=row["id"], platform=row["platform"], ticket=row["key"]))
            return _Outcome(row, "dead", str(exc))
        retry_after = getattr(exc, "retry_after", None)
        delay = max(self.backoff(row["attempts"]), retry_after or 0)
        hold = self._note_hold(row["platform"], now + timedelta(seconds=retry_after)) if retry_after else None
        return _Outcome(row, "pending", str(exc), retry_at=now + timedelta(seconds=delay), hold=hold)

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Every outcome of a wave in one commit: the rows finished or rescheduled, and the waits they ask for."""
        with self.store.transaction() as tx:
            now = self.clock.now()
            for o in outcomes:
                tx.finish(o.row["id"], status=o.status, now=now, error=o.error, retry_at=o.retry_at,
                          attempt=o.attempt)
                if o.hold is not None:
                    tx.hold(o.row["platform"], o.hold)
                if o.next_write is not None:      # the ticket's next row waits, whichever worker takes it
                    tx.hold(o.row["platform"], o.next_write, key=o.row["key"])
        for o in outcomes:
            self.on_result(o.row["platform"], "retry" if o.status == "pending" else o.status)

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: about base * 2^(n-1), between half and all of it."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        return ceiling * (0.5 + self.rng.random() / 2)

    # -- what the platform asked of us -----------------------------------------------------------

    def _pace(self, row: dict) -> None:
        """Wait until the ticket's next write may begin: a row queued after the last write ended was not
        held back in the database."""
        spacing = self.pacing.get(row["platform"])
        last = self._last_write.get((row["platform"], row["key"]))
        if spacing and last is not None:
            wait = (last + timedelta(seconds=spacing) - self.clock.now()).total_seconds()
            if wait > 0:
                time.sleep(wait)

    def _wrote(self, row: dict) -> datetime | None:
        """Note that a write to the ticket just ended (spacing counts from there, so a slow answer or the
        note's lookup before it never narrows the gap); when the next may begin, if the platform is paced."""
        spacing = self.pacing.get(row["platform"])
        if not spacing:
            return None
        now = self.clock.now()
        if len(self._last_write) >= REMEMBERED_WRITES:
            horizon = now - timedelta(seconds=spacing)
            self._last_write = {t: when for t, when in self._last_write.items() if when > horizon}
        self._last_write[(row["platform"], row["key"])] = now
        return now + timedelta(seconds=spacing)

    def _note_hold(self, platform: str, until: datetime) -> datetime:
        """Remember a platform's "wait until"; the latest such time (lanes may hear it at once)."""
        with self._holds_lock:
            if until > self.holds.get(platform, until - timedelta(seconds=1)):
                log.info("%s asked to wait: every write to it is held until %s", platform, until.isoformat(),
                         extra=context(platform=platform))
                self.holds[platform] = until
            return self.holds[platform]

    def _keep_holds(self, tx) -> None:
        now = self.clock.now()
        with self._holds_lock:
            for platform, until in list(self.holds.items()):
                if until <= now:
                    del self.holds[platform]
                else:
                    tx.hold(platform, until)


def retry_dead(store, outbox_id: int, now: datetime) -> tuple[bool, str | None]:
    """Put a dead letter back in the queue with a fresh count of attempts: whether it was dead, and the
    row's status now (None if there is no such row)."""
    with store.transaction() as tx:
        requeued = tx.requeue_dead(outbox_id, now)
        return requeued, tx.outbox_status(outbox_id)
