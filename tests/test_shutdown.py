"""SIGTERM to `escalator serve` mid-stream: what was acknowledged is kept, and decided once it runs again."""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
import sqlalchemy
from werkzeug import Response

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


def test_sigterm_lets_the_write_back_in_flight_land_and_leaves_the_rest_pending(tmp_path, httpserver):
    def slow_jira(request):
        time.sleep(0.3)
        return Response("", status=204) if request.method == "PUT" else \
            Response('{"comments": []}', content_type="application/json")
    httpserver.expect_request("/rest/api/3/issue/SHUT-1", method="PUT").respond_with_handler(slow_jira)
    httpserver.no_handler_status_code = 204
    process, base, _, err = start_serve(tmp_path, ESCALATOR_LOG_FORMAT="json", ESCALATOR_JIRA_EMAIL="bot@example.com",
                                        ESCALATOR_JIRA_API_TOKEN="token",
                                        ESCALATOR_JIRA_BASE_URL=httpserver.url_for("/").rstrip("/"))
    for i in range(1, 20):
        assert _post(base, i).status_code == 202
    wait_for_line(err, lambda line: line["logger"] == "plugin.background")
    while not httpserver.log:       # the outbox is sending (slowly)
        time.sleep(0.05)
    assert stop(process) == 0
    assert "stopped" in [json.loads(line)["message"] for line in err.read_text().splitlines()]
    outbox = _outbox_statuses(tmp_path)
    assert "sending" not in outbox, outbox     # not left for the stuck-row sweep to resend minutes later
    assert outbox["pending"] and len(outbox) > 1     # stopped mid-drain: the rest waits for the restart


def _outbox_statuses(tmp_path) -> dict[str, int]:
    return _pairs(tmp_path, "SELECT status, count(*) FROM outbox GROUP BY status")


def _post(base: str, i: int) -> requests.Response:
    body = json.dumps(outage_payload(f"SHUT-{i}")).encode()
    return requests.post(base + "/webhooks/jira", data=body, timeout=15, headers={
        "Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": f"shut-{i}"})


def _statuses(tmp_path) -> dict[int, str]:
    return _pairs(tmp_path, "SELECT id, status FROM deliveries")


def _pairs(tmp_path, query: str) -> dict:
    """A two-column query on the server's SQLite file, as a dict."""
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'data' / 'escalator.db'}")
    try:
        with engine.connect() as conn:
            return dict(conn.execute(sqlalchemy.text(query)).all())
    finally:
        engine.dispose()
