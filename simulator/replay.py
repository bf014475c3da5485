"""Replay deliveries on a virtual clock through production's intake and processor.

Time jumps from one delivery or due timer to the next; nothing sleeps and nothing reads the wall
clock. The store is in memory; write-backs and messages are recorded as dry-run, never sent.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from plugin.comms import CommsSettings
from plugin.domain.clock import FixedClock
from plugin.domain.errors import AnomalousPayload
from plugin.engine import Evaluator
from plugin.intake import ingest
from plugin.matrix import load_matrix
from plugin.notify import Notifier
from plugin.platforms import PLATFORMS
from plugin.processor import Processor
from plugin.service import EscalationService
from plugin.store.memory import MemoryStore

# Timers still running after the last delivery are followed this far, then the replay stops:
# a recurring update cadence would otherwise tick forever.
TAIL = timedelta(days=2)


class OneMatrix:
    """Every ticket of a replay is decided by the one matrix under test."""

    def __init__(self, evaluator: Evaluator):
        self.evaluator = evaluator

    def __call__(self) -> Evaluator:
        return self.evaluator

    def for_version(self, version: str) -> Evaluator:
        return self.evaluator


class NoRequests:
    """A replay records what it would write, not the HTTP requests that would carry it."""

    def requests_for(self, action) -> list:
        return []


@dataclass
class Replay:
    store: MemoryStore
    matrix: Evaluator
    started: datetime
    ended: datetime
    deliveries: int = 0
    duplicates: int = 0
    ignored: int = 0
    rejected: int = 0
    timer_firings: int = 0

    @property
    def events(self) -> int:
        return self.deliveries - self.duplicates - self.ignored - self.rejected + self.timer_firings


def replay(deliveries: Iterable, rules: str | Path, *, engine: str = "durable", until: datetime | None = None,
           progress: Callable[[int], None] | None = None, lean: bool = False, consume: bool = False) -> Replay:
    """Run `deliveries` (sorted or not) through the matrix in `rules` on a virtual clock.

    `lean` is for summaries and rule-change diffs of many incidents: messages are decided (who,
    which channel, withheld or not) but not written, and the store keeps no texts or trace values.
    With `consume`, the list given is emptied and each delivery let go once stored, so a month of
    generated bodies is not held for the whole replay.
    """
    given, deliveries = deliveries, deque(sorted(deliveries, key=lambda d: d.at))
    if consume:
        given.clear()
    if not deliveries:
        raise ValueError("nothing to replay: no deliveries")
    pipeline = Pipeline(Evaluator(load_matrix(rules), engine), deliveries[0].at, lean=lean)
    result = Replay(pipeline.store, pipeline.evaluator, deliveries[0].at, until or deliveries[-1].at + TAIL)
    while deliveries and deliveries[0].at <= result.ended:
        pipeline.settle(deliveries[0].at, before=True)
        while deliveries and deliveries[0].at <= pipeline.clock.current:
            _count(pipeline.deliver(deliveries.popleft()), result)
            if progress:
                progress(1)
        pipeline.drain()
    pipeline.settle(result.ended)
    result.timer_firings, result.ignored = pipeline.fired, result.ignored + pipeline.ignored
    return result


class Pipeline:
    """Production's intake and processor on a virtual clock and an in-memory store: what replays and
    drills run on. Time moves only when told; nothing reads the wall clock and nothing is sent."""

    def __init__(self, evaluator: Evaluator, start: datetime, *, lean: bool = False):
        self.evaluator, self.clock, self.store = evaluator, FixedClock(start), MemoryStore(lean=lean)
        service = EscalationService(OneMatrix(evaluator), {p: NoRequests() for p in PLATFORMS}, live_platforms=set(),
                                    notifier=Notifier(CommsSettings(), {}, render=not lean))
        self.processor = Processor(self.store, service, self.clock)
        self.fired = self.ignored = 0

    def settle(self, end: datetime, *, before: bool = False) -> None:
        """Fire every timer due by `end` (strictly before it with `before`), then stand at `end`."""
        while (due := self.store.next_timer_at()) is not None and (due < end if before else due <= end):
            self.clock.current = max(self.clock.current, due)
            self.drain()
        self.clock.current = max(self.clock.current, end)

    def deliver(self, delivery) -> str:
        """Take one delivery as the webhook would at its time: accepted, duplicate, ignored or rejected."""
        self.clock.current = max(self.clock.current, delivery.at)
        try:
            return ingest(self.store, delivery.platform, delivery.body, delivery.headers, delivery.at).status
        except AnomalousPayload:
            return "rejected"

    def drain(self) -> None:
        """Decide everything stored and due now."""
        while done := self.processor.run_once():
            self.fired += done.fired
            self.ignored += done.ignored


def _count(status: str, result: Replay) -> None:
    result.deliveries += 1
    result.duplicates += status == "duplicate"
    result.ignored += status == "ignored"
    result.rejected += status == "rejected"
