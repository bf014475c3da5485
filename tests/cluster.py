"""Real processes against fake platforms: a fake Jira or Zendesk that records every request, signed
deliveries in the platforms' shapes, and the waits and reads that check what the processes did."""
import contextlib
import json
import os
import random
import socket
import struct
import subprocess
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests
from sqlalchemy import create_engine, func, select

from plugin.domain.actions import Action
from plugin.platforms import build_clients
from plugin.platforms.zendesk import sign_zendesk
from plugin.settings import Settings
from plugin.store.schema import deliveries, outbox, timers
from plugin.webhooks.signatures import sign_jira

from .conftest import FIXTURES, scratch_postgres
from .test_serve import ESCALATOR, free_port
from .test_webhooks import outage_payload

SECRET = "multi-secret"
QUIET_SECONDS = 2.0     # waited after everything settled, so a late duplicate would still show
SOON = timedelta(seconds=30)


@dataclass(frozen=True)
class Faults:
    """A seeded random mix of failures, each a share of requests: 429 with a Retry-After of whole seconds,
    500, 502, an answer only after `hang` seconds (past the client's read timeout), a reset connection,
    a success `slow_by` seconds late."""
    seed: int = 0
    throttle: float = 0.0
    retry_after: tuple[int, ...] = (1, 2)
    server_error: float = 0.0
    bad_gateway: float = 0.0
    timeout: float = 0.0
    hang: float = 0.0
    reset: float = 0.0
    slow: float = 0.0
    slow_by: float = 0.3

    def pick(self, rng: random.Random) -> str:
        """One request's fate: a fault's name, or "ok"."""
        roll = rng.random()
        for name in ("throttle", "server_error", "bad_gateway", "timeout", "reset", "slow"):
            roll -= getattr(self, name)
            if roll < 0:
                return name
        return "ok"


@dataclass
class Seen:
    """A request as the fake saw it: when it arrived, when it was answered, and how."""
    at: float
    method: str
    path: str
    body: str
    answer: int | str = 0       # the status, or "timeout" / "reset" when the client got none
    done: float = 0.0
    retry_after: int | None = None

    @property
    def applied(self) -> bool:
        """A write the platform took and said so."""
        return self.method != "GET" and isinstance(self.answer, int) and self.answer < 300


class FakePlatform:
    """Jira or Zendesk for the outbox: records each request; answers every one with success unless
    given `faults`, or while `outage()` keeps it down."""

    def __init__(self, faults: Faults | None = None):
        self.requests: list[tuple[str, str, str]] = []     # (method, path, canonical JSON body)
        self.seen: list[Seen] = []
        self.faults = faults
        self.rng = random.Random(faults.seed if faults else 0)
        self.lock = threading.Lock()
        self.unavailable_until = 0.0        # answering 503 until then (an outage that still answers)
        self.reopening: threading.Timer | None = None
        self.server = self._serve(0)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def _serve(self, port: int) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def writes(self) -> Counter:
        with self.lock:
            return Counter(r for r in self.requests if r[0] != "GET")

    def applied(self) -> Counter:
        """The writes answered with success, each (method, path, body) as often as it was."""
        with self.lock:
            return Counter((s.method, s.path, s.body) for s in self.seen if s.applied)

    def outage(self, seconds: float, *, refuse: bool = True) -> None:
        """Down for `seconds`: connections refused (the port closed), or else every request answered 503."""
        if not refuse:
            self.unavailable_until = time.time() + seconds
            return
        port = self.server.server_address[1]
        self._stop()
        self.reopening = threading.Timer(seconds, lambda: setattr(self, "server", self._serve(port)))
        self.reopening.start()

    def _fate(self) -> str:
        if time.time() < self.unavailable_until:
            return "unavailable"
        if self.faults is None:
            return "ok"
        with self.lock:
            return self.faults.pick(self.rng)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(time.time(), self.command, urlsplit(self.path).path, _canonical(body))
                with fake.lock:
                    fake.requests.append((seen.method, seen.path, seen.body))
                    fake.seen.append(seen)
                fate = fake._fate()
                if fate == "reset":
                    seen.answer, seen.done = "reset", time.time()
                    self._reset()
                    return
                if fate in ("timeout", "slow"):
                    time.sleep(fake.faults.hang if fate == "timeout" else fake.faults.slow_by)
                status, headers = _FAULT_ANSWERS.get(fate, (200, {}))
                if fate == "throttle":
                    seen.retry_after = fake.rng.choice(fake.faults.retry_after)
                    headers = {"Retry-After": str(seen.retry_after)}
                if self.command == "GET" and status == 200:
                    answer = json.dumps({"comments": []}).encode()
                else:
                    answer = json.dumps({} if status == 200 else {"errorMessages": [f"fake {fate}"]}).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", "Content-Length": str(len(answer)),
                                    **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(OSError):      # a client that timed out has gone
                    self.wfile.write(answer)
                seen.answer, seen.done = ("timeout" if fate == "timeout" else status), time.time()

            def _reset(self):
                """Close without an answer, with a RST rather than a clean end of stream."""
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
                self.close_connection = True

            do_GET = do_PUT = do_POST = _answer

            def log_message(self, *args):
                pass
        return Handler

    def _stop(self):
        self.server.shutdown()
        self.server.server_close()

    def close(self):
        if self.reopening is not None:
            self.reopening.cancel()
        self._stop()


