"""The wake-up queue: intake on any host tells the processors that a delivery is stored.

Deliveries and outbox rows live in the database; the queue (a Redis list, ESCALATOR_QUEUE_URL)
carries only a nudge. A lost nudge costs one poll interval and Redis being down costs latency,
never a delivery: intake still stores and answers, and processors fall back to polling.
"""
from __future__ import annotations

import logging
import threading
import time

import redis

log = logging.getLogger(__name__)
KEY = "escalator:wake"
MAX_WAITING = 64        # nudges kept: one wakes a processor for a whole batch, so more would only wake it idle
CONNECT_SECONDS = 0.5   # intake answers the platform within this even when Redis is unreachable
RETRY_SECONDS = 1.0     # while Redis is down, how often it is tried again
LONGEST_WAIT = 5.0      # a processor blocks at most this long, so it still notices its stop and due timers


class Doorbell(threading.Event):
    """The processor's doorbell: rings in this process and, with a queue, in every processor's."""

    def __init__(self, queue: WakeQueue | None = None):
        super().__init__()
        self.queue = queue

    def set(self) -> None:
        super().set()
        if self.queue is not None:
            self.queue.push()


class WakeQueue:
    def __init__(self, url: str):
        self.client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_SECONDS,
                                           socket_timeout=CONNECT_SECONDS)
        # BLPOP blocks on the server: its socket waits longer than the longest wait, yet not forever.
        self.waiting = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_SECONDS,
                                            socket_timeout=LONGEST_WAIT + 2)
        self._down = False
        self._retry_at = 0.0        # while down, Redis is tried again only after this (time.monotonic)
        self._lock = threading.Lock()

    def push(self) -> None:
        """Wake one waiting processor; best effort (a failure is logged once until Redis answers again)."""
        if self._resting():
            return
        try:
            with self.client.pipeline(transaction=False) as pipe:
                pipe.lpush(KEY, 1).ltrim(KEY, 0, MAX_WAITING - 1).execute()
        except redis.RedisError as exc:
            self._failed(exc)
            return
        self._answered()

    def wait(self, seconds: float) -> bool | None:
        """Block until a nudge or `seconds`: True if woken, False on time-out, None when Redis is down."""
        if seconds <= 0:
            return False
        if self._resting():
            return None
        try:
            woken = self.waiting.blpop([KEY], timeout=round(min(max(seconds, 0.01), LONGEST_WAIT), 3))
        except redis.RedisError as exc:
            self._failed(exc)
            return None
        self._answered()
        return woken is not None

    def close(self) -> None:
        self.client.close()
        self.waiting.close()

    def _resting(self) -> bool:
        """Whether Redis failed moments ago: a request then skips it, instead of waiting out a connect time-out."""
        return self._down and time.monotonic() < self._retry_at

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if self._down:
                return
            self._down = True
        log.warning("the wake-up queue is unreachable (%s); processors poll the database until it is back", exc)

    def _answered(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.info("the wake-up queue answers again")


def from_url(url: str) -> WakeQueue | None:
    return WakeQueue(url) if url else None
