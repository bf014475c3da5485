"""Helpers shared by the benchmarks: the code under test, machine conditions, servers, clients, tables.

Nothing here imports plugin/ at module level: the servers and profile children run the code of a
chosen tree (the work tree, or a `git archive` of a commit) through PYTHONPATH.
"""
from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import math
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import timeit
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = Path("tests/fixtures/jira/mattermost__webhook-issue-created.json")
SECRET = "bench-secret"
SUMMARY = "Checkout is down - total outage"
ESCALATOR = "import sys; from plugin.cli import main; sys.argv[0] = 'escalator'; main()"


def stop_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so `finally` blocks stop the servers a benchmark started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


# -- the code under test ------------------------------------------------------------------------

class Source:
    """The tree servers and children run: the work tree, or `git archive REV` extracted under `tmp`."""

    def __init__(self, revision: str, tmp: Path):
        if revision == "worktree":
            self.root, self.commit = ROOT, git("rev-parse", "--short", "HEAD")
            dirty = subprocess.run(["git", "status", "--porcelain", "--", "plugin", "simulator", "rules"], cwd=ROOT,
                                   capture_output=True, text=True).stdout.splitlines()
            self.described = f"the work tree at {self.commit}" + (
                f", with uncommitted changes in {', '.join(sorted(line[3:] for line in dirty))}" if dirty else "")
            return
        self.commit = git("rev-parse", "--short", revision + "^{commit}")
        if not self.commit:
            raise SystemExit(f"unknown revision {revision!r}")
        self.root = tmp / "src"
        self.root.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "--format=tar", self.commit], cwd=ROOT, capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(self.root)], input=archive, check=True)
        self.described = f"commit {self.commit} (a `git archive` of it, so edits to the work tree are not measured)"

    def env(self, **extra: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATOR_")}     # only what we set
        env.update(PYTHONPATH=str(self.root), PYTHONUNBUFFERED="1", **extra)
        return env

    def escalator(self, *args: str) -> list[str]:
        return [sys.executable, "-c", ESCALATOR, *args]


# -- machine conditions -------------------------------------------------------------------------

def command_line(script: str) -> str:
    return "- Command: `" + " ".join([".venv/bin/python", f"bench/{script}", *sys.argv[1:]]) + "`"


def calibration_us() -> float:
    """`sum(range(1000))` now, in µs (as bench/engine.py): how fast or busy the CPU is."""
    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def conditions() -> dict:
    return {"load": os.getloadavg()[0], "calibration_us": calibration_us(), "at": datetime.now(UTC)}


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine_lines(source: Source, before: dict, after: dict) -> list[str]:
    import importlib.metadata as md
    versions = ", ".join(f"{p} {md.version(p)}" for p in ("gunicorn", "Flask", "SQLAlchemy", "durable_rules"))
    return [
        f"- Machine: `nproc` {os.cpu_count()}, {cpu_model()}, Linux {platform.release()}; shared with other work, "
        "and the load generators run on the same CPUs",
        f"- Python {platform.python_version()}; {versions}",
        f"- Load average (1 min): {before['load']:.2f} before, {after['load']:.2f} after; `sum(range(1000))` took "
        f"{before['calibration_us']:.1f} µs before and {after['calibration_us']:.1f} µs after "
        "(compare with other results files: a larger figure means a slower or busier CPU)",
        f"- Code: {source.described}; date {before['at']:%Y-%m-%d %H:%M} UTC, "
        f"{(after['at'] - before['at']).total_seconds() / 60:.1f} min",
    ]


# -- requests -----------------------------------------------------------------------------------

@dataclass
class Deliveries:
    """`count` distinct Jira deliveries: the 9.6 KB issue-created fixture (indent 2, as stored) with an
    outage summary and the Gold tier, issue key TAG-n and webhook identifier bench-TAG-n, signed."""
    source: Path
    tag: str
    count: int
    prefix: bytes = b""
    suffix: bytes = b""
    signatures: list = field(default_factory=list)

    def __post_init__(self):
        from plugin.webhooks.signatures import sign_jira
        payload = json.loads((self.source / FIXTURE).read_text(encoding="utf-8"))
        payload["issue"]["key"] = "@@KEY@@"
        payload["issue"]["fields"]["summary"] = SUMMARY
        payload["issue"]["fields"]["customfield_10050"] = {"value": "Gold"}      # the tier: enterprise
        self.prefix, self.suffix = json.dumps(payload, indent=2).encode().split(b"@@KEY@@")
        self.signatures = [sign_jira(self.body(i), SECRET) for i in range(self.count)]

    def key(self, i: int) -> str:
        return f"{self.tag}-{i + 1}"

    def body(self, i: int) -> bytes:
        return self.prefix + self.key(i).encode() + self.suffix

    def headers(self, i: int, signed: bool) -> dict:
        headers = {"Content-Type": "application/json", "X-Atlassian-Webhook-Identifier": f"bench-{self.key(i)}"}
        return {**headers, "X-Hub-Signature": self.signatures[i]} if signed else headers

    def write(self, folder: Path) -> tuple[Path, Path, Path]:
        """prefix, suffix and one `key id signature` line per delivery, for wrk's Lua script."""
        files = folder / f"{self.tag}.prefix", folder / f"{self.tag}.suffix", folder / f"{self.tag}.entries"
        files[0].write_bytes(self.prefix)
        files[1].write_bytes(self.suffix)
        files[2].write_text("".join(f"{self.key(i)} bench-{self.key(i)} {s}\n" for i, s in enumerate(self.signatures)))
        return files


# -- servers ------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    """A subprocess in its own session (so stopping it stops its gunicorn workers), output to a file."""

    def __init__(self, name: str, command: list[str], env: dict, cwd: Path, logs: Path, port: int | None = None):
        self.name, self.port = name, port
        self.output = logs / f"{name}-{int(time.time() * 1000)}.log"
        with self.output.open("wb") as out:
            self.popen = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, seconds: float = 90) -> Proc:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise SystemExit(f"{self.name} exited:\n{self.output.read_text()[-3000:]}")
            try:
                get_json(self.base + "/healthz", timeout=2)
                return self
            except OSError:
                time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer /healthz in {seconds} s")

    def wait_output(self, text: str, seconds: float = 90) -> Proc:
        """Wait until the process has printed `text` (e.g. `escalator worker`'s "worker started")."""
        deadline = time.monotonic() + seconds
        while text not in self.output.read_text(errors="replace"):
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{self.name} did not print {text!r}:\n{self.output.read_text()[-3000:]}")
            time.sleep(0.1)
        return self

    def pids(self) -> list[int]:
        """This process and its children (gunicorn's workers)."""
        found = [self.popen.pid]
        for pid in found:
            for task in Path(f"/proc/{pid}/task").glob("*"):
                with contextlib.suppress(OSError):      # the task ended meanwhile
                    found += [int(c) for c in (task / "children").read_text().split()]
        return found

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)       # the session this benchmark started
                self.popen.wait(10)


