"""The queue that wakes the worker when a timer falls due (Huey: SQLite by default, Redis to scale out).

The queue holds no state of its own: timers live in the database and a wake-up only says
"look at timer N now". A minutely sweep fires anything a lost wake-up left behind.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from huey import RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer

from .settings import Settings
from .sla import TimerFiring, Wakeup

log = logging.getLogger(__name__)


def make_huey(settings: Settings):
    if settings.queue_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey("escalator", url=settings.queue_url, utc=True)
    path = Path(settings.queue_url.removeprefix("sqlite:///")) if settings.queue_url else \
        Path(settings.data_dir) / "queue.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    # No fsync per wake-up: timers live in the main database, and the minutely sweep fires anything
    # a wake-up lost in a crash would have fired. Syncing each one cost ~2 ms per scheduled wake-up.
    return SqliteHuey("escalator", filename=str(path), utc=True, fsync=False)


class TimerQueue:
    """Schedules wake-ups and, in the worker, runs them through TimerFiring."""

    def __init__(self, huey, firing: TimerFiring | None = None, on_lag=None):
        self.huey, self.firing = huey, firing
        self._wake = huey.task(name="escalator.wake_timer")(self._run_wake)
        self._sweep = huey.periodic_task(crontab(minute="*"), name="escalator.sweep_timers")(self._run_sweep)

    def schedule(self, wakeups: Iterable[Wakeup]) -> None:
        for wakeup in wakeups:
            self._wake.schedule(args=(wakeup.timer_id,), eta=wakeup.at.replace(tzinfo=None))

    def _run_wake(self, timer_id: int) -> None:
        self.schedule(self.firing.fire(timer_id))

    def _run_sweep(self) -> None:
        self.schedule(self.firing.sweep())


class ThreadConsumer(Consumer):
    """A Huey consumer that can run on a background thread (signals belong to the main thread)."""

    def _set_signal_handlers(self):
        pass


def start_consumer(huey, workers: int = 2) -> ThreadConsumer:
    # max_delay: SqliteHuey is polled, and Huey's default back-off lets an idle consumer sleep 10 s.
    consumer = ThreadConsumer(huey, workers=workers, worker_type="thread", scheduler_interval=1, periodic=True,
                              check_worker_health=False, max_delay=0.5)
    consumer.start()
    return consumer
