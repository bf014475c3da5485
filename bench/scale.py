"""Scale-out on one machine: intake and decisions with 1 and 2 instances, SQLite against PostgreSQL,
and the outbox drain with 1 and 2 workers.

1. Intake: N `escalator serve --no-worker` instances (one gunicorn worker, 4 threads each) on one
   database; `--clients` threads post distinct signed Jira deliveries round-robin to them for
   `--duration` s. The figure is accepted deliveries per second.
2. Decided: the backlog intake left is decided by N `escalator worker` processes (no credentials:
   write-backs are dry runs). decided/s = deliveries / (last decided_at - first decided_at), so
   process start-up is left out. On SQLite a second worker only waits for the elected one.
3. Outbox drain (PostgreSQL): `--rows` pending comment write-backs, sent by N workers to a fake Jira
   answering after `--latency` ms; rows/s = rows / (last finished_at - first finished_at).

    .venv/bin/python bench/scale.py [--duration 8] [--clients 8] [--rows 400] [--latency 20]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from sqlalchemy import create_engine, func, insert, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from plugin.store.schema import deliveries, outbox  # noqa: E402
from plugin.webhooks.signatures import sign_jira  # noqa: E402

ESCALATOR = str(Path(sys.executable).with_name("escalator"))
POSTGRES = os.environ.get("ESCALATOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET = "scale-secret"
FIXTURE = ROOT / "tests/fixtures/jira/mattermost__webhook-issue-created.json"
NOTES = "## Reading the figures"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- databases and processes ----------------------------------------------------------------------

@contextlib.contextmanager
def database(kind: str, folder: Path):
    """An empty database of this kind, made at head; PostgreSQL ones are dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{folder}/escalator.db"
    else:
        name = f"escalator_scale_{secrets.token_hex(4)}"
        _admin(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    try:
        subprocess.run([ESCALATOR, "db", "upgrade"], env=_env(url, folder), check=True, capture_output=True)
        yield url
    finally:
        if kind != "sqlite":
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(statement: str) -> None:
    engine = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


def _env(url: str, folder: Path, **extra: str) -> dict:
    return {**os.environ, "ESCALATOR_DATABASE_URL": url, "ESCALATOR_DATA_DIR": str(folder),
            "ESCALATOR_RULES": str(ROOT / "rules"), "ESCALATOR_JIRA_WEBHOOK_SECRET": SECRET, **extra}


@contextlib.contextmanager
def processes(commands: list[list[str]], env: dict, folder: Path):
    started = []
    try:
        for n, command in enumerate(commands):
            output = open(folder / f"process-{n}.log", "w")  # noqa: SIM115 - closed below
            started.append((subprocess.Popen([ESCALATOR, *command], env=env, stdout=output,
                                             stderr=subprocess.STDOUT), output))
        yield
    finally:
        for process, _ in started:
            process.terminate()
        for process, output in started:
            process.wait(timeout=30)
            output.close()


def _healthy(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the measurements ---------------------------------------------------------------------------------

def intake(url: str, instances: int, folder: Path, duration: float, clients: int) -> tuple[float, int]:
    """Accepted deliveries per second, and how many were stored."""
    ports = [_free_port() for _ in range(instances)]
    commands = [["serve", "--no-worker", "--port", str(port)] for port in ports]
    with processes(commands, _env(url, folder), folder):
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            _healthy(base)
        template = json.loads(FIXTURE.read_text())
        template["issue"]["fields"]["summary"] = "Checkout is down - total outage"
        template["issue"]["fields"]["customfield_10050"] = {"value": "Gold"}
        accepted, deadline = [0] * clients, time.monotonic() + duration

        def post(client: int) -> None:
            session, n = requests.Session(), 0
            while time.monotonic() < deadline:
                key = f"S{client}-{n}"
                template_copy = {**template, "issue": {**template["issue"], "key": key}}
                body = json.dumps(template_copy).encode()
                answer = session.post(f"{bases[n % len(bases)]}/webhooks/jira", data=body, timeout=30, headers={
                    "Content-Type": "application/json", "X-Hub-Signature": sign_jira(body, SECRET),
                    "X-Atlassian-Webhook-Identifier": f"scale-{key}"})
                accepted[client] += answer.status_code == 202
                n += 1
            session.close()

        started = time.monotonic()
        threads = [threading.Thread(target=post, args=(c,)) for c in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(accepted) / (time.monotonic() - started), sum(accepted)


def decide(url: str, workers: int, folder: Path, expected: int) -> float:
    """Deliveries decided per second by `workers` worker processes, from the first decision to the last."""
    engine = create_engine(url)
    with processes([["worker", "--interval", "0.2"]] * workers, _env(url, folder), folder):
        _until(lambda: _count(engine, deliveries, deliveries.c.status == "received") == 0, 600)
    with engine.connect() as conn:
        first, last, count = conn.execute(select(func.min(deliveries.c.decided_at), func.max(deliveries.c.decided_at),
                                                 func.count()).where(deliveries.c.status == "decided")).one()
    engine.dispose()
    assert count == expected, (count, expected)
    return count / max((last - first).total_seconds(), 1e-3)


def drain(url: str, workers: int, folder: Path, rows: int, latency: float) -> float:
    """Outbox rows sent per second by `workers` workers to a fake Jira answering after `latency` s."""
    fake = _SlowJira(latency)
    engine = create_engine(url)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(outbox), [dict(platform="jira", key=f"OUT-{n}", kind="note", data={"body": f"n{n}"},
                                           request=[], status="pending", attempts=0, next_attempt_at=now,
                                           last_error="", created_at=now) for n in range(rows)])
    env = _env(url, folder, ESCALATOR_JIRA_BASE_URL=fake.url, ESCALATOR_JIRA_EMAIL="bot@example.com",
               ESCALATOR_JIRA_API_TOKEN="tok")
    with processes([["worker", "--interval", "0.2"]] * workers, env, folder):
        _until(lambda: _count(engine, outbox, outbox.c.status.in_(("pending", "sending"))) == 0, 600)
    with engine.connect() as conn:
        first, last, sent = conn.execute(select(func.min(outbox.c.finished_at), func.max(outbox.c.finished_at),
                                                func.count()).where(outbox.c.status == "sent")).one()
    engine.dispose()
    fake.close()
    assert sent == rows and fake.posts == rows, (sent, fake.posts, rows)     # each row sent once
    return sent / max((last - first).total_seconds(), 1e-3)


class _SlowJira:
    def __init__(self, latency: float):
        self.posts, lock = 0, threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(latency)
                if self.command == "POST":
                    with lock:
                        fake.posts += 1
                body = b'{"comments": []}'
                self.send_response(201 if self.command == "POST" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _count(engine, table, condition) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table).where(condition)).scalar_one()


def _until(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.2)


# -- the report ----------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--latency", type=float, default=20.0, help="the fake Jira's answer time, ms")
    parser.add_argument("--out", default=str(ROOT / "bench/results/scale.md"))
    args = parser.parse_args()
    lines = []
    for kind in ("sqlite", "postgresql"):
        for n in (1, 2):
            with tempfile.TemporaryDirectory() as tmp, database(kind, Path(tmp)) as url:
                log(f"{kind}, {n} instance(s): intake")
                rate, stored = intake(url, n, Path(tmp), args.duration, args.clients)
                log(f"{kind}, {n} worker(s): deciding {stored}")
                decided = decide(url, n, Path(tmp), stored)
                lines.append(f"| {kind} | {n} | {rate:.0f} | {decided:.0f} |")
    drains = []
    for n in (1, 2):
        with tempfile.TemporaryDirectory() as tmp, database("postgresql", Path(tmp)) as url:
            log(f"outbox, {n} worker(s)")
            drains.append(f"| {n} | {drain(url, n, Path(tmp), args.rows, args.latency / 1000):.0f} |")
    report(Path(args.out), args, lines, drains)


def report(path: Path, args, lines: list[str], drains: list[str]) -> None:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    text = [
        "# Scale-out: instances, workers, SQLite and PostgreSQL", "",
        f"`bench/scale.py --duration {args.duration:g} --clients {args.clients} --rows {args.rows} "
        f"--latency {args.latency:g}` at {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, on {platform.machine()} "
        f"with {os.cpu_count()} cores shared with other work, PostgreSQL and the clients on the same machine.", "",
        "## Intake and decisions", "",
        "| database | instances (intake) / workers (decisions) | accepted/s | decided/s |",
        "|---|---|---|---|", *lines, "",
        f"## Outbox drain (PostgreSQL, fake Jira answering in {args.latency:g} ms, {args.rows} comments)", "",
        "| workers | sent/s |", "|---|---|", *drains, "",
    ]
    kept = path.read_text().partition(NOTES)[2] if path.exists() else ""     # the written reading survives a rerun
    path.write_text("\n".join(text) + "\n" + (NOTES + kept if kept else ""))
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
