"""Ingest benchmark: the full webhook path of `escalator serve` against a bare Flask endpoint.

Both servers run in the same run, under gunicorn with the same options (`escalator serve`'s: gthread,
1 worker and 4 threads by default, access log on stdout; checked against plugin/cli.py), and get the
same requests:
- full: `escalator serve` with ESCALATOR_JIRA_WEBHOOK_SECRET set, SQLite in a fresh temporary data
  directory, the shipped matrix (rules/), no write-back credentials (dry-run: outbox rows are stored as
  `dry_run`, the outbox worker thread runs but has nothing to send). Every request goes through the
  signature check, dedupe, the delivery row, the matrix, the ticket, the escalation log and the outbox.
- bare: bench/bare_app.py, `json.loads(request.get_data())` and a 202 `{"status": "accepted"}`.

Payload: tests/fixtures/jira/mattermost__webhook-issue-created.json (issue created) with an outage
summary and the Gold tier, so the shipped matrix escalates it ("enterprise outage is critical") and
queues write-backs. Every request has its own issue key and X-Atlassian-Webhook-Identifier, so each
one is a new delivery on a new ticket (the worst case for the store), and is signed with `sign_jira`.
Keys, identifiers and signatures are computed before any timing starts.

Phases, for each gunicorn configuration (`--configs`, default 1x4 and 2x4 workers x threads):
1. warm-up, then throughput: closed loop, `--connections` (default 2 x workers x threads) keep-alive
   connections for `--duration` seconds, bare then full, `--rounds` times, so drift shows;
2. latency: open loop at `--rate` requests/s for `--ol-duration` seconds, bare then full; every send is
   scheduled at a fixed time and its latency runs from that time to the end of the response, so a
   slow server cannot hide its queueing (no coordinated omission);
3. peak RSS (VmHWM) of every gunicorn worker.
Then, on a fresh full server with the default configuration (1x4): `--deliveries` (100,000) distinct
deliveries as fast as it takes them, sampling each worker's RSS (VmRSS) and the number of stored
deliveries every half second; it stops after `--rss-timeout` (600 s) whatever the count.
Before all that, "where the time goes": the full path in process (Flask test client, one thread), each
phase timed by wrapping the function that does it, and a few store operations alone.

Every measurement also reports the workers' CPU time per request (/proc), which depends less than req/s
on what else runs on the machine. `--commit REV` runs the servers from a `git archive` of
that commit instead of the work tree (read-only for the repository), so a half-edited work tree does not
get measured; `--serve-arg=--no-worker` shows what the in-process outbox worker and timer consumer cost.

The closed loop uses wrk (a Lua script rotates the precomputed requests) when it is installed, else a
Python client (one process per connection, http.client keep-alive). The open loop is a Python client
(threads, keep-alive connections) in this process. The client shares the machine with the servers:
read the figures with `nproc` in mind.

    .venv/bin/python bench/ingest.py [--commit HEAD] [--configs 1x4,2x4] [--duration 15] [--rounds 2]
                                     [--rate 200] [--ol-duration 20] [--deliveries 100000] [--out FILE]
"""
from __future__ import annotations

import argparse
import ast
import datetime
import http.client
import importlib.metadata
import json
import os
import platform
import queue
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from plugin.webhooks.signatures import sign_jira

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("bench/results/ingest.md")
FIXTURE_PATH = Path("tests") / "fixtures" / "jira" / "mattermost__webhook-issue-created.json"
ESCALATOR = str(Path(sys.executable).with_name("escalator"))
BARE_APP = ROOT / "bench" / "bare_app.py"
# The tree the servers run from: the work tree, or with --commit a `git archive` of that commit, so the
# measurement is of a known, coherent version even while the work tree is being edited.
SOURCE = {"root": ROOT, "commit": None}
FULL_ARGS: list[str] = []          # extra `escalator serve` arguments (--serve-arg)
PATH = "/webhooks/jira"
SECRET = "bench-ingest-secret"
SUMMARY = "Checkout is down - total outage"
PLACEHOLDER = "@@ISSUE-KEY@@"
TARGET_RATIO = 0.60
TARGET_P99_MS = 25.0
RSS_FLAT = 0.05               # "flat": at most 5% growth between 10,000 and all deliveries
RSS_MARKS = (10_000, 50_000, 100_000)
WARMUP = 1_000
REQUEST_TIMEOUT = 10.0
CLEARED_ENV = ("ESCALATOR_DATABASE_URL", "ESCALATOR_QUEUE_URL", "ESCALATOR_JIRA_BASE_URL", "ESCALATOR_JIRA_EMAIL",
               "ESCALATOR_JIRA_API_TOKEN", "ESCALATOR_ZENDESK_SUBDOMAIN", "ESCALATOR_ZENDESK_BASE_URL",
               "ESCALATOR_ZENDESK_EMAIL", "ESCALATOR_ZENDESK_API_TOKEN", "ESCALATOR_JIRA_AUTOMATION_SECRET",
               "ESCALATOR_ZENDESK_WEBHOOK_SECRET", "ESCALATOR_API_TOKEN")


# --- the requests ---------------------------------------------------------------------------

def body_template() -> tuple[bytes, bytes]:
    """The payload split around the issue key: body = prefix + key + suffix."""
    payload = json.loads((SOURCE["root"] / FIXTURE_PATH).read_text(encoding="utf-8"))
    payload["issue"]["key"] = PLACEHOLDER
    payload["issue"]["fields"]["summary"] = SUMMARY
    payload["issue"]["fields"]["customfield_10050"] = {"value": "Gold"}     # the customer tier: enterprise
    parts = json.dumps(payload).encode().split(PLACEHOLDER.encode())
    assert len(parts) == 2, "the placeholder key must occur exactly once in the payload"
    return parts[0], parts[1]


@dataclass
class RequestSet:
    """`count` distinct signed deliveries: issue key TAG-n, delivery id tag-n."""
    tag: str
    count: int
    prefix: bytes
    suffix: bytes
    keys: list = field(default_factory=list)
    ids: list = field(default_factory=list)
    signatures: list = field(default_factory=list)

    def __post_init__(self):
        for n in range(1, self.count + 1):
            key = f"{self.tag}-{n}"
            self.keys.append(key)
            self.ids.append(f"bench-{self.tag.lower()}-{n:07d}")
            self.signatures.append(sign_jira(self.body(n - 1), SECRET))

    def body(self, i: int) -> bytes:
        return self.prefix + self.keys[i].encode() + self.suffix

    def headers(self, i: int) -> dict:
        return {"Content-Type": "application/json", "X-Hub-Signature": self.signatures[i],
                "X-Atlassian-Webhook-Identifier": self.ids[i]}

    def write(self, path: Path) -> Path:
        path.write_text("".join(f"{k} {d} {s}\n" for k, d, s in zip(self.keys, self.ids, self.signatures, strict=True)))
        return path