_FAULT_ANSWERS = {"throttle": (429, {}), "server_error": (500, {}), "bad_gateway": (502, {}),
                  "unavailable": (503, {})}


def _canonical(body: bytes) -> str:
    return json.dumps(json.loads(body), sort_keys=True) if body else ""


@pytest.fixture
def database():
    """A database of our own on the test PostgreSQL server, dropped afterwards."""
    with scratch_postgres("escalator_multi") as url:
        yield url


@pytest.fixture
def fakes():
    jira, zendesk = FakePlatform(), FakePlatform()
    yield jira, zendesk
    jira.close()
    zendesk.close()


def platform_env(database: str, rules, jira: "FakePlatform", zendesk: "FakePlatform", **extra: str) -> dict:
    """The environment of every process: one database, one matrix, the fakes as Jira and Zendesk."""
    return {**os.environ, "ESCALATOR_DATABASE_URL": database, "ESCALATOR_RULES": str(rules),
            "ESCALATOR_JIRA_WEBHOOK_SECRET": SECRET, "ESCALATOR_ZENDESK_WEBHOOK_SECRET": SECRET,
            "ESCALATOR_JIRA_BASE_URL": jira.url, "ESCALATOR_JIRA_EMAIL": "bot@example.com",
            "ESCALATOR_JIRA_API_TOKEN": "tok", "ESCALATOR_ZENDESK_BASE_URL": zendesk.url,
            "ESCALATOR_ZENDESK_EMAIL": "bot@example.com", "ESCALATOR_ZENDESK_API_TOKEN": "tok",
            "ESCALATOR_API_TOKEN": "", **extra}


@contextmanager
def running_cluster(tmp_path: Path, env: dict, *, instances: int = 2, workers: int = 2):
    """`instances` × `serve --no-worker` and `workers` × `escalator worker` on the database in `env`;
    yields their base URLs and an engine on that database, and stops every process afterwards."""
    subprocess.run([ESCALATOR, "db", "upgrade"], env={**env, "ESCALATOR_DATA_DIR": str(tmp_path / "admin")},
                   check=True, capture_output=True, timeout=60)
    processes, bases = [], []

    def spawn(name: str, *args: str) -> None:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed at teardown
        processes.append((subprocess.Popen([ESCALATOR, *args], stdout=log, stderr=subprocess.STDOUT,
                                           env={**env, "ESCALATOR_DATA_DIR": str(tmp_path / name)}), log))

    try:
        for n in range(1, instances + 1):
            port = free_port()
            spawn(f"serve-{n}", "serve", "--no-worker", "--port", str(port))
            bases.append(f"http://127.0.0.1:{port}")
        for n in range(1, workers + 1):
            spawn(f"worker-{n}", "worker", "--interval", "0.2")
        for base in bases:
            _wait_healthy(base, processes, tmp_path)
        if env.get("ESCALATOR_QUEUE_URL"):      # every worker idle on the queue, not on a poll of the database
            wait_until(lambda: _blocked_on_queue(env["ESCALATOR_QUEUE_URL"]) >= workers, 30, "waiting on Redis")
        engine = create_engine(env["ESCALATOR_DATABASE_URL"])
        yield bases, engine
        engine.dispose()
    finally:        # also when starting failed: no process outlives its test
        for process, _log in processes:
            process.terminate()
        for process, log in processes:
            process.wait(timeout=20)
            log.close()


