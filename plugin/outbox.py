"""The outbox worker: sends queued write-backs, retrying with backoff until they land or go dead.

Rows are committed with the delivery that caused them, so a crash loses nothing: a row left in
`sending` goes back to `pending` after a while (the sweep), and writers are idempotent, so a
write sent twice leaves the ticket the same. A ticket's rows go out one at a time in the order
they were decided, spaced by the platform's pacing (Jira limits writes per issue); a `Retry-After`
holds every write to that platform, since its rate limits count per account, not per ticket.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from .domain.actions import Action
from .domain.clock import Clock
from .domain.errors import RemoteActionError
from .logs import context

log = logging.getLogger(__name__)
STUCK_AFTER = timedelta(minutes=5)
PASS_ROWS = 50              # rows a pass sends before it looks at the sweep (and at `stop`) again
REMEMBERED_WRITES = 1024    # tickets whose last write time is kept for pacing, beyond those still within it


class OutboxWorker:
    def __init__(self, store, clients: Mapping, clock: Clock, *, max_attempts: int = 20,
                 base_delay: float = 2.0, max_delay: float = 900.0, pacing: Mapping[str, float] | None = None,
                 rng: random.Random | None = None, on_result=None):
        self.store, self.clients, self.clock = store, clients, clock
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.pacing = {platform: seconds for platform, seconds in (pacing or {}).items() if seconds > 0}
        self.rng = rng or random.Random()
        self.on_result = on_result or (lambda platform, status: None)
        self.wake = threading.Event()
        self.holds: dict[str, datetime] = {}                    # platform -> when it lets us write again
        self._last_write: dict[tuple[str, str], datetime] = {}  # (platform, ticket) -> when the last write began

    @classmethod
    def from_settings(cls, store, clients: Mapping, clock: Clock, settings, **options) -> OutboxWorker:
        """A worker with the ESCALATOR_OUTBOX_* retry policy and Jira's per-issue pacing."""
        return cls(store, clients, clock, max_attempts=settings.outbox_max_attempts,
                   base_delay=settings.outbox_base_delay, max_delay=settings.outbox_max_delay,
                   pacing={"jira": settings.jira_issue_write_interval}, **options)

    def take_over(self) -> int:
        """Become the only sender (SQLite's elected worker): rows a dead predecessor left `sending` are free at
        once, not after the sweep's wait, which also holds up each such ticket's later rows. The number freed."""
        with self.store.transaction() as tx:
            freed = tx.release_stuck(self.clock.now() + STUCK_AFTER)
        if freed:
            log.warning("%d write-back(s) left sending by a stopped worker will be sent again", freed)
        return freed

    def run_once(self, limit: int = PASS_ROWS, stop: threading.Event | None = None) -> int:
        """Send what is due now, row by row until `stop` is set; the number of rows attempted."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.release_stuck(now - STUCK_AFTER)
        attempted = 0
        while attempted < limit:       # one row per claim: several workers share a backlog row by row
            if stop is not None and stop.is_set():     # stopping: the rest stay pending for the restart
                break
            with self.store.transaction() as tx:
                self._keep_holds(tx)       # rows queued since a platform said "wait" wait too
                row = tx.claim_in_ticket_order(now)
            if row is None:
                return attempted
            self._send(row)
            attempted += 1
        return attempted

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                full = self.run_once(limit=PASS_ROWS, stop=stop) == PASS_ROWS
            except Exception:      # a database hiccup must not kill the worker thread
                log.exception("outbox pass failed; retrying in %.0fs", interval)
                full = False
            if not full:        # a full pass leaves rows due: a backlog goes out at once, not 50 per interval
                self.wake.wait(interval)
                self.wake.clear()

    def _send(self, row: dict) -> None:
        action = Action(row["platform"], row["key"], row["kind"], row["data"])
        client = self.clients.get(row["platform"])
        if client is None:      # credentials were removed since the row was queued
            self._finish(row, "dry_run", "")
            return
        self._pace(row)
        try:
            result = client.apply(action)
        except RemoteActionError as exc:
            self._wrote(row)
            self._failed(row, exc)
            return
        self._finish(row, result.status, "", paced=True)

    def _failed(self, row: dict, exc: RemoteActionError) -> None:
        now = self.clock.now()      # after the answer: a Retry-After counts from when it was given
        retryable = getattr(exc, "retryable", True)
        if not retryable or row["attempts"] >= self.max_attempts:
            log.warning("write-back %s for %s %s is dead after %d attempt(s): %s", row["kind"], row["platform"],
                        row["key"], row["attempts"], exc,
                        extra=context(outbox=row["id"], platform=row["platform"], ticket=row["key"]))
            self._finish(row, "dead", str(exc))
            return
        retry_after = getattr(exc, "retry_after", None)
        delay = max(self.backoff(row["attempts"]), retry_after or 0)
        with self.store.transaction() as tx:
            tx.finish(row["id"], status="pending", now=now, error=str(exc), retry_at=now + timedelta(seconds=delay))
            if retry_after:
                self._hold_platform(tx, row["platform"], now + timedelta(seconds=retry_after))
        self.on_result(row["platform"], "retry")

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: about base * 2^(n-1), between half and all of it."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        return ceiling * (0.5 + self.rng.random() / 2)

    def _finish(self, row: dict, status: str, error: str, *, paced: bool = False) -> None:
        with self.store.transaction() as tx:
            tx.finish(row["id"], status=status, now=self.clock.now(), error=error)
            next_write = self._wrote(row) if paced else None
            if next_write is not None:      # the ticket's next row waits, whichever worker takes it
                tx.hold(row["platform"], next_write, key=row["key"])
        self.on_result(row["platform"], status)

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

    def _hold_platform(self, tx, platform: str, until: datetime) -> None:
        if until > self.holds.get(platform, until - timedelta(seconds=1)):
            log.info("%s asked to wait: every write to it is held until %s", platform, until.isoformat(),
                     extra=context(platform=platform))
            self.holds[platform] = until
        tx.hold(platform, self.holds[platform])

    def _keep_holds(self, tx) -> None:
        now = self.clock.now()
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
