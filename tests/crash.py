"""Crashing the real processes: `escalator serve` and `escalator worker` killed with SIGKILL and started
again, a platform that keeps sending deliveries meanwhile, and a fake Jira or Zendesk that keeps the
comments it was sent and can hold a write open until the worker sending it is killed."""
from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from plugin.store.schema import deliveries, outbox

from .cluster import FakePlatform, _canonical, expected_writes, wait_until
from .test_serve import ESCALATOR, free_port

HOLD_SECONDS = 20       # the longest a held write waits for the kill it was held for
Write = tuple[str, str, str]    # (method, path, canonical JSON body), as FakePlatform records requests


# -- the platform's side -----------------------------------------------------------------------------

class CommentingPlatform(FakePlatform):
    """A fake Jira or Zendesk that keeps each ticket's comments and lists them, so a retried note finds
    its marker as it would on the real platform, and that can hold one write open: recorded (it landed),
    not yet answered."""

    def __init__(self):
        self.comments: dict[str, list[dict]] = {}       # listing path -> comments, oldest first
        self.holding = threading.Event()                # a held write is in flight
        self._hold: Callable[[str, str, dict], bool] | None = None
        self._release = threading.Event()
        super().__init__()

    def hold_next(self, matches: Callable[[str, str, dict], bool]) -> None:
        """Hold the next write that `matches(method, path, json)`, until `release()`."""
        self.holding.clear()
        self._release.clear()
        self._hold = matches

    def release(self) -> None:
        self._hold = None
        self._release.set()

    def write_log(self) -> list[Write]:
        """Every write, in the order it arrived."""
        with self.lock:
            return [r for r in self.requests if r[0] != "GET"]

    def _take(self, method: str, path: str, body: bytes) -> bool:
        """Record a request and the comment it adds; whether to hold its answer."""
        data = json.loads(body) if body else {}
        with self.lock:
            self.requests.append((method, path, _canonical(body)))
            added = comment_of(method, path, data)
            if added:
                self.comments.setdefault(added[0], []).append(added[1])
            held = method != "GET" and self._hold is not None and self._hold(method, path, data)
            if held:
                self._hold = None
                self.holding.set()
        return held

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                path = urlsplit(self.path).path
                if fake._take(self.command, path, self.rfile.read(length) if length else b""):
                    fake._release.wait(HOLD_SECONDS)
                with fake.lock:
                    listed = list(fake.comments.get(path, []))
                answer = json.dumps({"comments": listed} if self.command == "GET" else {}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except (BrokenPipeError, ConnectionResetError):     # the worker that sent it was killed
                    pass

            do_GET = do_PUT = do_POST = _answer

            def log_message(self, *args):
                pass
        return Handler


def comment_of(method: str, path: str, data: dict) -> tuple[str, dict] | None:
    """For a write that adds a comment (Jira's POST .../comment, a Zendesk ticket update carrying one):
    the path that lists the ticket's comments, and the comment as that listing shows it."""
    if method == "POST" and path.endswith("/comment"):
        return path, {"body": data.get("body")}
    comment = (data.get("ticket") or {}).get("comment") if isinstance(data, dict) else None
    if method == "PUT" and comment:
        return path.removesuffix(".json") + "/comments.json", {"body": comment.get("body")}
    return None


def is_note(method: str, path: str, data: dict) -> bool:
    return comment_of(method, path, data) is not None


def is_field_update(method: str, path: str, data: dict) -> bool:
    return method == "PUT" and comment_of(method, path, data) is None


def comments(writes: Iterable[Write]) -> Counter:
    """The comments among `writes`, each as often as it was posted."""
    return Counter(w for w in writes if comment_of(w[0], w[1], json.loads(w[2]) if w[2] else {}))


def fields(writes: Iterable[Write]) -> dict:
    """What the other writes leave on the platform, in the order given: each field's last value; lists
    (labels, tags) merge, as Jira's "add" and Zendesk's Add Tags do."""
    state: dict = {}
    for method, path, body in writes:
        data = json.loads(body) if body else {}
        if comment_of(method, path, data):
            continue
        for leaf, value in _leaves(data):
            if isinstance(value, list):
                state[(path, leaf)] = state.get((path, leaf), frozenset()) | {json.dumps(v, sort_keys=True)
                                                                              for v in value}
            else:
                state[(path, leaf)] = value
    return state


def _leaves(data, prefix: str = ""):
    if not isinstance(data, dict):
        yield prefix, data
        return
    for name, value in data.items():
        yield from _leaves(value, f"{prefix}.{name}" if prefix else name)


def planned_writes(outbox_rows: list[dict], fake_urls: dict[str, str]) -> list[tuple[int, Write]]:
    """The writes the outbox rows stand for, in the order they were decided, each with its row's id."""
    return [(row["id"], write) for row in sorted(outbox_rows, key=lambda r: r["id"])
            for write in expected_writes([row], fake_urls).elements()]


# -- the processes -----------------------------------------------------------------------------------

class Processes:
    """`escalator` processes by name, each in a session of its own, so a kill takes its children along."""

    def __init__(self, tmp_path: Path, env: dict, data_dir: Callable[[str], Path]):
        self.tmp_path, self.env, self.data_dir = tmp_path, env, data_dir
        self.running: dict[str, subprocess.Popen] = {}
        self.bases: dict[str, str] = {}
        self.starts: Counter = Counter()

    def start(self, name: str, *args: str) -> subprocess.Popen:
        self.starts[name] += 1
        self.data_dir(name).mkdir(parents=True, exist_ok=True)
        log_path = self.tmp_path / f"{name}-{self.starts[name]}.log"
        with open(log_path, "w") as log:        # the child keeps its own copy
            process = subprocess.Popen([ESCALATOR, *args], stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True,
                                       env={**self.env, "ESCALATOR_DATA_DIR": str(self.data_dir(name))})
        process.log_path = log_path
        self.running[name] = process
        return process

    def serve(self, name: str, *args: str) -> None:
        """`escalator serve` on a port of its own, once it answers; a port freed by a kill may be
        taken by someone else's connection before the restart, so every start picks a new one."""
        port = free_port()
        process = self.start(name, "serve", "--port", str(port), *args)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, process)
        self.bases[name] = base

    def logged(self, name: str, text: str) -> int:
        """How often `text` is in the output of the process running as `name`."""
        return self.running[name].log_path.read_text().count(text)

    def kill(self, name: str) -> None:
        process = self.running[name]
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        """Every process still running is killed, with its children: nothing outlives the test."""
        for process in self.running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def wait_healthy(base: str, process: subprocess.Popen, seconds: float = 40) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):     # not listening yet, or still booting
            pass
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited: {process.log_path.read_text()}")
        time.sleep(0.1)
    pytest.fail(f"{base} did not answer /healthz within {seconds} s: {process.log_path.read_text()}")


