"""SIGTERM to `escalator serve` mid-stream: what was acknowledged is kept, and decided once it runs again."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy

from .test_logs import start_serve, stop, wait_for_line
from .test_webhooks import outage_payload

SENDERS = 6
TERM_AFTER = 60     # deliveries acknowledged in the stream before the signal


def test_sigterm_mid_stream_keeps_every_acknowledged_delivery_and_decides_it_after_a_restart(tmp_path):
    process, base, _, err = start_serve(tmp_path, "--workers", "2", ESCALATOR_LOG_FORMAT="json")
    assert _post(base, 0).status_code == 202
    wait_for_line(err, lambda line: line["logger"] == "plugin.background")     # the worker process is deciding
    acknowledged, refused, other = {}, [], []
    enough = threading.Event()

    def send(i: int) -> None:
        try:
            answer = _post(base, i)
        except requests.RequestException as exc:    # after the signal: no longer listening; the sender retries
            refused.append(exc)
            return
        if answer.status_code != 202:
            other.append(answer)
            return
        acknowledged[answer.json()["delivery"]] = f"SHUT-{i}"
        if len(acknowledged) >= TERM_AFTER:
            enough.set()

    with ThreadPoolExecutor(SENDERS) as senders:
        for i in range(1, 1000):
            senders.submit(send, i)
        enough.wait(60)
        signalled = time.monotonic()
        status = stop(process)      # SIGTERM while senders still have requests in flight
        stopped_in = time.monotonic() - signalled
    assert status == 0 and stopped_in < 30
    assert refused, "the stream ended before the signal: nothing was in flight"
    assert not other, [(answer.status_code, answer.text) for answer in other]
    lines = [json.loads(line) for line in err.read_text().splitlines()]
    assert [line["message"] for line in lines if line["logger"] == "plugin.worker"] == [
        "stopping: the pass in flight commits first", "stopped"]

    assert set(acknowledged) <= set(_statuses(tmp_path)), "a delivery answered 202 is missing"
    restarted, *_ = start_serve(tmp_path)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "received" in {_statuses(tmp_path)[d] for d in acknowledged}:
            time.sleep(0.2)
    finally:
        stop(restarted)
    assert {_statuses(tmp_path)[d] for d in acknowledged} == {"decided"}


def _post(base: str, i: int) -> requests.Response:
    body = json.dumps(outage_payload(f"SHUT-{i}")).encode()
    return requests.post(base + "/webhooks/jira", data=body, timeout=15, headers={
        "Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": f"shut-{i}"})


def _statuses(tmp_path) -> dict[int, str]:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'data' / 'escalator.db'}")
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sqlalchemy.text("SELECT id, status FROM deliveries")).all())
    finally:
        engine.dispose()