# --- servers --------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Running:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    log: object
    data_dir: Path | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path | None:
        return self.data_dir / "escalator.db" if self.data_dir else None

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def trouble(self) -> dict | None:
        """None while the server runs with workers; else its exit code and the end of its log."""
        code = self.process.poll()
        if code is None and self.workers():
            return None
        self.log.flush()
        lines = [line for line in self.log_path.read_text(errors="replace").splitlines()
                 if '"POST /webhooks' not in line and '"GET /healthz' not in line]
        return {"exit_code": code, "workers": len(self.workers()), "log": "\n".join(lines[-40:])}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def start_server(kind: str, tmp: Path, workers: int, threads: int, engine: str | None, label: str) -> Running:
    port = free_port()
    log_path = tmp / f"{label}-{kind}-{port}.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed by Running.stop
    env = source_env()
    data_dir = None
    if kind == "full":
        data_dir = tmp / f"data-{label}"
        env.update(ESCALATOR_RULES=str(SOURCE["root"] / "rules"), ESCALATOR_DATA_DIR=str(data_dir),
                   ESCALATOR_JIRA_WEBHOOK_SECRET=SECRET)
        if engine:
            env["ESCALATOR_ENGINE"] = engine
        command = [ESCALATOR, "serve", "--port", str(port), "--workers", str(workers), "--threads", str(threads),
                   *FULL_ARGS]
    else:
        command = [sys.executable, str(BARE_APP), "--port", str(port), "--workers", str(workers),
                   "--threads", str(threads)]
    process = subprocess.Popen(command, env=env, cwd=SOURCE["root"], stdout=log, stderr=subprocess.STDOUT)
    running = Running(kind, process, port, log_path, log, data_dir)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            running.stop()
            raise SystemExit(f"{kind} server exited: {log_path.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(running.base + "/healthz", timeout=2) as answer:
                if answer.status == 200 and len(running.workers()) == workers:
                    time.sleep(1.0)        # let every worker finish booting
                    return running
        except OSError:
            pass
        time.sleep(0.2)
    running.stop()
    raise SystemExit(f"{kind} server did not answer /healthz with {workers} worker(s) within 60 s")


def proc_status(pid: int) -> dict:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount = line.split(":", 1)
                values[name] = int(amount.split()[0]) / 1024        # kB -> MB
    except OSError:
        pass
    return values


def worker_cpu(server: Running) -> float:
    """CPU seconds (user + system) used so far by the server's workers."""
    total = 0.0
    for pid in server.workers():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measured(server: Running, run) -> dict:
    """`run()`'s result with the workers' CPU milliseconds per answered request and the load average."""
    before = worker_cpu(server)
    result = run()
    answered = result.get("requests") or result.get("answered") or 0
    result["cpu_ms"] = (worker_cpu(server) - before) / answered * 1e3 if answered else float("nan")
    result["load"] = os.getloadavg()[0]
    return result


def stored_deliveries(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()[0]
    except sqlite3.Error:
        return -1


class Sampler(threading.Thread):
    """RSS of each worker (and the stored deliveries, for the full server) every `interval` seconds."""

    def __init__(self, server: Running, interval: float = 0.5):
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.samples: list[tuple[float, int, dict, float]] = []    # time, deliveries, RSS by pid, CPU s
        self.stop_event = threading.Event()
        self.start_time = time.monotonic()

    def sample(self) -> tuple[float, int, dict, float]:
        count = stored_deliveries(self.server.database) if self.server.database else -1
        rss = {pid: proc_status(pid).get("VmRSS", 0.0) for pid in self.server.workers()}
        return time.monotonic() - self.start_time, count, rss, worker_cpu(self.server)

    def run(self):
        while not self.stop_event.is_set():
            self.samples.append(self.sample())
            self.stop_event.wait(self.interval)

    def finish(self) -> None:
        self.stop_event.set()
        self.join(timeout=10)
        self.samples.append(self.sample())


# --- closed loop: wrk, or Python processes ----------------------------------------------------

WRK_LUA = r"""
-- bench/ingest.py: rotate precomputed signed deliveries; count 202 "accepted" answers.
-- args: prefix file, suffix file, entries file, limit (0: none), marker file
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  local f = io.open(args[1], "rb"); prefix = f:read("*a"); f:close()
  f = io.open(args[2], "rb"); suffix = f:read("*a"); f:close()
  keys, ids, sigs = {}, {}, {}
  for line in io.lines(args[3]) do
    local k, d, s = line:match("^(%S+) (%S+) (%S+)$")
    keys[#keys + 1] = k; ids[#ids + 1] = d; sigs[#sigs + 1] = s
  end
  limit = tonumber(args[4]); marker = args[5]
  sent, answered, accepted, other, reused, samples = 0, 0, 0, 0, 0, ""
end

function request()
  sent = sent + 1
  if sent > #keys then reused = reused + 1 end
  local j = ((sent - 1) % #keys) + 1
  return wrk.format("POST", "/webhooks/jira", {["Content-Type"] = "application/json",
    ["X-Hub-Signature"] = sigs[j], ["X-Atlassian-Webhook-Identifier"] = ids[j]}, prefix .. keys[j] .. suffix)
end

function response(status, headers, body)
  answered = answered + 1
  if status == 202 and body:find('"status":%s*"accepted"') then
    accepted = accepted + 1
  else
    other = other + 1
    if #samples < 1500 then samples = samples .. status .. " " .. body:sub(1, 300):gsub('[%c"\\]', " ") .. " | " end
  end
  if limit > 0 and answered >= limit then
    local m = io.open(marker, "w"); m:write("done"); m:close()
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local sent_, answered_, accepted_, other_, reused_, samples_ = 0, 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    sent_ = sent_ + t:get("sent"); answered_ = answered_ + t:get("answered")
    accepted_ = accepted_ + t:get("accepted"); other_ = other_ + t:get("other")
    reused_ = reused_ + t:get("reused"); samples_ = samples_ .. t:get("samples")
  end
  io.write(string.format('WRKJSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %.1f, "sent": %d, ' ..
    '"answered": %d, "accepted": %d, "other": %d, "reused": %d, "samples": "%s"}\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(99),
    latency.max, latency.mean, sent_, answered_, accepted_, other_, reused_, samples_))
end
"""


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def closed_loop(server: Running, reqs: RequestSet, tmp: Path, connections: int, duration: float,
                limit: int = 0, use_wrk: bool = True, on_progress=None) -> dict:
    """Closed loop: `connections` connections each send the next request when the last one is answered,
    for `duration` seconds or until `limit` answers."""
    if use_wrk and have_wrk():
        return wrk_closed_loop(server, reqs, tmp, connections, duration, limit, on_progress)
    return python_closed_loop(server, reqs, connections, duration, limit, on_progress)


def wrk_closed_loop(server, reqs, tmp, connections, duration, limit, on_progress) -> dict:
    script = tmp / "ingest.lua"
    script.write_text(WRK_LUA)
    prefix, suffix = tmp / "prefix.bin", tmp / "suffix.bin"
    prefix.write_bytes(reqs.prefix)
    suffix.write_bytes(reqs.suffix)
    entries = tmp / f"entries-{reqs.tag}.txt"
    if not entries.exists():
        reqs.write(entries)
    marker = tmp / f"marker-{reqs.tag}-{server.name}"
    marker.unlink(missing_ok=True)
    command = ["wrk", "-t", "1", "-c", str(connections), "-d", f"{int(duration)}s", "--timeout",
               f"{int(REQUEST_TIMEOUT)}s", "-s", str(script), server.base + PATH, "--",
               str(prefix), str(suffix), str(entries), str(limit), str(marker)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + duration + 60
    while process.poll() is None:
        if limit and marker.exists():
            process.send_signal(signal.SIGINT)          # wrk sleeps for the whole -d otherwise
            break
        if on_progress and on_progress():
            process.send_signal(signal.SIGINT)
            break
        if time.monotonic() > deadline:
            process.kill()
            break
        time.sleep(0.1)
    output, _ = process.communicate(timeout=60)
    line = next((x for x in output.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result:\n{output}")
    result = json.loads(line.split(" ", 1)[1])
    counts = result
    seconds = result["duration_us"] / 1e6
    return {"tool": "wrk", "requests": result["requests"], "seconds": seconds,
            "rps": result["requests"] / seconds, "accepted": counts.get("accepted", 0),
            "not_accepted": counts.get("other", 0), "reused": counts.get("reused", 0),
            "socket_errors": sum(result[k] for k in ("connect", "read", "write", "timeout")),
            "p50_ms": result["p50_us"] / 1e3, "p99_ms": result["p99_us"] / 1e3, "max_ms": result["max_us"] / 1e3,
            "samples": counts.get("samples", ""), "raw": output}


def _python_connection_loop(port, prefix, suffix, keys, ids, sigs, start_at, seconds, limit) -> dict:
    """One process, one keep-alive connection: send the next request as soon as the last is answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    latencies, accepted, other, errors, samples = [], 0, 0, 0, []
    time.sleep(max(0.0, start_at - time.time()))
    end = time.perf_counter() + seconds
    i = 0
    while time.perf_counter() < end and (not limit or i < limit):
        j = i % len(keys)
        headers = {"Content-Type": "application/json", "X-Hub-Signature": sigs[j],
                   "X-Atlassian-Webhook-Identifier": ids[j]}
        started = time.perf_counter()
        try:
            conn.request("POST", PATH, prefix + keys[j].encode() + suffix, headers)
            answer = conn.getresponse()
            data = answer.read()
            latencies.append(time.perf_counter() - started)
            if answer.status == 202 and json.loads(data).get("status") == "accepted":
                accepted += 1
            else:
                other += 1
                if len(samples) < 5:
                    samples.append(f"{answer.status} {data[:300]!r}")
        except (OSError, http.client.HTTPException) as exc:
            errors += 1
            if len(samples) < 5:
                samples.append(repr(exc))
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
        i += 1
    conn.close()
    return {"latencies": latencies, "accepted": accepted, "other": other, "errors": errors, "sent": i,
            "reused": max(0, i - len(keys)), "samples": samples}


def python_closed_loop(server, reqs, connections, duration, limit, on_progress) -> dict:
    start_at = time.time() + 1.0
    per = -(-limit // connections) if limit else 0
    with ProcessPoolExecutor(connections, mp_context=get_context("fork")) as pool:
        futures = [pool.submit(_python_connection_loop, server.port, reqs.prefix, reqs.suffix,
                               reqs.keys[c::connections], reqs.ids[c::connections],
                               reqs.signatures[c::connections], start_at, duration, per)
                   for c in range(connections)]
        while not all(f.done() for f in futures):
            if on_progress:
                on_progress()
            time.sleep(0.1)
        parts = [f.result() for f in futures]
    seconds = time.time() - start_at
    latencies = [x for p in parts for x in p["latencies"]]
    return {"tool": "python", "requests": len(latencies), "seconds": seconds, "rps": len(latencies) / seconds,
            "accepted": sum(p["accepted"] for p in parts), "not_accepted": sum(p["other"] for p in parts),
            "reused": sum(p["reused"] for p in parts), "socket_errors": sum(p["errors"] for p in parts),
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
            "max_ms": max(latencies, default=float("nan")) * 1e3,
            "samples": " | ".join(s for p in parts for s in p["samples"])[:1500], "raw": ""}


# --- open loop ----------------------------------------------------------------------------------

def open_loop(server: Running, reqs: RequestSet, rate: float, seconds: float, connections: int = 16,
              max_backlog: float = 5.0) -> dict:
    """Send request i at start + i/rate whatever happened before; latency = end of response - scheduled time.
    A server that falls more than `max_backlog` seconds of requests behind is saturated: sending stops there
    (the requests already sent are still waited for and counted)."""
    count = min(reqs.count, int(rate * seconds))
    prepared = [(reqs.body(i), reqs.headers(i)) for i in range(count)]
    jobs: queue.SimpleQueue = queue.SimpleQueue()
    results: list = [None] * count
    retries, answered = [0], []       # list.append is atomic: the dispatcher reads len(answered)

    def send(conn, i):
        body, headers = prepared[i]
        conn.request("POST", PATH, body, headers)
        answer = conn.getresponse()
        return answer.status, answer.read()

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT)
        while (job := jobs.get()) is not None:
            i, scheduled = job
            started = time.perf_counter()
            try:
                try:
                    status, data = send(conn, i)
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    # the server closed an idle keep-alive connection: the request never got in
                    retries[0] += 1
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT)
                    status, data = send(conn, i)
                ended = time.perf_counter()
                ok = status == 202 and json.loads(data).get("status") == "accepted"
                results[i] = (ended - scheduled, ended - started, status, ok, "" if ok else data[:300])
                answered.append(i)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=REQUEST_TIMEOUT)
                results[i] = (time.perf_counter() - scheduled, None, 0, False, repr(exc))
                answered.append(i)
        conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for t in threads:
        t.start()
    start = time.perf_counter() + 0.5
    sent, saturated_at = 0, None
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if i - len(answered) > rate * max_backlog:
            saturated_at = time.perf_counter() - start
            break
        jobs.put((i, scheduled))
        sent += 1
    for _ in threads:
        jobs.put(None)
    deadline = time.monotonic() + REQUEST_TIMEOUT * 3 + 30
    for t in threads:
        t.join(timeout=max(0.1, deadline - time.monotonic()))
    finished = time.perf_counter()
    done = [r for r in results[:sent] if r is not None]
    latencies = [r[0] for r in done]
    service = [r[1] for r in done if r[1] is not None]
    failures = [r for r in done if not r[3]]
    return {"planned": count, "sent": sent, "answered": len(done), "accepted": sum(r[3] for r in done),
            "not_accepted": len(failures) + (sent - len(done)), "retries": retries[0],
            "saturated_at": saturated_at, "rate": len(done) / (finished - start),
            "p50_ms": percentile(latencies, 50) * 1e3,
            "p99_ms": percentile(latencies, 99) * 1e3, "p999_ms": percentile(latencies, 99.9) * 1e3,
            "max_ms": max(latencies, default=float("nan")) * 1e3,
            "service_p50_ms": percentile(service, 50) * 1e3, "service_p99_ms": percentile(service, 99) * 1e3,
            "samples": " | ".join(f"{r[2]} {r[4]!s}" for r in failures[:5])}


# --- the run --------------------------------------------------------------------------------------

def worker_memory(server: Running) -> list[dict]:
    return [{"pid": pid, **proc_status(pid)} for pid in server.workers()]


def database_facts(database: Path) -> dict:
    files = sorted(f for f in database.parent.iterdir() if f.is_file())   # the store, and the queue's if any
    facts = {"bytes": sum(f.stat().st_size for f in files), "files": {f.name: f.stat().st_size for f in files}}
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
            facts["deliveries"] = dict(conn.execute("SELECT status, count(*) FROM deliveries GROUP BY status")
                                       .fetchall())
            facts["outbox"] = dict(conn.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
            facts["tickets"] = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
            facts["log"] = conn.execute("SELECT count(*) FROM escalation_log").fetchone()[0]
    except sqlite3.Error as exc:
        facts["error"] = str(exc)
    return facts


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def tag_for(*parts) -> str:
    return "".join(str(p) for p in parts).upper()


def run_config(args, tmp: Path, template, workers: int, threads: int, index: int) -> dict:
    label = f"{workers}x{threads}"
    connections = args.connections or 2 * workers * threads
    bare = start_server("bare", tmp, workers, threads, None, label)
    full = start_server("full", tmp, workers, threads, args.engine, label)
    servers = {"bare": bare, "full": full}
    letter = "ABCDEFGH"[index]
    result = {"workers": workers, "threads": threads, "connections": connections, "throughput": [], "latency": {}}
    try:
        warm = RequestSet(tag_for("WU", letter), WARMUP + connections + 10, *template)
        for name, server in servers.items():
            log(f"{label} warm-up {name}")
            result[f"warmup_{name}"] = closed_loop(server, warm, tmp, connections, 60, limit=WARMUP,
                                                   use_wrk=not args.no_wrk)
        for r in range(args.rounds):
            reqs = RequestSet(tag_for("TP", letter, r), int(args.max_rps * args.duration), *template)
            row = {}
            for name, server in servers.items():
                row[name] = measured(server, lambda s=server, q=reqs: closed_loop(s, q, tmp, connections, args.duration,
                                                                 use_wrk=not args.no_wrk))
                log(f"{label} round {r + 1} {name}: {row[name]['rps']:.0f} req/s, "
                    f"{row[name]['not_accepted']} not accepted, {row[name]['socket_errors']} socket errors")
                time.sleep(1.0)
            result["throughput"].append(row)
        reqs = RequestSet(tag_for("OL", letter), int(args.rate * args.ol_duration), *template)
        for name, server in servers.items():
            result["latency"][name] = measured(server, lambda s=server: open_loop(s, reqs, args.rate, args.ol_duration))
            lat = result["latency"][name]
            log(f"{label} {args.rate:g} req/s {name}: p50 {lat['p50_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms, "
                f"{lat['not_accepted']} not accepted")
        result["trouble"] = {name: server.trouble() for name, server in servers.items() if server.trouble()}
        result["memory"] = {name: worker_memory(server) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    result["database"] = database_facts(full.database)
    log(f"{label} database {result['database']['bytes'] / 2**20:.1f} MB: {result['database'].get('deliveries')}")
    return result


def rss_run(args, tmp: Path, template) -> dict:
    workers, threads = 1, 4
    connections = args.connections or 2 * workers * threads
    server = start_server("full", tmp, workers, threads, args.engine, "rss")
    reqs = RequestSet("RSS", args.deliveries + connections + 10, *template)
    sampler = Sampler(server)
    started = time.monotonic()
    result = {"workers": workers, "threads": threads, "connections": connections, "target": args.deliveries}
    try:
        sampler.start()

        def too_long() -> bool:
            return time.monotonic() - started > args.rss_timeout

        last, down_since = [0.0], [None]

        def progress() -> bool:
            if time.monotonic() - last[0] > 30 and sampler.samples:
                last[0] = time.monotonic()
                t, n, rss, _ = sampler.samples[-1]
                log(f"rss run: {n:,} deliveries after {t:.0f} s, RSS {', '.join(f'{v:.1f}' for v in rss.values())} MB")
            if server.trouble() is None:
                down_since[0] = None
            elif down_since[0] is None:
                down_since[0] = time.monotonic()
            elif time.monotonic() - down_since[0] > 10:     # gone for 10 s: a restarting worker would be back
                result["died"] = server.trouble()
                result["died"]["deliveries"] = stored_deliveries(server.database)
                result["died"]["after"] = time.monotonic() - started
                log(f"rss run: the full server has no worker any more: {result['died']}")
                return True
            return too_long()

        result["load"] = measured(server, lambda: closed_loop(server, reqs, tmp, connections, args.rss_timeout,
                                                              limit=args.deliveries, use_wrk=not args.no_wrk,
                                                              on_progress=progress))
        result["aborted"] = too_long() or "died" in result
        time.sleep(1.0)
        sampler.finish()
        result["memory"] = worker_memory(server)
    finally:
        sampler.stop_event.set()
        server.stop()
    result["samples"] = sampler.samples
    result["database"] = database_facts(server.database)
    result["elapsed"] = time.monotonic() - started
    return result


# --- where the time goes: the full path in process, phase by phase ------------------------------------

def phases_child(out: Path, count: int, engine: str | None, data_dir: Path | None = None) -> None:
    """Run in a subprocess with the measured tree first on sys.path: post `count` deliveries through the
    Flask test client (no HTTP, no gunicorn, one thread) and time each phase of the view by wrapping the
    functions it calls; count the SQL statements; time a few store operations on their own."""
    import collections
    import contextlib
    import functools

    from sqlalchemy import event

    from plugin import bootstrap
    from plugin import service as service_module
    from plugin.app import create_app
    from plugin.engine import Evaluator
    from plugin.settings import Settings
    from plugin.store import sql
    from plugin.webhooks import views

    totals, calls = collections.defaultdict(float), collections.Counter()

    def wrap(owner, attr, label):
        fn = getattr(owner, attr, None)
        if fn is None:
            return

        @functools.wraps(fn)
        def timed(*a, **k):
            started = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                totals[label] += time.perf_counter() - started
                calls[label] += 1
        setattr(owner, attr, timed)

    wrap(views, "_accept", "total: the view after the signature and json.loads")
    wrap(service_module.EscalationService, "handle", "total: service.handle (matrix, ticket, log, timers, outbox)")
    wrap(views, "verify_jira", "signature check")
    wrap(views, "parse", "payload -> TicketEvent")
    wrap(views, "jsonify", "jsonify the answer")
    wrap(Evaluator, "evaluate", "evaluate the matrix")
    wrap(service_module, "plan_actions", "plan the write-backs")
    try:        # SLA timers and their queue, where this version has them
        from plugin import queue as queue_module
        from plugin import sla
        wrap(sla.TimerBook, "apply", "total: SLA timers (TimerBook.apply, its store calls included)")
        wrap(sla.SlaClocks, "deadline", "SLA due time on a business calendar")
        wrap(queue_module.TimerQueue, "schedule", "schedule timer wake-ups on the queue (Huey)")
    except ImportError:
        pass
    for name in dir(sql.Transaction):
        if not name.startswith("_") and callable(getattr(sql.Transaction, name)):
            wrap(sql.Transaction, name, f"store: {name}")
    original = sql.Store.transaction

    @contextlib.contextmanager
    def transaction(self):
        started = time.perf_counter()
        manager = original(self)
        tx = manager.__enter__()
        totals["store: BEGIN IMMEDIATE"] += time.perf_counter() - started
        calls["store: BEGIN IMMEDIATE"] += 1
        try:
            yield tx
        except BaseException:
            if not manager.__exit__(*sys.exc_info()):
                raise
        else:
            started = time.perf_counter()
            manager.__exit__(None, None, None)
            totals["store: COMMIT"] += time.perf_counter() - started
            calls["store: COMMIT"] += 1
    sql.Store.transaction = transaction

    tmp = data_dir or Path(tempfile.mkdtemp(prefix="escalator-phases-"))
    values = {"rules": str(SOURCE["root"] / "rules"), "data_dir": str(tmp), "jira_webhook_secret": SECRET}
    if engine:
        values["engine"] = engine
    container = bootstrap.build(Settings(**values))
    statements = [0]
    event.listen(container.store.engine, "before_cursor_execute",
                 lambda *a: statements.__setitem__(0, statements[0] + 1))
    client = create_app(container).test_client()
    reqs = RequestSet("PHASEDB" if data_dir else "PHASE", count + 200, *body_template())
    stored_before = stored_deliveries(tmp / "escalator.db")

    def post(c, i, full=True):
        answer = c.post(PATH, data=reqs.body(i), headers=reqs.headers(i))
        assert answer.status_code == 202 and answer.json["status"] == "accepted", answer.data

    def run(c, first, n):
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(first, first + n):
            post(c, i)
        return (time.perf_counter() - wall) / n * 1e3, (time.process_time() - cpu) / n * 1e3

    for i in range(200):
        post(client, i)
    totals.clear()
    calls.clear()
    statements[0] = 0
    wall, cpu = run(client, 200, count)
    result = {"count": count, "stored_before": stored_before, "wall_ms": wall, "cpu_ms": cpu,
              "statements": statements[0] / count,
              "phases": sorted(((name, total / count * 1e3, calls[name] / count) for name, total in totals.items()),
                               key=lambda row: (not row[0].startswith("total"), -row[1]))}
    if data_dir:
        out.write_text(json.dumps(result))
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from bare_app import create_bare_app
    bare = create_bare_app().test_client()
    run(bare, 0, 200)
    result["bare_wall_ms"], result["bare_cpu_ms"] = run(bare, 0, count)
    result["micro"] = micro_benchmarks(container.store)
    out.write_text(json.dumps(result))


def micro_benchmarks(store, n: int = 300) -> list:
    """A few store operations alone, each in its own transaction: what one request pays for them."""
    from datetime import UTC, datetime

    from sqlalchemy import insert

    rows = []
    now = datetime.now(UTC)

    def measure(label, body, own_transaction=True):
        def once(key):
            if not own_transaction:
                return body(None, key)
            with store.transaction() as tx:
                body(tx, key)
        try:
            for i in range(30):
                once(f"MW{len(rows)}-{i}")
            cpu = time.process_time()
            for i in range(n):
                once(f"M{len(rows)}-{i}")
            rows.append((label, (time.process_time() - cpu) / n * 1e3))
        except Exception as exc:       # the store's API moved on: say so instead of failing the benchmark
            rows.append((label, f"not measured ({type(exc).__name__}: {str(exc)[:80]})"))

    measure("an empty write transaction (BEGIN IMMEDIATE, COMMIT)", lambda tx, key: None)
    kinds = (("update", {"priority": "Highest", "add_labels": ["escalation"]}), ("assign", {"assignee": "abc"}),
             ("note", {"body": "Escalated: critical", "public": False}))

    def enqueue_three(tx, key):
        from plugin.domain.actions import Action
        for kind, data in kinds:
            tx.enqueue(Action("jira", key, kind, data), request=[{"method": "PUT", "url": "/x"}], status="dry_run",
                       now=now, delivery_id=None, log_id=None)
    measure("3 x Transaction.enqueue (one INSERT each)", enqueue_three)

    prebuilt = []

    def prebuilt_three(tx, key):
        from plugin.store.schema import outbox
        if not prebuilt:
            prebuilt.append(insert(outbox))
        tx.conn.execute(prebuilt[0], [dict(platform="jira", key=key, kind=kind, data=data,
                                            request=[{"method": "PUT", "url": "/x"}], status="dry_run", attempts=0,
                                            next_attempt_at=now, last_error="", created_at=now, delivery_id=None,
                                            log_id=None) for kind, data in kinds])
    measure("the same 3 outbox rows: one insert(outbox), executemany", prebuilt_three)
    try:
        from plugin.domain.clock import SystemClock
        from plugin.outbox import OutboxWorker
        worker = OutboxWorker(store, {}, SystemClock())
        measure("OutboxWorker.run_once with nothing due (one write transaction: release stuck rows, "
                "select due rows); the view wakes it after every delivery that queued rows, dry-run ones too",
                lambda tx, key: worker.run_once(), own_transaction=False)
    except ImportError as exc:
        rows.append(("OutboxWorker.run_once", f"not measured ({exc})"))
    return rows


def run_phases(args, tmp: Path, data_dir: Path | None = None) -> dict | None:
    """The phase timing in a subprocess; on a fresh database, or on `data_dir`'s (a stopped server's)."""
    out = tmp / ("phases-grown.json" if data_dir else "phases.json")
    env = {**os.environ, **{name: "" for name in CLEARED_ENV}}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE["root"]), os.environ.get("PYTHONPATH")]))
    command = [sys.executable, str(Path(__file__).resolve()), "--child-phases", str(out),
               "--phase-requests", str(args.phase_requests)]
    if args.engine:
        command += ["--engine", args.engine]
    if SOURCE["commit"]:
        command += ["--child-source", str(SOURCE["root"])]
    if data_dir:
        command += ["--child-data", str(data_dir)]
    done = subprocess.run(command, env=env, cwd=SOURCE["root"], capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not out.exists():
        log(f"phase timing failed: {done.stderr[-2000:]}")
        return None
    return json.loads(out.read_text())


# --- report ------------------------------------------------------------------------------------

def source_env() -> dict:
    """The environment the servers get: no write-back credentials; the snapshot first on the path."""
    env = {**os.environ, **{name: "" for name in CLEARED_ENV}}
    if SOURCE["commit"]:
        # before the editable install's path entry: plugin/ is imported from the snapshot
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SOURCE["root"]), os.environ.get("PYTHONPATH")]))
    return env


def cli_options_check() -> str:
    """Compare the constant gunicorn options `escalator serve` passes (plugin/cli.py of the measured tree)
    with the ones bench/bare_app.py actually uses there."""
    tree = ast.parse((SOURCE["root"] / "plugin" / "cli.py").read_text(encoding="utf-8"))
    printed = subprocess.run([sys.executable, str(BARE_APP), "--print-options", "--port", "0"], env=source_env(),
                             cwd=SOURCE["root"], capture_output=True, text=True, timeout=60)
    if printed.returncode != 0:
        return f"could not read bench/bare_app.py's options: {printed.stderr[-300:]}"
    ours = json.loads(printed.stdout)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Server" and node.args \
                and isinstance(node.args[0], ast.Dict):
            cli = {k.value: (v.value if isinstance(v, ast.Constant) else "<variable>")
                   for k, v in zip(node.args[0].keys, node.args[0].values, strict=True)}
            differ = [k for k in set(cli) | set(ours)
                      if cli.get(k) != "<variable>" and cli.get(k, "?") != ours.get(k, "?")]
            shown = ", ".join(f"`{k}={v}`" for k, v in sorted(ours.items()) if k not in ("bind", "workers", "threads"))
            return (f"{shown}; identical to `escalator serve` (plugin/cli.py)" if not differ
                    else f"{shown}; DIFFERENT from plugin/cli.py in {sorted(differ)}")
    return "could not find the options in plugin/cli.py"


def git(*a) -> str:
    return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout


def code_version() -> str:
    if SOURCE["commit"]:
        return f"{SOURCE['commit']} (`--commit`: a `git archive` of it, not the work tree)"
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "plugin", "rules").strip()
    return commit + (" with uncommitted changes in plugin/ or rules/ (the work tree was measured)" if dirty else "")


def snapshot(revision: str, tmp: Path) -> None:
    """Extract `revision` into tmp/src with `git archive` (reads the repository, changes nothing in it)."""
    commit = git("rev-parse", "--short", revision + "^{commit}").strip()
    if not commit:
        raise SystemExit(f"unknown revision {revision!r}")
    target = tmp / "src"
    target.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    SOURCE.update(root=target, commit=commit)


def wrk_version() -> str:
    if not have_wrk():
        return "not installed"
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0].strip()


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**NOT met**"


def rss_at(samples: list, mark: int) -> tuple | None:
    return next((sample for sample in samples if sample[1] >= mark), None)


def rss_rows(result: dict) -> tuple[list[str], dict, tuple | None]:
    """Rows at every 5,000 deliveries (and the last sample); the RSS at each mark reached; the last sample."""
    samples = [s for s in result["samples"] if s[1] >= 0 and s[2]]
    marks = sorted({*(m for m in RSS_MARKS if m <= result["target"]), result["target"],
                    *range(5_000, result["target"] + 1, 5_000)})
    rows = ["| deliveries stored | elapsed s | req/s since previous row | worker CPU ms per delivery since "
            "previous row | RSS per worker MB |", "| ---: | ---: | ---: | ---: | ---: |"]
    at, previous, missed = {}, (0.0, 0, samples[0][3] if samples else 0.0), []

    def row(sample, label):
        t, n, rss, cpu = sample
        rate = (n - previous[1]) / (t - previous[0]) if t > previous[0] else float("nan")
        cpu_ms = (cpu - previous[2]) / (n - previous[1]) * 1e3 if n > previous[1] else float("nan")
        rows.append(f"| {label} | {t:.0f} | {fmt(rate, 0)} | {fmt(cpu_ms, 2)} | "
                    f"{', '.join(f'{v:.1f}' for v in rss.values())} |")
        return t, n, cpu

    for mark in marks:
        found = rss_at(samples, mark)
        if found is None:
            missed.append(mark)
            continue
        at[mark] = found[2]
        previous = row(found, f"{found[1]:,}")
    final = samples[-1][:3] if samples else None
    if missed and final is not None:
        row(samples[-1], f"{samples[-1][1]:,} (the end)")
        rows.append(f"| {missed[0]:,}{f' to {missed[-1]:,}' if len(missed) > 1 else ''} | not reached | | | |")
    return rows, at, final


def died_lines(died: dict | None) -> list[str]:
    if not died:
        return []
    return [f"- **The full server stopped serving** after {died['deliveries']:,} deliveries ({died['after']:.0f} s): "
            f"exit code {died['exit_code']}, {died['workers']} worker(s) left; the run stopped there. The end of its "
            "log (access lines left out):", "", "```", died["log"], "```", ""]


def budget_lines(config: dict, rate: float) -> list[str]:
    """What the ratio target leaves the full path, in worker CPU per request (measured in the same rounds)."""
    bare = median([r["bare"]["cpu_ms"] for r in config["throughput"]])
    full = median([r["full"]["cpu_ms"] for r in config["throughput"]])
    if not (bare > 0 and full > 0):
        return []
    budget = bare / TARGET_RATIO
    return [f"  - In worker CPU (medians of the rounds): bare {bare:.2f} ms per request, so {TARGET_RATIO:.0%} of "
            f"its throughput leaves the full path {budget:.2f} ms per request; it uses {full:.2f} ms, "
            f"{full / budget:.1f}x that budget."]


def rate_lines(config: dict, rate: float) -> list[str]:
    full = config["latency"]["full"].get("cpu_ms", float("nan"))
    if not full > 0:
        return []
    per_worker = 1e3 / (rate / config["workers"])
    return [f"  - At {rate:g} requests/s each of the {config['workers']} worker(s) gets a request every "
            f"{per_worker:.1f} ms and spends {full:.2f} ms of CPU on one (one Python process runs one request's "
            f"Python at a time): {full / per_worker:.0%} busy" + (", so the queue grows without bound"
                                                                 if full >= per_worker else "") + "."]


def saturation_note(x: dict, rate: float) -> str:
    if x.get("saturated_at") is None:
        return ""
    return (f" (saturated: more than 5 s of requests behind after {x['saturated_at']:.1f} s; it answered "
            f"{x['rate']:.0f} req/s of the {rate:g} offered)")


def median(values):
    return statistics.median(values) if values else float("nan")


def calibration_us() -> float:
    """`sum(range(1000))` on this machine now, as in bench/engine.py: how busy or fast the CPU is."""
    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def phase_lines(phases: dict) -> list[str]:
    grown = phases.get("grown")
    lines = [f"The full path in process (Flask test client: no HTTP, no gunicorn, one thread), {phases['count']} "
             "new deliveries on new tickets after 200 warm-up ones; each phase timed by wrapping the function "
             "that does it, so `total` rows include the rows under them"
             + (f". Then the same on the RSS run's database ({grown['stored_before']:,} deliveries stored), to "
                "show what grows with the database." if grown else "."), "",
             f"- Full path: {phases['wall_ms']:.2f} ms wall, {phases['cpu_ms']:.2f} ms CPU per delivery; "
             f"{phases['statements']:.1f} SQL statements per delivery"
             + (f"; on the RSS run's database {grown['wall_ms']:.2f} ms wall, {grown['cpu_ms']:.2f} ms CPU"
                if grown else ""),
             f"- Bare endpoint, same client: {phases['bare_wall_ms']:.2f} ms wall, {phases['bare_cpu_ms']:.2f} ms "
             f"CPU per request (full / bare CPU: {phases['cpu_ms'] / phases['bare_cpu_ms']:.1f}x)", ""]
    if grown:
        after = {name: ms for name, ms, _ in grown["phases"]}
        lines += [f"| phase | ms per delivery, fresh database | ms per delivery, {grown['stored_before']:,} "
                  "deliveries stored | calls per delivery |", "| --- | ---: | ---: | ---: |"]
    else:
        lines += ["| phase | ms per delivery (wall) | calls per delivery |", "| --- | ---: | ---: |"]
    store = 0.0
    for name, ms, per in phases["phases"]:
        if grown:
            later = after.get(name, float("nan"))
            flag = " **grows**" if later > 3 * ms and later - ms > 1.0 else ""
            lines.append(f"| {name} | {ms:.3f} | {later:.3f}{flag} | {per:g} |")
        else:
            lines.append(f"| {name} | {ms:.3f} | {per:g} |")
        if name.startswith("store:"):
            store += ms
    lines += ["", f"- Store calls together: {store:.2f} ms of the {phases['wall_ms']:.2f} ms "
              f"({store / phases['wall_ms']:.0%})", "", "Store operations alone (CPU ms, each in its own "
              "transaction on the same database):", "", "| operation | CPU ms |", "| --- | ---: |"]
    for label, value in phases["micro"]:
        lines.append(f"| {label} | {value if isinstance(value, str) else f'{value:.2f}'} |")
    return lines


def report(args, configs: list[dict], rss: dict | None, phases: dict | None,
           conditions: dict) -> tuple[str, dict]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in
                         ("gunicorn", "Flask", "Werkzeug", "SQLAlchemy", "durable_rules"))
    default = configs[0]
    ratios = [r["full"]["rps"] / r["bare"]["rps"] for r in default["throughput"]]
    ratio = median(ratios)
    p99 = default["latency"]["full"]["p99_ms"]
    targets = {"ratio": ratio >= TARGET_RATIO, "p99": p99 <= TARGET_P99_MS}
    lines = [
        "# Ingest benchmark: the full webhook path against a bare Flask endpoint", "",
        "Both servers ran in the same run under gunicorn with the same options and got the same signed Jira "
        "deliveries (the issue-created fixture with an outage summary and the Gold tier, about "
        f"{conditions['body_bytes']:,} bytes; every request a new delivery id and a new issue key). **full** is "
        "`escalator serve`: signature, dedupe, delivery row, the shipped matrix, ticket, escalation log, SLA "
        "timers where the version has them, and outbox rows in one SQLite transaction (dry-run: no write-back "
        "credentials, so outbox rows are stored as `dry_run`); the background threads `serve` starts in each "
        "worker (outbox worker, timer queue consumer) run too, unless `--serve-arg=--no-worker` says otherwise "
        "below. **bare** is bench/bare_app.py: `json.loads(request.get_data())` and a 202.", "",
        "## Machine and settings", "",
        f"- Machine: `nproc` {len(os.sched_getaffinity(0))}, {cpu}, {platform.system()} {platform.release()}; "
        f"the load generator and both servers share these CPUs",
        f"- Python {platform.python_version()}; {versions}",
        f"- Load average (1 min) {conditions['load'][0]:.2f} before, {conditions['load'][1]:.2f} after; "
        f"`sum(range(1000))` took {conditions['calibration'][0]:.1f} µs before and "
        f"{conditions['calibration'][1]:.1f} µs after (compare with bench/results/engine.md)",
        f"- Code: commit {conditions['code']}; date {conditions['date']}",
        f"- gunicorn options of both servers: {conditions['options_check']}; workers x threads as below; "
        "the access log goes to a file",
        f"- Rule engine: {args.engine or 'the default (ESCALATOR_ENGINE unset: durable)'}; "
        f"`escalator serve` extra arguments: {' '.join(args.serve_arg) or 'none'}; "
        "database: SQLite (WAL) in a fresh temporary directory per server",
        f"- Closed loop: {conditions['closed_tool']}, 1 thread, 2 x workers x threads keep-alive connections, "
        f"{args.duration:g} s per measurement, {args.rounds} rounds alternating bare and full after "
        f"{WARMUP:,} warm-up requests each. Its latencies are under saturation.",
        f"- Open loop: Python client, 16 keep-alive connections, {args.rate:g} requests/s for "
        f"{args.ol_duration:g} s; latency from each request's scheduled send time to the end of its response",
        "",
        "## Targets", "",
        f"- Throughput, full ≥ {TARGET_RATIO:.0%} of bare ({default['workers']}x{default['threads']}, median of "
        f"{len(ratios)} rounds): {ratio:.0%} — {verdict(targets['ratio'])}",
        *budget_lines(default, args.rate),
        f"- p99 ≤ {TARGET_P99_MS:g} ms at {args.rate:g} requests/s (full, {default['workers']}x"
        f"{default['threads']}): {fmt(p99)} ms{saturation_note(default['latency']['full'], args.rate)} — "
        f"{verdict(targets['p99'])}",
        *rate_lines(default, args.rate),
    ]
    rss_lines = []
    if rss:
        rss_lines, at, final = rss_rows(rss)
        first, last = min(RSS_MARKS[0], rss["target"]), rss["target"]
        end = last if last in at else (final[1] if final else 0)
        end_rss = at.get(last) or (final[2] if final else {})
        if first in at and end_rss:
            growth = {pid: end_rss.get(pid, float("nan")) - v for pid, v in at[first].items()}
            worst = max(growth, key=lambda p: growth[p] / at[first][p])
            relative = growth[worst] / at[first][worst]
            flat = relative <= RSS_FLAT
            measured_text = (f"{growth[worst]:+.1f} MB ({relative:+.1%}) between {first:,} and {end:,} deliveries, "
                             f"{growth[worst] / max(end - first, 1) * 1e4:+.2f} MB per 10,000")
            if last in at:
                targets["rss"] = flat
                lines.append(f"- RSS flat over {last:,} deliveries (at most {RSS_FLAT:.0%} growth per worker "
                             f"from {first:,} on): {measured_text} — {verdict(flat)}")
            else:
                targets["rss"] = None
                lines.append(f"- RSS flat over {last:,} deliveries: **not measured** — the run stopped at "
                             f"{end:,} deliveries after {rss['elapsed']:.0f} s (limit {args.rss_timeout:g} s, "
                             f"{last:,} would take about {last / max(rss['load']['rps'], 1e-9) / 60:.0f} min at "
                             f"this rate); so far {measured_text}, {'flat' if flat else 'NOT flat'} by the same "
                             f"{RSS_FLAT:.0%} rule")
        else:
            targets["rss"] = None
            lines.append(f"- RSS over {last:,} deliveries: **not measured** — fewer than {first:,} deliveries "
                         f"were stored before the run stopped")
    lines += ["", "## Throughput (closed loop)", "",
              "| workers x threads | connections | round | bare req/s | full req/s | full / bare "
              "| worker CPU ms/request (bare, full) | bare p50 / p99 ms | full p50 / p99 ms "
              "| not accepted (bare, full) | socket errors | load avg |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for c in configs:
        for r, row in enumerate(c["throughput"], 1):
            b, f = row["bare"], row["full"]
            lines.append(f"| {c['workers']}x{c['threads']} | {c['connections']} | {r} | {b['rps']:,.0f} | "
                         f"{f['rps']:,.0f} | {f['rps'] / b['rps']:.0%} | "
                         f"{fmt(b['cpu_ms'], 2)}, {fmt(f['cpu_ms'], 2)} | "
                         f"{fmt(b['p50_ms'])} / {fmt(b['p99_ms'])} | "
                         f"{fmt(f['p50_ms'])} / {fmt(f['p99_ms'])} | {b['not_accepted']}, {f['not_accepted']} | "
                         f"{b['socket_errors'] + f['socket_errors']} | {fmt(f.get('load', float('nan')), 2)} |")
    lines += ["", "Worker CPU is the user + system time of the gunicorn workers (/proc) over the answers, "
              "background threads included. It depends less than req/s on what else runs on the machine, but a "
              "busy shared CPU still makes it larger: compare the `sum(range(1000))` times above."]
    lines += ["", f"## Latency at {args.rate:g} requests/s (open loop)", "",
              "| workers x threads | server | sent / planned | accepted | answered req/s | p50 ms | p99 ms "
              "| p99.9 ms | max ms | service p50 / p99 ms | worker CPU ms/request | not accepted | saturated |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for c in configs:
        for name in ("bare", "full"):
            x = c["latency"][name]
            saturated = (f"yes, after {x['saturated_at']:.1f} s" if x.get("saturated_at") is not None else "no")
            lines.append(f"| {c['workers']}x{c['threads']} | {name} | {x['sent']:,} / {x['planned']:,} | "
                         f"{x['accepted']:,} | {x['rate']:.0f} | {fmt(x['p50_ms'])} | {fmt(x['p99_ms'])} | "
                         f"{fmt(x['p999_ms'])} | {fmt(x['max_ms'])} | {fmt(x['service_p50_ms'])} / "
                         f"{fmt(x['service_p99_ms'])} | {fmt(x['cpu_ms'], 2)} | {x['not_accepted']} | {saturated} |")
    lines += ["", "Latency runs from each request's scheduled send time to the end of its response, so waiting "
              "for a free connection or for the server counts; service time runs from the actual send. A "
              "server more than 5 s of requests behind is saturated: sending stops there, and the requests "
              "already sent are still waited for and counted.", "",
              "## Memory per worker", "",
              "| workers x threads | server | worker | RSS at the end MB | peak RSS (VmHWM) MB |",
              "| --- | --- | ---: | ---: | ---: |"]
    for c in configs:
        for name in ("bare", "full"):
            for i, w in enumerate(c["memory"][name], 1):
                lines.append(f"| {c['workers']}x{c['threads']} | {name} | {i} | {fmt(w.get('VmRSS', float('nan')))} | "
                             f"{fmt(w.get('VmHWM', float('nan')))} |")
    if rss:
        load = rss["load"]
        peaks = ", ".join(fmt(w.get("VmHWM", float("nan"))) for w in rss["memory"])
        lines += ["", f"## RSS over {rss['target']:,} deliveries (full, {rss['workers']}x{rss['threads']}, "
                  f"{rss['connections']} connections, as fast as it takes them)", "",
                  *rss_lines, "",
                  f"- {load['requests']:,} answers in {load['seconds']:.0f} s ({load['rps']:.0f} req/s overall): "
                  f"{load['accepted']:,} accepted, {load['not_accepted']} not accepted, {load['socket_errors']} "
                  f"socket errors, {load['reused']} requests reused a delivery id"
                  + (f"; **stopped after {args.rss_timeout:g} s**" if rss["aborted"] and "died" not in rss else ""),
                  *died_lines(rss.get("died")),
                  f"- Peak RSS (VmHWM) per worker at the end: {peaks or 'n/a (no worker left)'} MB; highest "
                  f"sampled RSS {max((v for _, _, r, _ in rss['samples'] for v in r.values()), default=0):.1f} MB",
                  f"- Database after the run: {rss['database']['bytes'] / 2**20:,.1f} MB "
                  f"({', '.join(f'{k} {v / 2**20:,.1f} MB' for k, v in rss['database']['files'].items())}); "
                  f"deliveries {rss['database'].get('deliveries')}, tickets {rss['database'].get('tickets') or 0:,}, "
                  f"escalation log {rss['database'].get('log') or 0:,}, outbox {rss['database'].get('outbox')}"]
    if phases:
        lines += ["", "## Where the time goes (full path, in process)", "", *phase_lines(phases)]
    lines += ["", "## Errors and databases", ""]
    for c in configs:
        db = c["database"]
        tp = sum(r[n]["not_accepted"] + r[n]["socket_errors"] for r in c["throughput"] for n in ("bare", "full"))
        ol = sum(c["latency"][n]["not_accepted"] for n in ("bare", "full"))
        reused = sum(r[n]["reused"] for r in c["throughput"] for n in ("bare", "full"))
        lines.append(f"- {c['workers']}x{c['threads']}: {tp} answers other than 202 accepted or socket errors "
                     f"in the closed loop ({reused} requests reused a delivery id), {ol} in the open loop "
                     f"({sum(c['latency'][n]['retries'] for n in ('bare', 'full'))} resent after a closed "
                     f"keep-alive); full server's database {db['bytes'] / 2**20:,.1f} MB, deliveries "
                     f"{db.get('deliveries')}, outbox {db.get('outbox')}")
        for name, trouble in c.get("trouble", {}).items():
            lines += [f"  - **the {name} server stopped serving** (exit code {trouble['exit_code']}); the end of "
                      "its log:", "", "```", trouble["log"], "```", ""]
        for r in c["throughput"]:
            for n in ("bare", "full"):
                if r[n]["samples"]:
                    lines.append(f"  - {n}: {r[n]['samples'][:300]}")
    lines += ["", "## Reproduce", "", "```",
              "apt-get install -y wrk        # optional: without it a Python client does the closed loop",
              f".venv/bin/python bench/ingest.py{f' --commit {args.commit}' if args.commit else ''} "
              f"{''.join(f'--serve-arg={a} ' for a in args.serve_arg)}"
              f"--configs {args.configs} --duration {args.duration:g} "
              f"--rounds {args.rounds} --rate {args.rate:g} --ol-duration {args.ol_duration:g} "
              f"--deliveries {args.deliveries}", "```", ""]
    return "\n".join(lines), targets


# --- entry point ---------------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="1x4,2x4", help="gunicorn workers x threads, comma-separated; "
                                                              "the first one is judged against the targets")
    parser.add_argument("--duration", type=float, default=15, help="seconds per closed-loop measurement")
    parser.add_argument("--rounds", type=int, default=2, help="closed-loop rounds per configuration")
    parser.add_argument("--connections", type=int, default=0, help="closed-loop connections (default 2 x w x t)")
    parser.add_argument("--max-rps", type=float, default=5000,
                        help="distinct requests prepared per closed-loop second (more are resent)")
    parser.add_argument("--rate", type=float, default=200, help="open-loop requests per second")
    parser.add_argument("--ol-duration", type=float, default=20, help="open-loop seconds")
    parser.add_argument("--deliveries", type=int, default=100_000, help="deliveries in the RSS run (0: skip)")
    parser.add_argument("--rss-timeout", type=float, default=600, help="seconds before the RSS run stops")
    parser.add_argument("--engine", choices=("durable", "python"), help="ESCALATOR_ENGINE for the full server")
    parser.add_argument("--serve-arg", action="append", default=[],
                        help="an extra `escalator serve` argument for the full server, e.g. --serve-arg=--no-worker")
    parser.add_argument("--no-wrk", action="store_true", help="use the Python closed-loop client")
    parser.add_argument("--phase-requests", type=int, default=500,
                        help="deliveries for the in-process phase timing (0: skip it)")
    parser.add_argument("--child-phases", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--commit", help="run the servers from this commit (a git archive) instead of the work tree")
    parser.add_argument("--raw", type=Path, help="also write every measurement to this JSON file")
    parser.add_argument("--report-from", type=Path, help="only write the report again, from a --raw file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, databases)")
    parser.add_argument("--out", type=Path, help=f"report file (default {DEFAULT_OUT})")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.report_from:
        run = json.loads(args.report_from.read_text())
        saved = argparse.Namespace(**{**run["args"], "out": args.out})
        if run["rss"]:
            run["rss"]["samples"] = [tuple(x[:2]) + ({int(k): v for k, v in x[2].items()},) + tuple(x[3:])
                                     for x in run["rss"]["samples"]]
        return write_report(saved, run["configs"], run["rss"], run["phases"], run["conditions"])
    if args.child_phases:
        if args.child_source:
            SOURCE.update(root=args.child_source, commit="snapshot")
        return phases_child(args.child_phases, args.phase_requests, args.engine, args.child_data)
    FULL_ARGS[:] = args.serve_arg
    tmp = Path(tempfile.mkdtemp(prefix="escalator-ingest-"))
    if args.commit:
        snapshot(args.commit, tmp)
    template = body_template()
    conditions = {"load": [os.getloadavg()[0]], "options_check": cli_options_check(),
                  "body_bytes": len(template[0]) + len("SUP-1") + len(template[1]),
                  "calibration": [calibration_us()], "code": code_version(),
                  "date": datetime.date.today().isoformat(),
                  "closed_tool": (wrk_version() if have_wrk() and not args.no_wrk
                                  else "Python client (one process per connection)")}
    log(f"servers from {code_version()}; gunicorn options {conditions['options_check']}; "
        f"closed loop: {conditions['closed_tool']}")
    configs, rss, phases = [], None, None
    try:
        if args.phase_requests:
            log(f"in-process phase timing, {args.phase_requests} deliveries")
            phases = run_phases(args, tmp)
        for index, config in enumerate(args.configs.split(",")):
            workers, threads = (int(x) for x in config.lower().split("x"))
            configs.append(run_config(args, tmp, template, workers, threads, index))
        if args.deliveries:
            log(f"RSS run: {args.deliveries:,} deliveries, at most {args.rss_timeout:g} s")
            rss = rss_run(args, tmp, template)
            db = rss["database"]
            log(f"RSS run done in {rss['elapsed']:.0f} s; database {db['bytes'] / 2**20:.1f} MB "
                f"{db.get('files')}; deliveries {db.get('deliveries')}")
            if phases is not None:
                log("in-process phase timing again, on the RSS run's database")
                phases["grown"] = run_phases(args, tmp, data_dir=tmp / "data-rss")
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    conditions["load"].append(os.getloadavg()[0])
    conditions["calibration"].append(calibration_us())
    if args.raw:
        run = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "configs": configs,
               "rss": rss, "phases": phases, "conditions": conditions}
        args.raw.write_text(json.dumps(run, default=str))
    write_report(args, configs, rss, phases, conditions)


def write_report(args, configs, rss, phases, conditions) -> None:
    text, targets = report(args, configs, rss, phases, conditions)
    out = args.out or ROOT / DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    log(f"targets: {targets}; wrote {args.out or DEFAULT_OUT}")


if __name__ == "__main__":
    main()