def get_json(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read())


def histogram(base: str, name: str, tries: int = 20) -> dict[float, float] | None:
    """Cumulative buckets {le: count} of a histogram in /metrics. Each gunicorn worker keeps its own
    registry, so scrape a few times (new connections land on either worker) and keep the fullest."""
    best: dict[float, float] = {}
    for _ in range(tries):
        with urllib.request.urlopen(base + "/metrics", timeout=10) as answer:
            text = answer.read().decode()
        buckets: dict[float, float] = {}
        for line in text.splitlines():
            if line.startswith(name + "_bucket{"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                bound = float("inf") if le == "+Inf" else float(le)
                buckets[bound] = buckets.get(bound, 0) + float(line.rsplit(" ", 1)[1])
        if buckets.get(float("inf"), 0) > best.get(float("inf"), 0):
            best = buckets
    return best or None


def bucket_quantile(buckets: dict[float, float] | None, q: float) -> str:
    """The bucket bound under which a fraction `q` of the observations fall, as `≤ bound`."""
    total = (buckets or {}).get(float("inf"), 0)
    if not total:
        return "no observations in /metrics"
    bound = next(le for le in sorted(buckets) if buckets[le] >= q * total)
    return f"≤ {bound:g} s" if bound != float("inf") else "> the largest bucket"


# -- an open-loop client ------------------------------------------------------------------------

def open_loop(base: str, deliveries: Deliveries, rate: float, seconds: float, signed: bool = True,
              connections: int = 32, first: int = 0) -> dict:
    """Send delivery i at t0 + i / rate whatever the server does; latency runs from that scheduled
    time to the end of the answer, so time spent queueing anywhere counts (no coordinated omission)."""
    total = min(int(rate * seconds), deliveries.count - first)
    counter, results = itertools.count(), []
    t0 = time.perf_counter() + 0.2
    port = int(base.rsplit(":", 1)[1])

    def sender():
        conn, mine = http.client.HTTPConnection("127.0.0.1", port, timeout=30), []
        while (i := next(counter)) < total:
            scheduled = t0 + i / rate
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            status = 0
            try:
                j = first + i
                conn.request("POST", "/webhooks/jira", deliveries.body(j), deliveries.headers(j, signed))
                answer = conn.getresponse()
                answer.read()
                status = answer.status
            except OSError:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            mine.append((time.perf_counter() - scheduled, status))
        results.extend(mine)

    threads = [threading.Thread(target=sender) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies = [lat for lat, _ in results]
    return {"sent": len(results), "planned": total, "elapsed": elapsed, "answered_rate": len(results) / elapsed,
            "accepted": sum(status == 202 for _, status in results),
            "p50_ms": percentile(latencies, 50) * 1e3, "p99_ms": percentile(latencies, 99) * 1e3,
            "max_ms": max(latencies, default=float("nan")) * 1e3}


# -- watching the escalation log ----------------------------------------------------------------

def sqlite_time(text: str) -> float:
    """A timestamp as SQLAlchemy stores it on SQLite (naive UTC) -> seconds since the epoch."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class LogWatcher(threading.Thread):
    """Reads new escalation_log rows every `interval` s with its own read-only connection and notes when
    each became visible: the moment a decision or a firing is committed, give or take one interval.
    A row's `at` is the delivery's receipt or the timer's due point, so `seen - at` is the real lag.
    Start it before the load: rows already stored are skipped."""

    def __init__(self, database: Path, interval: float = 0.05):
        super().__init__(daemon=True)
        self.database, self.interval = database, interval
        self.rows: list[tuple[str, int | None, float, float]] = []     # (event kind, delivery id, at, seen)
        self.halt = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30)
        last = conn.execute("SELECT coalesce(max(id), 0) FROM escalation_log").fetchone()[0]   # only what follows
        while True:
            stopping = self.halt.is_set()
            found = conn.execute("SELECT id, event_kind, delivery_id, at FROM escalation_log WHERE id > ? ORDER BY id",
                                 (last,)).fetchall()
            seen = time.time()
            self.rows += [(kind, delivery, sqlite_time(at), seen) for _, kind, delivery, at in found]
            last = found[-1][0] if found else last
            if stopping:
                break
            self.halt.wait(self.interval)
        conn.close()

    def finish(self) -> None:
        self.halt.set()
        self.join(30)

    def lags(self, kind: str | None = None, deliveries: bool = False) -> list[float]:
        return [max(seen - at, 0.0) for k, delivery, at, seen in self.rows
                if (kind is None or k == kind) and (not deliveries or delivery is not None)]


def query(database: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


# -- figures and tables -------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * q / 100) - 1))]


def table(header: list[str], rows: list[list], right: set[int] | None = None) -> list[str]:
    """A markdown table; columns in `right` (default: all but the first) align right."""
    right = set(range(1, len(header))) if right is None else right
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(rule) + " |"] + \
        ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def verdict(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"
