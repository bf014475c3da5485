"""Replay deliveries on a virtual clock through production's parsers, service and timers.

Time jumps from one delivery or timer wake-up to the next; nothing sleeps and nothing reads the
wall clock. Write-backs and messages are recorded in the outbox as dry-run, never sent.
"""
from __future__ import annotations

import heapq
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from plugin import bootstrap
from plugin.comms import CommsSettings
from plugin.domain.clock import FixedClock
from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.platforms import dedupe_key, parse
from plugin.settings import Settings

from .store import MemoryStore

# Timers still running after the last delivery are followed this far, then the replay stops:
# a recurring update cadence would otherwise tick forever.
TAIL = timedelta(days=2)
_DELIVERY, _WAKEUP = 0, 1


class VirtualScheduler:
    """The in-memory stand-in for the Huey queue: wake-ups in time order."""

    def __init__(self):
        self.queue: list = []
        self._order = itertools.count()

    def schedule(self, wakeups) -> None:
        for wakeup in wakeups:
            heapq.heappush(self.queue, (wakeup.at, _WAKEUP, next(self._order), wakeup.timer_id))

    def add_delivery(self, delivery) -> None:
        heapq.heappush(self.queue, (delivery.at, _DELIVERY, next(self._order), delivery))


class _NoMetrics:
    """A replay has no scraper; Prometheus metrics would also stamp creation times from the wall clock."""

    def timer_fired(self, event: str, timer: str, lag_seconds: float) -> None:
        pass


@dataclass
class Replay:
    store: MemoryStore
    container: bootstrap.Container
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
           progress: Callable[[int], None] | None = None) -> Replay:
    """Run `deliveries` (sorted or not) through the matrix in `rules` on a virtual clock."""
    deliveries = sorted(deliveries, key=lambda d: d.at)
    if not deliveries:
        raise ValueError("nothing to replay: no deliveries")
    with tempfile.TemporaryDirectory(prefix="escalator-replay-") as data_dir:   # for matrices rebuilt from storage
        return _run(deliveries, rules, engine, until, progress, data_dir)


def _run(deliveries, rules, engine, until, progress, data_dir) -> Replay:
    clock = FixedClock(deliveries[0].at)
    scheduler = VirtualScheduler()
    store = MemoryStore()
    container = bootstrap.build(Settings(rules=str(rules), engine=engine, data_dir=data_dir), clock=clock,
                                store=store, clients={}, comms=CommsSettings(), scheduler=scheduler,
                                metrics=_NoMetrics())
    for delivery in deliveries:
        scheduler.add_delivery(delivery)
    stop_at = until or deliveries[-1].at + TAIL
    result = Replay(store, container, deliveries[0].at, stop_at)
    while scheduler.queue and scheduler.queue[0][0] <= stop_at:
        at, kind, _, item = heapq.heappop(scheduler.queue)
        clock.current = max(clock.current, at)
        if kind == _DELIVERY:
            _deliver(container, scheduler, item, result)
            if progress:
                progress(1)
        else:
            result.timer_firings += 1
            scheduler.schedule(container.firing.fire(item))
    return result


def _deliver(container, scheduler: VirtualScheduler, delivery, result: Replay) -> None:
    result.deliveries += 1
    try:
        event = parse(delivery.platform, json.loads(delivery.body), delivery.headers)
    except UnsupportedEvent:
        result.ignored += 1
        return
    except (AnomalousPayload, ValueError):
        result.rejected += 1
        return
    if event is None:
        result.ignored += 1
        return
    with container.store.transaction() as tx:
        delivery_id = tx.record_delivery(platform=delivery.platform,
                                         dedupe_key=dedupe_key(delivery.platform, delivery.headers, delivery.body))
        if delivery_id is None:
            result.duplicates += 1
            return
        outcome = container.service.handle(tx, event, delivery_id)
    scheduler.schedule(outcome.wakeups)
