"""The timer queue on both backends it supports: SQLite (embedded) and Redis (scaled out)."""
import os
from datetime import UTC, datetime, timedelta

import pytest

from plugin.queue import TimerQueue, make_huey
from plugin.sla import Wakeup

REDIS_URL = os.environ.get("ESCALATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


class RecordingFiring:
    def __init__(self):
        self.fired = []

    def fire(self, timer_id):
        self.fired.append(timer_id)
        return []


def redis_or_skip() -> str:
    import redis
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"Redis is required in CI at {REDIS_URL}: {exc}") from exc
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture(params=["sqlite", "redis"])
def huey(request, settings_for):
    queue_url = redis_or_skip() if request.param == "redis" else ""
    huey = make_huey(settings_for(queue_url=queue_url))
    huey.flush()
    yield huey
    huey.flush()


def test_a_wake_up_waits_in_the_schedule_until_due_then_fires_its_timer(huey):
    firing = RecordingFiring()
    queue = TimerQueue(huey, firing)
    queue.schedule([Wakeup(42, datetime.now(UTC) + timedelta(minutes=5)), Wakeup(7, datetime.now(UTC))])
    later, due = sorted(huey.pending(), key=lambda t: t.args)[::-1]
    assert (later.args, due.args) == ((42,), (7,))
    huey.execute(later)            # not due: the consumer parks it in the schedule
    assert [t.args for t in huey.scheduled()] == [(42,)] and firing.fired == []
    huey.execute(due)
    assert firing.fired == [7]


def test_the_backend_follows_the_queue_url(settings_for):
    from huey import RedisHuey, SqliteHuey
    assert isinstance(make_huey(settings_for()), SqliteHuey)
    assert isinstance(make_huey(settings_for(queue_url="redis://127.0.0.1:6379/14")), RedisHuey)
