"""The outbox worker: sends queued write-backs, retrying with backoff until they land or go dead.

Rows are committed with the delivery that caused them, so a crash loses nothing: a row left in
`sending` goes back to `pending` after a while (the sweep), and writers are idempotent, so a
write sent twice leaves the ticket the same.
"""
from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping
from datetime import timedelta

from .domain.actions import Action
from .domain.clock import Clock
from .domain.errors import RemoteActionError
from .logs import context

log = logging.getLogger(__name__)
STUCK_AFTER = timedelta(minutes=5)


class OutboxWorker:
    def __init__(self, store, clients: Mapping, clock: Clock, *, max_attempts: int = 8,
                 base_delay: float = 2.0, max_delay: float = 900.0, rng: random.Random | None = None,
                 on_result=None):
        self.store, self.clients, self.clock = store, clients, clock
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.rng = rng or random.Random()
        self.on_result = on_result or (lambda platform, status: None)
        self.wake = threading.Event()

    def run_once(self, limit: int = 50, stop: threading.Event | None = None) -> int:
        """Send what is due now, row by row until `stop` is set; the number of rows attempted."""
        now = self.clock.now()
        with self.store.transaction() as tx:
            tx.release_stuck(now - STUCK_AFTER)
        attempted = 0
        while attempted < limit:       # one row per claim: several workers share a backlog row by row
            if stop is not None and stop.is_set():     # stopping: the rest stay pending for the restart
                break
            with self.store.transaction() as tx:
                row = tx.claim_next(now)
            if row is None:
                return attempted
            self._send(row)
            attempted += 1
        return attempted

    def run_forever(self, stop: threading.Event, interval: float = 1.0) -> None:
        while not stop.is_set():
            try:
                self.run_once(stop=stop)
            except Exception:      # a database hiccup must not kill the worker thread
                log.exception("outbox pass failed; retrying in %.0fs", interval)
            self.wake.wait(interval)
            self.wake.clear()

    def _send(self, row: dict) -> None:
        action = Action(row["platform"], row["key"], row["kind"], row["data"])
        client = self.clients.get(row["platform"])
        now = self.clock.now()
        if client is None:      # credentials were removed since the row was queued
            self._finish(row, "dry_run", "")
            return
        try:
            result = client.apply(action)
        except RemoteActionError as exc:
            self._failed(row, exc, now)
            return
        self._finish(row, result.status, "")

    def _failed(self, row: dict, exc: RemoteActionError, now) -> None:
        retryable = getattr(exc, "retryable", True)
        if not retryable or row["attempts"] >= self.max_attempts:
            log.warning("write-back %s for %s %s is dead after %d attempt(s): %s", row["kind"], row["platform"],
                        row["key"], row["attempts"], exc,
                        extra=context(outbox=row["id"], platform=row["platform"], ticket=row["key"]))
            self._finish(row, "dead", str(exc))
            return
        delay = max(self.backoff(row["attempts"]), getattr(exc, "retry_after", None) or 0)
        with self.store.transaction() as tx:
            tx.finish(row["id"], status="pending", now=now, error=str(exc), retry_at=now + timedelta(seconds=delay))
        self.on_result(row["platform"], "retry")

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with jitter: about base * 2^(n-1), between half and all of it."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(attempts - 1, 0))
        return ceiling * (0.5 + self.rng.random() / 2)

    def _finish(self, row: dict, status: str, error: str) -> None:
        with self.store.transaction() as tx:
            tx.finish(row["id"], status=status, now=self.clock.now(), error=error)
        self.on_result(row["platform"], status)