def children(pid: int) -> list[int]:
    """The live children of `pid` (any of its threads may have started them)."""
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(child) for child in (task / "children").read_text().split()]
    except FileNotFoundError:
        return []
    return [child for child in found if _alive(child)]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for its parent to notice."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def kill_pid(pid: int) -> None:
    """SIGKILL one process that is not ours to wait for; returns once it is dead."""
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)


class OneServe:
    """SQLite: one `escalator serve`, which runs its own worker process and starts it again if it dies."""
    READY = "runs the processor"        # logged by each worker once it decides and sends

    def __init__(self, processes: Processes):
        self.processes = processes
        self.workers = 0        # started by the serve running now

    def start(self) -> None:
        self.processes.serve("serve")
        self.workers = 1
        self.wait_for_workers()

    def bases(self) -> list[str]:
        return [self.processes.bases["serve"]]

    def wait_for_workers(self) -> None:
        wait_until(lambda: self.processes.logged("serve", self.READY) >= self.workers, 60, "deciding")

    def kill_intake(self, base: str) -> None:
        """The gunicorn worker answering the webhooks; gunicorn starts another."""
        kill_pid(self._children(lambda command: "plugin worker" not in command)[0])

    def kill_workers(self) -> datetime:
        """The worker deciding and sending; serve starts another."""
        kill_pid(self._children(lambda command: "plugin worker" in command)[0])
        self.workers += 1
        return datetime.now(UTC)

    def kill_everything(self) -> datetime:
        """Serve and its processes, not started again until `restart` (so what they left can be read first)."""
        self.processes.kill("serve")
        return datetime.now(UTC)

    def restart(self) -> None:
        self.start()

    def _children(self, wanted) -> list[int]:
        master = self.processes.running["serve"].pid
        deadline = time.monotonic() + 30      # one killed a moment ago may not be back yet
        while time.monotonic() < deadline:
            found = [pid for pid in children(master) if wanted(command_line(pid))]
            if found:
                return found
            time.sleep(0.05)
        raise AssertionError("serve did not start the process again")


class TwoOfEach:
    """PostgreSQL: two `serve --no-worker` instances and two `escalator worker` processes."""
    SERVES, WORKERS = ("serve-1", "serve-2"), ("worker-1", "worker-2")

    def __init__(self, processes: Processes):
        self.processes = processes

    def start(self) -> None:
        subprocess.run([ESCALATOR, "db", "upgrade"], check=True, capture_output=True, timeout=60,
                       env={**self.processes.env, "ESCALATOR_DATA_DIR": str(self.processes.data_dir("admin"))})
        self._start_workers()
        for name in self.SERVES:
            self.processes.serve(name, "--no-worker")
        self.wait_for_workers()

    def bases(self) -> list[str]:
        return list(self.processes.bases.values())

    def wait_for_workers(self) -> None:
        wait_until(lambda: all(self.processes.logged(name, "worker started") for name in self.WORKERS), 60,
                   "deciding")

    def kill_intake(self, base: str) -> None:
        [name] = [name for name, serving in self.processes.bases.items() if serving == base]
        self.processes.kill(name)
        self.processes.serve(name, "--no-worker")

    def kill_workers(self) -> datetime:
        for name in self.WORKERS:
            self.processes.kill(name)
        killed_at = datetime.now(UTC)
        self._start_workers()
        return killed_at

    def kill_everything(self) -> datetime:
        """Every process, not started again until `restart` (so what they left can be read first)."""
        for name in (*self.SERVES, *self.WORKERS):
            self.processes.kill(name)
        return datetime.now(UTC)

    def restart(self) -> None:
        self._start_workers()
        for name in self.SERVES:
            self.processes.serve(name, "--no-worker")

    def _start_workers(self) -> None:
        for name in self.WORKERS:
            self.processes.start(name, "worker", "--interval", "0.2")


