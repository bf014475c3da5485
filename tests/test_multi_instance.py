"""Two `serve --no-worker` instances and two `escalator worker` processes on one PostgreSQL database.

The same signed deliveries reach both instances (duplicates and retries included) while a fake Jira
and a fake Zendesk record every request. Whatever the interleaving: one decision per event, every
write-back sent exactly once, every SLA timer fired once.
"""
import contextlib
import json
import os
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from plugin.domain.actions import Action
from plugin.platforms import build_clients
from plugin.platforms.zendesk import sign_zendesk
from plugin.settings import Settings
from plugin.store.intake_writer import IntakeWriter, _Slot
from plugin.store.schema import deliveries, escalation_log, outbox, timers
from plugin.store.sql import SqlStore
from plugin.webhooks.signatures import sign_jira

from .conftest import FIXTURES, START, scratch_postgres
from .test_e2e_review import fast_rules  # noqa: F401 - a fixture
from .test_queue import redis_or_skip
from .test_serve import ESCALATOR, free_port
from .test_store import delivery, queued
from .test_webhooks import outage_payload

SECRET = "multi-secret"
QUIET_SECONDS = 2.0     # waited after everything settled, so a late duplicate would still show
SOON = timedelta(seconds=30)


class FakePlatform:
    """Jira or Zendesk for the outbox: answers every write with success and records each request."""

    def __init__(self):
        self.requests: list[tuple[str, str, str]] = []     # (method, path, canonical JSON body)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def writes(self) -> Counter:
        with self.lock:
            return Counter(r for r in self.requests if r[0] != "GET")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with fake.lock:
                    fake.requests.append((self.command, urlsplit(self.path).path, _canonical(body)))
                answer = json.dumps({"comments": []} if self.command == "GET" else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_PUT = do_POST = _answer

            def log_message(self, *args):
                pass
        return Handler

    def close(self):
        self.server.shutdown()
        self.server.server_close()


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


@pytest.fixture(params=["polling", "redis"])
def cluster(request, tmp_path, database, fakes, fast_rules):  # noqa: F811
    """Start two instances and two workers on one database, woken by polling or by Redis; their base URLs."""
    jira, zendesk = fakes
    queue = {"ESCALATOR_QUEUE_URL": redis_or_skip()} if request.param == "redis" else {}
    env = {**os.environ, "ESCALATOR_DATABASE_URL": database, "ESCALATOR_RULES": str(fast_rules),
           "ESCALATOR_JIRA_WEBHOOK_SECRET": SECRET, "ESCALATOR_ZENDESK_WEBHOOK_SECRET": SECRET,
           "ESCALATOR_JIRA_BASE_URL": jira.url, "ESCALATOR_JIRA_EMAIL": "bot@example.com",
           "ESCALATOR_JIRA_API_TOKEN": "tok", "ESCALATOR_ZENDESK_BASE_URL": zendesk.url,
           "ESCALATOR_ZENDESK_EMAIL": "bot@example.com", "ESCALATOR_ZENDESK_API_TOKEN": "tok",
           "ESCALATOR_API_TOKEN": "", **queue}
    subprocess.run([ESCALATOR, "db", "upgrade"], env={**env, "ESCALATOR_DATA_DIR": str(tmp_path / "admin")},
                   check=True, capture_output=True, timeout=60)
    processes, bases = [], []

    def spawn(name: str, *args: str) -> None:
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed at teardown
        processes.append((subprocess.Popen([ESCALATOR, *args], stdout=log, stderr=subprocess.STDOUT,
                                           env={**env, "ESCALATOR_DATA_DIR": str(tmp_path / name)}), log))

    try:
        for n in (1, 2):
            port = free_port()
            spawn(f"serve-{n}", "serve", "--no-worker", "--port", str(port))
            bases.append(f"http://127.0.0.1:{port}")
            spawn(f"worker-{n}", "worker", "--interval", "0.2")
        for base in bases:
            _wait_healthy(base, processes, tmp_path)
        if queue:       # both workers idle on the queue, not on a poll of the database
            wait_until(lambda: _blocked_on_queue(queue["ESCALATOR_QUEUE_URL"]) >= 2, 30, "waiting on Redis")
        engine = create_engine(database)
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


# -- the claims, one at a time -----------------------------------------------------------------------

@pytest.fixture
def two_stores(database):
    first, second = SqlStore(database), SqlStore(database)
    yield first, second
    first.dispose()
    second.dispose()


def test_a_ticket_claimed_by_one_processor_is_skipped_by_another(two_stores):
    first, second = two_stores
    for n, ticket in enumerate(["A-1", "A-1", "B-1"]):
        first.receive(delivery(f"d-{n}", ticket=ticket, at=START + timedelta(seconds=n)))
    with first.claimed(START, 2) as (mine, _):
        assert [d.ticket_key for d in mine] == ["A-1", "A-1"]
        with second.claimed(START, 2) as (theirs, _):              # looks past A-1 for work of its own
            assert [d.ticket_key for d in theirs] == ["B-1"]
        with second.claimed(START, 2) as (theirs, _):
            assert [d.ticket_key for d in theirs] == ["B-1"]
    with second.claimed(START, 10) as (everything, _):              # released with the pass
        assert [d.ticket_key for d in everything] == ["A-1", "A-1", "B-1"]


def test_the_tickets_of_a_processor_that_died_are_free_at_once(two_stores):
    first, second = two_stores
    first.receive(delivery("d-1", ticket="A-1"))
    claim = first.claimed(START, 10)
    assert [d.ticket_key for d in claim.__enter__()[0]] == ["A-1"]
    with second.claimed(START, 10) as (theirs, _):
        assert theirs == []
    with second.engine.connect() as conn:      # the host dies: its session ends, and its locks with it
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    with second.claimed(START, 10) as (theirs, _):
        assert [d.ticket_key for d in theirs] == ["A-1"]
    with pytest.raises(OperationalError):
        claim.__exit__(None, None, None)


def test_two_instances_storing_the_same_redeliveries_together_never_deadlock(two_stores, monkeypatch):
    first, second = two_stores
    both_inserted = threading.Barrier(2, timeout=2)
    store = IntakeWriter._store

    def store_then_meet(self, conn, new):       # each waits until the other stored one too, the worst interleaving
        stored = store(self, conn, new)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_inserted.wait()
        return stored

    monkeypatch.setattr(IntakeWriter, "_store", store_then_meet)
    groups = [(first.intake, ["r-1", "r-2"]), (second.intake, ["r-2", "r-1"])]     # arrival orders differ
    slots = {writer: [_Slot(delivery(key)) for key in keys] for writer, keys in groups}

    def write(writer):
        writer._queue = list(slots[writer])
        writer._write_queued()

    threads = [threading.Thread(target=write, args=(writer,)) for writer, _ in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [slot.error for group in slots.values() for slot in group] == [None] * 4
    assert sorted(slot.result is None for group in slots.values() for slot in group) == [False, False, True, True]


def test_an_outbox_row_being_claimed_is_skipped_not_waited_for(two_stores):
    first, second = two_stores
    ids = [queued(first, Action("jira", key, "assign", {"assignee": "a"})) for key in ("K-1", "K-2")]
    with first.transaction() as mine:
        assert mine.claim_next(START)["id"] == ids[0]
        with second.transaction() as theirs:
            theirs.conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")     # waiting would fail, not hang
            assert theirs.claim_next(START)["id"] == ids[1]
            assert theirs.claim_next(START) is None


# -- the test ---------------------------------------------------------------------------------------

def test_two_instances_and_two_workers_do_everything_exactly_once(cluster, fakes):
    (first, second), engine = cluster
    jira, zendesk = fakes
    keys = [f"MI-{n}" for n in range(1, 7)]
    quiet = keys[:2]
    waves = jira_deliveries(keys, quiet=quiet)
    waves[0] += zendesk_deliveries(["9101", "9102"])
    sent = [d for wave in waves for d in wave]
    # Each delivery to both instances at once, a wave after the other; then a retry of every third one.
    statuses = []
    with ThreadPoolExecutor(8) as pool:
        for wave in waves:
            statuses += pool.map(lambda job: post(*job), [(base, d) for d in wave for base in (first, second)])
    retried = [post(second if n % 2 else first, d) for n, d in enumerate(sent[::3])]
    assert Counter(statuses) == Counter({"accepted": len(sent), "duplicate": len(sent)})
    assert set(retried) == {"duplicate"}

    # The quiet critical tickets breach ack (3 s) then plan (6 s); wait for those and for everything to settle.
    wait_until(lambda: settled(engine) and _breaches(engine, quiet) >= 2 * len(quiet), 60, "settled")
    time.sleep(QUIET_SECONDS)
    assert settled(engine)

    stored = rows(engine, deliveries)
    assert len(stored) == len(sent) and {d["status"] for d in stored} == {"decided"}
    log = rows(engine, escalation_log)
    decided = Counter(e["delivery_id"] for e in log if e["delivery_id"] is not None)
    assert max(decided.values()) == 1                               # one decision per event
    firsts = {d["id"] for d in stored if d["event_kind"] == "created" or d["platform"] == "zendesk"}
    assert firsts <= set(decided)       # (an event that changes nothing and matches no rule is not logged)

    fired = Counter((e["platform"], e["key"], e["event_kind"], e["at"]) for e in log if e["delivery_id"] is None)
    assert fired and max(fired.values()) == 1                       # no timer fired twice
    assert _breaches(engine, quiet) == 2 * len(quiet)

    written = [o for o in rows(engine, outbox) if o["platform"] in ("jira", "zendesk")]
    assert written and {(o["status"], o["attempts"]) for o in written} == {("sent", 1)}, \
        Counter((o["platform"], o["kind"], o["status"], o["attempts"]) for o in written)
    wants = expected_writes(written, {"jira": jira.url, "zendesk": zendesk.url})
    assert jira.writes() + zendesk.writes() == wants                # every write-back delivered exactly once


def _breaches(engine, keys: list[str]) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(escalation_log).where(
            escalation_log.c.key.in_(keys), escalation_log.c.event_kind == "sla_breached")).scalar_one()
