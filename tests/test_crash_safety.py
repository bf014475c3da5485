"""SIGKILL while deliveries wait to be decided: after a restart every delivery answered 202 is
decided, exactly once. The real `escalator serve`, the real SQLite file, a real kill."""
import json
import os
import signal
import subprocess
import time
from collections import Counter

import requests

from plugin.store.sql import SqlStore

from .conftest import RULES
from .test_serve import ESCALATOR, free_port
from .test_webhooks import outage_payload

DELIVERIES = 1000


def start(tmp_path, port, *args):
    env = {**os.environ, "ESCALATOR_RULES": str(RULES), "ESCALATOR_DATA_DIR": str(tmp_path / "data")}
    with open(tmp_path / f"serve-{time.monotonic_ns()}.log", "w") as log:     # the child keeps its own copy
        process = subprocess.Popen([ESCALATOR, "serve", "--port", str(port), *args], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return process, base
        except (requests.ConnectionError, requests.Timeout):     # not listening yet, or still booting
            time.sleep(0.1)
    raise AssertionError("serve did not start")


def deliveries_by_status(tmp_path) -> Counter:
    store = SqlStore(f"sqlite:///{tmp_path}/data/escalator.db")
    with store.reading() as tx:
        found = Counter(status for status, in tx.conn.exec_driver_sql("SELECT status FROM deliveries"))
    store.dispose()
    return found


def test_a_kill_mid_processing_loses_no_delivery_and_decides_none_twice(tmp_path):
    port = free_port()
    intake, base = start(tmp_path, port, "--no-worker")       # stored, not decided: a backlog to crash into
    with requests.Session() as http:
        accepted = [http.post(base + "/webhooks/jira", data=json.dumps(outage_payload(f"CRASH-{n}")),
                              headers={"Content-Type": "application/json",
                                       "X-Atlassian-Webhook-Identifier": f"crash-{n}"}, timeout=10).json()["delivery"]
                    for n in range(DELIVERIES)]
    intake.terminate()
    intake.wait(timeout=20)
    server, base = start(tmp_path, port)
    while requests.get(base + "/healthz", timeout=5).json()["backlog"] == DELIVERIES:
        time.sleep(0.01)
    os.killpg(server.pid, signal.SIGKILL)       # gunicorn's master and its worker, in the middle of the backlog
    server.wait(timeout=10)
    at_the_kill = deliveries_by_status(tmp_path)
    assert at_the_kill["received"] > 0, f"nothing was left to decide at the kill: {at_the_kill}"
    server, base = start(tmp_path, port)
    try:
        deadline = time.monotonic() + 90
        while requests.get(base + "/healthz", timeout=5).json()["backlog"] and time.monotonic() < deadline:
            time.sleep(0.2)
        store = SqlStore(f"sqlite:///{tmp_path}/data/escalator.db")
        with store.reading() as tx:
            decisions = Counter(row[0] for row in tx.conn.exec_driver_sql(
                "SELECT delivery_id FROM escalation_log WHERE delivery_id IS NOT NULL"))
        store.dispose()
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert deliveries_by_status(tmp_path) == {"decided": DELIVERIES}
    assert sorted(decisions) == sorted(accepted) and set(decisions.values()) == {1}