# -- what the database says --------------------------------------------------------------------------

def orphans(engine, killed_at: datetime) -> set[int]:
    """Outbox rows a killed worker was sending: still `sending`, claimed before the kill."""
    with engine.connect() as conn:
        found = conn.execute(select(outbox.c.id, outbox.c.next_attempt_at).where(outbox.c.status == "sending")).all()
    return {row_id for row_id, claimed in found if _utc(claimed) <= killed_at}


def delivery_counts(engine) -> Counter:
    with engine.connect() as conn:
        return Counter(dict(conn.execute(select(deliveries.c.status, func.count()).group_by(deliveries.c.status))
                            .all()))


def watch_for(condition: Callable[[], object], seconds: float, what: str):
    """Poll closely (a kill must land while the condition holds); the condition's first true value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.02)
    pytest.fail(f"never {what} within {seconds} s")


def _utc(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- the sender --------------------------------------------------------------------------------------

class Sender:
    """Sends deliveries as a platform does: each until it is answered 202 (by any instance), a ticket's
    events in order, several tickets at once with a pause between two posts of one lane."""

    def __init__(self, bases: Callable[[], list[str]], gap: float, *, lanes: int = 3, seconds: float = 90):
        self.bases, self.gap, self.width, self.seconds = bases, gap, lanes, seconds
        self.answered: dict[str, list[str]] = {}     # dedupe key -> the statuses of its 202s
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(lanes)
        self.lanes: list = []

    def start(self, stream: list[tuple[str, bytes, dict]]) -> None:
        """Send `stream` once the last one is through (it may hold earlier events of the same tickets);
        each ticket's deliveries in one lane, in the order given."""
        self.wait()
        tickets = list(dict.fromkeys(ticket_of(d) for d in stream))
        for n in range(self.width):
            mine = set(tickets[n::self.width])
            self.lanes.append(self.pool.submit(self._send_all, [d for d in stream if ticket_of(d) in mine]))

    def wait(self) -> None:
        """Until every delivery started so far was answered 202; a lane's failure is raised here."""
        for lane in self.lanes:
            lane.result(timeout=self.seconds)
        self.lanes = []

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)

    def _send_all(self, lane) -> None:
        for delivery in lane:
            self._send(delivery)
            time.sleep(self.gap)

    def _send(self, delivery) -> None:
        platform, body, headers = delivery
        deadline = time.monotonic() + self.seconds
        for attempt in itertools.count():
            assert time.monotonic() < deadline, f"{dedupe_key(delivery)} was never answered 202"
            bases = self.bases()
            status = _post(bases[attempt % len(bases)] + f"/webhooks/{platform}", body, headers)
            if status is not None:
                with self.lock:
                    self.answered.setdefault(dedupe_key(delivery), []).append(status)
                return
            time.sleep(0.1)


def _post(url: str, body: bytes, headers: dict) -> str | None:
    """The status of a 202; None for no answer or a 5xx (the instance is down or restarting)."""
    try:
        answer = requests.post(url, data=body, timeout=10, headers={"Content-Type": "application/json", **headers})
    except requests.RequestException:      # refused, reset, cut off mid-answer: the instance was killed
        return None
    if answer.status_code == 202:
        return answer.json()["status"]
    assert answer.status_code >= 500, answer.text      # a 4xx is a bug, not a crash
    return None


def dedupe_key(delivery) -> str:
    headers = delivery[2]
    return headers.get("X-Atlassian-Webhook-Identifier") or headers["X-Zendesk-Webhook-Invocation-Id"]


def ticket_of(delivery) -> str:
    """The ticket a delivery is about: Jira's identifiers here are "<key>-<n>", Zendesk's "inv-<id>"."""
    key = dedupe_key(delivery)
    return key.rpartition("-")[0] if delivery[0] == "jira" else key


def half_sent(base: str, delivery) -> socket.socket:
    """A connection that sent the headers and half the body of `delivery`, as a slow platform does."""
    platform, body, headers = delivery
    where = urlsplit(base)
    connection = socket.create_connection((where.hostname, where.port), timeout=10)
    head = [f"POST /webhooks/{platform} HTTP/1.1", f"Host: {where.netloc}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in headers.items())]
    connection.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:len(body) // 2])
    return connection


def cut_off(connection: socket.socket) -> bool:
    """Whether the server closed the connection without an answer (it was killed), rather than still
    waiting for the rest of the body."""
    try:
        return connection.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    finally:
        connection.close()
