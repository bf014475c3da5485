"""`escalator serve` as an admin runs it: a real gunicorn server on a real port."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from plugin.webhooks.signatures import sign_jira

from .conftest import RULES
from .test_webhooks import outage_payload

ESCALATOR = str(Path(sys.executable).with_name("escalator"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve(tmp_path):
    processes = []

    def start(*args, **env):
        port = free_port()
        environment = {**os.environ, "ESCALATOR_RULES": str(RULES), "ESCALATOR_DATA_DIR": str(tmp_path / "data"),
                       **env}
        log = open(tmp_path / f"serve-{port}.log", "w")  # noqa: SIM115 - closed at teardown; a file never blocks a chatty server
        process = subprocess.Popen([ESCALATOR, "serve", "--port", str(port), *args], env=environment,
                                   stdout=log, stderr=subprocess.STDOUT, text=True)
        processes.append((process, log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/healthz", timeout=1).status_code == 200:
                    return base
            except (requests.ConnectionError, requests.Timeout):     # not listening yet, or still booting
                time.sleep(0.2)
            if process.poll() is not None:
                pytest.fail(f"serve exited: {(tmp_path / f'serve-{port}.log').read_text()}")
        pytest.fail("serve did not answer /healthz within 30 s")
    yield start
    for process, log in processes:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_serve_accepts_a_signed_jira_delivery_and_shows_the_decision(serve):
    base = serve(ESCALATOR_JIRA_WEBHOOK_SECRET="abc")
    body = json.dumps(outage_payload()).encode()
    answer = requests.post(base + "/webhooks/jira", data=body, timeout=10,
                           headers={"Content-Type": "application/json", "X-Hub-Signature": sign_jira(body, "abc"),
                                    "X-Atlassian-Webhook-Identifier": "e2e-1"})
    assert answer.status_code == 202 and answer.json()["status"] == "accepted"
    ticket = decided(base, "SUP-7")
    assert ticket["level"] == "L1" and ticket["timeline"][0]["trace"][0]["rule"] == "enterprise outage is critical"
    assert ticket["outbox"][0]["status"] == "dry_run"
    assert ticket["outbox"][0]["request"][0]["url"].endswith("/rest/api/3/issue/SUP-7")
    # The worker process decided it; the web worker's /metrics adds up what every process counted.
    metrics = requests.get(base + "/metrics", timeout=10).text
    assert 'escalator_decided_total{kind="delivery"} 1.0' in metrics
    assert "escalator_decision_lag_seconds_count 1.0" in metrics
    assert 'escalator_deliveries_total{platform="jira",status="accepted"} 1.0' in metrics


def decided(base: str, key: str, seconds: float = 5) -> dict:
    """The ticket once the processor decided what was delivered (within a second when idle)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ticket = requests.get(f"{base}/api/tickets/jira/{key}", timeout=5).json()
        if ticket.get("status") == "decided":
            return ticket
        time.sleep(0.1)
    pytest.fail(f"{key} was not decided within {seconds} s")


def test_serve_writes_back_to_jira_from_its_worker(serve, httpserver):
    for path, method in [("/rest/api/3/issue/SUP-7", "PUT"), ("/rest/api/3/issue/SUP-7/assignee", "PUT")]:
        httpserver.expect_request(path, method=method).respond_with_data("", status=204)
    httpserver.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json({"comments": []})
    httpserver.expect_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({}, status=201)
    base = serve(ESCALATOR_JIRA_BASE_URL=httpserver.url_for("/").rstrip("/"), ESCALATOR_JIRA_EMAIL="bot@example.com",
                 ESCALATOR_JIRA_API_TOKEN="tok")
    requests.post(base + "/webhooks/jira", json=outage_payload(), timeout=10)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        statuses = [o["status"] for o in requests.get(base + "/api/tickets/jira/SUP-7", timeout=10).json()["outbox"]]
        if statuses == ["sent"] * 4:
            break
        time.sleep(0.2)
    assert statuses == ["sent"] * 4
    assert [r.method for r, _ in httpserver.log] == ["PUT", "PUT", "GET", "POST", "GET", "POST"]


def test_serve_refuses_a_public_address_without_an_api_token(tmp_path):
    result = subprocess.run([ESCALATOR, "serve", "--host", "0.0.0.0", "--port", str(free_port())],
                            env={**os.environ, "ESCALATOR_API_TOKEN": "", "ESCALATOR_DATA_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "set ESCALATOR_API_TOKEN" in result.stderr


def test_serve_refuses_an_invalid_matrix_with_its_problems(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "matrix.yaml").write_text("severities: {}\nlevels: {}\ntriggers: []\n")
    result = subprocess.run([ESCALATOR, "serve", "--port", str(free_port())],
                            env={**os.environ, "ESCALATOR_RULES": str(rules), "ESCALATOR_DATA_DIR": str(tmp_path)},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "matrix.yaml" in result.stderr and "cannot be used" in result.stderr


def test_serve_restarts_its_worker_when_it_dies(serve):
    base = serve()
    port = base.rsplit(":", 1)[1]
    master = subprocess.run(["pgrep", "-of", f"escalator serve --port {port}"], capture_output=True, text=True)
    child = subprocess.run(["pgrep", "-P", master.stdout.split()[0], "-f", "plugin worker"],
                           capture_output=True, text=True)
    os.kill(int(child.stdout.split()[0]), 9)
    requests.post(base + "/webhooks/jira", json=outage_payload("AFTER-1"), timeout=10)
    assert decided(base, "AFTER-1", seconds=15)["level"] == "L1"     # decided by the worker serve started again
