"""The Redis wake-up queue: intake nudges, processors block on it, and Redis down changes nothing but latency."""
import logging
import os
import threading
import time

import pytest
import redis

from plugin.queue import KEY, MAX_WAITING, WakeQueue
from plugin.settings import Settings, SettingsError

from .test_serve import free_port
from .test_webhooks import SECRET, outage_payload, post_jira

REDIS_URL = os.environ.get("ESCALATOR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_or_skip() -> str:
    """A Redis URL; in CI a missing server fails the run instead of skipping."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"Redis is required in CI at {REDIS_URL}: {exc}") from exc
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def queue():
    made = WakeQueue(redis_or_skip())
    made.client.delete(KEY)
    yield made
    made.client.delete(KEY)
    made.close()


@pytest.fixture
def unreachable():
    made = WakeQueue(f"redis://127.0.0.1:{free_port()}/0")
    yield made
    made.close()


def test_a_nudge_wakes_a_waiting_processor_at_once(queue):
    threading.Timer(0.2, queue.push).start()
    started = time.monotonic()
    assert queue.wait(4.0) is True
    assert time.monotonic() - started < 2.0


def test_without_a_nudge_the_wait_times_out(queue):
    assert queue.wait(0.2) is False


def test_nudges_are_capped_since_one_wakes_a_processor_for_a_whole_batch(queue):
    for _ in range(MAX_WAITING + 10):
        queue.push()
    assert queue.client.llen(KEY) == MAX_WAITING


def test_redis_down_is_logged_once_and_never_raises(unreachable, caplog):
    with caplog.at_level(logging.WARNING, logger="plugin.queue"):
        unreachable.push()
        unreachable.push()
        assert unreachable.wait(0.5) is None
    assert len([r for r in caplog.records if "unreachable" in r.message]) == 1


def test_while_redis_is_down_it_is_tried_again_only_every_second(unreachable, monkeypatch):
    unreachable.push()
    tried = []
    monkeypatch.setattr(unreachable.client, "pipeline", lambda **_: tried.append(1))
    unreachable.push()
    assert unreachable.wait(0.5) is None and tried == []


def test_intake_stores_and_answers_202_while_redis_is_down(make_app):
    client = make_app(jira_webhook_secret=SECRET, queue_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    answer = post_jira(client, outage_payload())
    assert answer.status_code == 202 and answer.json["status"] == "accepted"
    assert client.get("/api/tickets/jira/SUP-7").json["level"] == "L1"


def test_a_processor_falls_back_to_polling_while_redis_is_down(make_app):
    app = make_app(queue_url=f"redis://127.0.0.1:{free_port()}/0")
    processor = app.extensions["escalator"].processor
    started = time.monotonic()
    processor._idle()
    assert time.monotonic() - started < 0.9      # the database poll, not the queue's longer wait


def test_intake_nudges_the_queue_for_an_accepted_delivery(make_app, queue):
    client = make_app(jira_webhook_secret=SECRET, queue_url=REDIS_URL).test_client()
    post_jira(client, outage_payload())
    assert queue.wait(1.0) is True


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://cache.example.com:6380/1"])
def test_the_queue_url_is_a_redis_url(url):
    assert Settings.from_env({"ESCALATOR_QUEUE_URL": url}).queue_url == url


def test_a_queue_url_of_another_kind_is_refused():
    with pytest.raises(SettingsError, match="ESCALATOR_QUEUE_URL"):
        Settings.from_env({"ESCALATOR_QUEUE_URL": "amqp://127.0.0.1/"})