def _blocked_on_queue(url: str) -> int:
    with redis.Redis.from_url(url) as client:
        return sum(1 for c in client.client_list() if c.get("cmd") == "blpop")


def _wait_healthy(base, processes, tmp_path) -> None:
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        for process, log in processes:
            if process.poll() is not None:
                pytest.fail(f"{process.args} exited: {Path(log.name).read_text()}")
        time.sleep(0.2)
    pytest.fail(f"{base} did not answer /healthz within 40 s")


# -- the deliveries ---------------------------------------------------------------------------------

def jira_deliveries(keys: list[str], *, quiet: list[str]) -> list[list[tuple[str, bytes, dict]]]:
    """In waves, as Jira sends a ticket's events one after the other: every ticket's creation, then
    updates and comments (except on the quiet tickets, left to their SLA timers)."""
    updated = json.loads((FIXTURES / "jira" / "mattermost__webhook-issue-updated-raised-priority.json").read_text())
    commented = json.loads((FIXTURES / "jira" / "mattermost__webhook-cloud-comment-created.json").read_text())
    waves: list[list] = [[], [], []]
    for key in keys:
        events = [outage_payload(key)] + ([] if key in quiet else [updated, commented])
        for n, payload in enumerate(events):
            payload = json.loads(json.dumps(payload))
            payload["issue"]["key"] = key
            body = json.dumps(payload).encode()
            waves[n].append(("jira", body, {"X-Hub-Signature": sign_jira(body, SECRET),
                                            "X-Atlassian-Webhook-Identifier": f"{key}-{n}"}))
    return waves


def zendesk_deliveries(ids: list[str]) -> list[tuple[str, bytes, dict]]:
    template = (FIXTURES / "zendesk" / "escalator__ticket_priority_changed__urgent.json").read_text()
    made = []
    for ticket in ids:
        body = template.replace('"5158"', f'"{ticket}"').replace("zen:ticket:5158", f"zen:ticket:{ticket}").encode()
        signature, stamp = sign_zendesk(body, SECRET, time.time())
        made.append(("zendesk", body, {"X-Zendesk-Webhook-Signature": signature,
                                       "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                                       "X-Zendesk-Webhook-Invocation-Id": f"inv-{ticket}"}))
    return made


def post(base: str, delivery) -> str:
    platform, body, headers = delivery
    answer = requests.post(f"{base}/webhooks/{platform}", data=body, timeout=15,
                           headers={"Content-Type": "application/json", **headers})
    assert answer.status_code == 202, answer.text
    return answer.json()["status"]


# -- waiting and reading the database ----------------------------------------------------------------

def settled(engine) -> bool:
    """Nothing left to decide or send, and no timer due soon (the fast matrix's later ones are hours away)."""
    with engine.connect() as conn:
        waiting = conn.execute(select(func.count()).select_from(deliveries)
                               .where(deliveries.c.status == "received")).scalar_one()
        sending = conn.execute(select(func.count()).select_from(outbox)
                               .where(outbox.c.status.in_(("pending", "sending")))).scalar_one()
        due = conn.execute(select(func.count()).select_from(timers)
                           .where(timers.c.next_at <= func.now() + SOON)).scalar_one()
    return waiting == 0 and sending == 0 and due == 0


def wait_until(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not {what} within {seconds} s")
        time.sleep(0.3)


def rows(engine, table) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]


def expected_writes(outbox_rows: list[dict], fake_urls: dict[str, str]) -> Counter:
    """What the outbox rows mean as REST calls (writes only), each once."""
    settings = Settings(jira_base_url=fake_urls["jira"], jira_email="bot@example.com", jira_api_token="tok",
                        zendesk_base_url=fake_urls["zendesk"], zendesk_email="bot@example.com",
                        zendesk_api_token="tok")
    clients = build_clients(settings)
    wanted = Counter()
    for row in outbox_rows:
        for request in clients[row["platform"]].requests_for(Action(row["platform"], row["key"], row["kind"],
                                                                    row["data"])):
            body = json.dumps(request.json, sort_keys=True) if request.json is not None else ""
            wanted[(request.method, urlsplit(request.url).path, body)] += 1
    for client in clients.values():
        client.close()
    return Counter({k: v for k, v in wanted.items() if k[0] != "GET"})


