"""SLA timers at scale: 10,000 armed timers, the worker's CPU while idle, and how late they fire.

Method (every step uses the real code; nothing in plugin/ is patched):

1. Arming (once). A copy of rules/ whose critical ack is `{ack: 15m, calendar: 24x7}` and nothing
   else. 10,000 critical tickets (SUP-1 .. SUP-10000, enterprise, "Dashboard down for everyone")
   go through `container.service.handle`, 250 per transaction, on the SQLite store; after each
   transaction the wake-ups go to `container.timers.schedule`, as the webhook view does. The
   container's clock is set to each ticket's arrival time, so ticket i is due exactly at
   T + 60 s * i / 10,000: the due times are spread evenly over the window. The matrix schema
   wants warn_at > 0, so in the same transaction `TimerBook.arm(..., warn_fraction=0)` re-arms
   the ack timer without a warning: no warnings are armed or fired, only the 10,000 deadlines.
   This is the arming time reported. The store is then kept as a snapshot.
2. One run per backend combination: the snapshot is restored (SQLite: a copy of the file;
   PostgreSQL: its rows copied into a fresh database), the 10,000 deadlines (and their start
   times) are shifted so the window starts T0 = 50 s ahead, the real worker is started
   (`escalator worker`, a subprocess with ESCALATOR_* set: 2 consumer threads, scheduler
   interval 1 s, the minutely sweep and the outbox worker), and the 10,000 wake-ups are
   scheduled through `container.timers.schedule` while it runs (Huey puts each one on the task
   queue, and the worker moves it to its schedule).
3. Idle: the worker's CPU (utime + stime from /proc/<pid>/stat) over the 20 s before T0.
4. Window: until every timer fired or 30 s after the last due time. Fire lag of a timer is
   `timers.fired_at - timers.due_at`, both written by the worker (fired_at is its clock when it
   fired); the escalation log's `sla_breached` entry is written a moment later (service.handle
   reads the clock again) and the largest difference is reported. A timer not fired by the
   cut-off counts as infinitely late in the percentiles. The worker's run-queue wait
   (/proc/<pid>/task/*/schedstat) and the machine's busy CPU (/proc/stat) show how much other
   work on the machine held it back.
5. Sparse timers, while step 1 runs: 5 tickets per queue (SqliteHuey, RedisHuey) on their own
   SQLite store and worker, due 30 s after scheduling and then 15, 25, 35, 45 s apart: the lag of
   a lone timer after quiet, when the consumer threads have backed off.
6. Where a firing's time goes: 300 firings in this process on a copy of the snapshot (SQLite,
   no queue, one thread) timed, then 300 under cProfile; again on a copy with one added index on
   escalation_log (platform, key).

The worker runs fire through `escalator worker` unchanged; the parent only schedules, samples
/proc and reads counts with its own connection (no write lock). --raw/--render keep the figures
of a run (outside the repository) and rewrite the report from them.

PostgreSQL uses its own database (escalator_bench_timers, dropped at the end) so a test run on
the shared `test` database is not disturbed; Redis uses DB 15, flushed before and after. Its
arming time is measured on 500 tickets through the same path before the snapshot is loaded.

    .venv/bin/python bench/timers.py [--timers 10000] [--spread 60] [--combos sqlite,sqlite+redis,postgres+redis]
                                     [--no-sparse] [--raw FILE | --render FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import importlib.metadata
import math
import os
import pickle
import platform
import pstats
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from pathlib import Path

from sqlalchemy import bindparam, create_engine, func, insert, select, text, update

from plugin import bootstrap
from plugin.domain.clock import FixedClock
from plugin.domain.matrix import TimerSpec
from plugin.domain.ticket import EventKind, TicketEvent
from plugin.settings import Settings
from plugin.sla import TimerBook, Wakeup
from plugin.store import Store
from plugin.store.schema import escalation_log, metadata, timers

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("bench/results/timers.md")
REDIS_URL = "redis://127.0.0.1:6379/15"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DB = "escalator_bench_timers"
ACK = timedelta(minutes=15)
SHIPPED_CRITICAL = "critical: {ack: 15m, plan: 2h, rca: 24h, update_every: 30m, calendar: 24x7, warn_at: 0.8}"
BENCH_CRITICAL = "critical: {ack: 15m, calendar: 24x7}"
BATCH = 250
TARGET_S = 2.0
PG_ARM_SAMPLE = 500
COMBOS = {"sqlite": ("sqlite", "sqlite"), "sqlite+redis": ("sqlite", "redis"),
          "postgres+redis": ("postgres", "redis")}
LABELS = {"sqlite": "SQLite store + SqliteHuey", "sqlite+redis": "SQLite store + RedisHuey",
          "postgres+redis": "PostgreSQL store + RedisHuey"}


# --- the worker process ---------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process, all threads, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields_ = f.read().rsplit(")", 1)[1].split()
    return (int(fields_[11]) + int(fields_[12])) / CLK_TCK


def memory_mb(pid: int) -> dict:
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0]) / 1024
    return out


def run_queue_wait(pid: int) -> float:
    """Seconds the process's threads have waited for a CPU (run queue), from schedstat."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, IndexError):
            total += int((task / "schedstat").read_text().split()[1])
    return total / 1e9


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


class Worker:
    """`escalator worker` in its own process, so its CPU is its alone."""

    def __init__(self, env: dict, log_path: Path):
        self.log_path = log_path
        self.log = open(log_path, "wb")  # noqa: SIM115 - open for the worker's lifetime, closed in stop()
        escalator = Path(sys.executable).parent / "escalator"
        self.proc = subprocess.Popen([str(escalator), "worker"], env=env, cwd=log_path.parent,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while b"worker started" not in log_path.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the worker did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.1)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def memory(self) -> dict:
        return memory_mb(self.proc.pid)

    def waited(self) -> float:
        return run_queue_wait(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def worker_env(settings: Settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ESCALATOR_")}
    env.update(ESCALATOR_RULES=settings.rules, ESCALATOR_DATA_DIR=settings.data_dir)
    if settings.database_url:
        env["ESCALATOR_DATABASE_URL"] = settings.database_url
    if settings.queue_url:
        env["ESCALATOR_QUEUE_URL"] = settings.queue_url
    return env


# --- arming ---------------------------------------------------------------------------------

def write_rules(target: Path) -> Path:
    shutil.copytree(ROOT / "rules", target, ignore=shutil.ignore_patterns("tests"))
    matrix = target / "matrix.yaml"
    text_ = matrix.read_text(encoding="utf-8")
    if SHIPPED_CRITICAL not in text_:
        raise SystemExit(f"rules/matrix.yaml no longer has the line\n  {SHIPPED_CRITICAL}\nupdate bench/timers.py")
    matrix.write_text(text_.replace(SHIPPED_CRITICAL, BENCH_CRITICAL), encoding="utf-8")
    return target


def critical(key: str, at: dt.datetime) -> TicketEvent:
    return TicketEvent("jira", EventKind.CREATED, key, occurred_at=at, summary="Dashboard down for everyone",
                       customer_tier="enterprise", product_area="payments")


def arm(container, clock: FixedClock, tickets: list[tuple[str, dt.datetime]]) -> dict:
    """Each (key, arrival) through service.handle, BATCH per transaction, then timers.schedule."""
    matrix = container.matrix().matrix
    handle_s = schedule_s = 0.0
    batches = []
    for first in range(0, len(tickets), BATCH):
        started, wakeups = time.perf_counter(), []
        with container.store.transaction() as tx:
            for key, arrival in tickets[first:first + BATCH]:
                clock.current = arrival
                outcome = container.service.handle(tx, critical(key, arrival))
                if outcome.decision.severity != "critical" or "ack" not in {t.name for t in
                                                                            outcome.decision.start_timers}:
                    raise SystemExit(f"{key} was not a critical ticket with an ack timer: {outcome}")
                book = TimerBook(tx, matrix, arrival)      # the same timer, without a warning
                book.arm("jira", key, TimerSpec("ack", ACK, "24x7", False), 0.0)
                wakeups += book.wakeups
        handle_s += time.perf_counter() - started
        batches.append((len(tickets[first:first + BATCH]), time.perf_counter() - started))
        started = time.perf_counter()
        container.timers.schedule(wakeups)
        schedule_s += time.perf_counter() - started
    return {"tickets": len(tickets), "handle_s": handle_s, "schedule_s": schedule_s,
            "total_s": handle_s + schedule_s, "batches": batches}


def file_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths if p.exists()) / 2**20


def checkpoint(db: Path) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def prepare(tmp: Path, rules: Path, n: int, spread: float) -> dict:
    """Arm n timers on SQLite + SqliteHuey (no worker running); keep the store as a snapshot."""
    data = tmp / "arm"
    base = dt.datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)   # window start, shifted later
    clock = FixedClock(base - ACK)
    container = bootstrap.build(Settings(rules=str(rules), data_dir=str(data)), clock=clock, clients={})
    tickets = [(f"SUP-{i + 1}", base - ACK + timedelta(seconds=spread * i / n)) for i in range(n)]
    print(f"arming {n:,} timers through service.handle ...", file=sys.stderr)
    result = arm(container, clock, tickets)
    huey = container.timers.huey
    result["queue_pending"] = huey.pending_count()
    container.store.dispose()
    checkpoint(data / "escalator.db")
    result["db_mb"] = file_mb(data / "escalator.db")
    result["queue_mb"] = file_mb(data / "queue.db", data / "queue.db-wal")
    result["snapshot"], result["base"] = data / "escalator.db", base
    print(f"armed in {result['total_s']:.1f} s", file=sys.stderr)
    return result


# --- one backend combination ----------------------------------------------------------------

@dataclass
class Run:
    name: str
    n: int
    spread: float
    t0: dt.datetime = None
    arm_sample: dict = None
    load_s: float = 0.0
    schedule_s: float = 0.0
    drain_s: float = 0.0
    schedule_cpu_s: float = 0.0
    idle_wall_s: float = 0.0
    idle_cpu_s: float = 0.0
    idle_rss_mb: float = 0.0
    window_wall_s: float = 0.0
    window_cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    sizes: dict = field(default_factory=dict)
    samples: list = field(default_factory=list)     # (wall seconds from T0, worker CPU seconds)
    lags: list = field(default_factory=list)        # per timer, in due order; None = not fired by cut-off
    log_lags: list = field(default_factory=list)    # the same from the log entry's `at`
    fired_at: list = field(default_factory=list)    # seconds from T0 of each firing before the cut-off
    log_offset_ms: float = 0.0                      # largest (log `at` - fired_at)
    idle_waited_s: float = 0.0                      # run-queue wait of the worker while idle
    window_waited_s: float = 0.0                    # ... and from T0 to the cut-off
    machine_busy: float = 0.0                       # all CPUs, T0 to the cut-off, fraction busy
    quiet_s: float = 0.0                            # from the end of scheduling to T0
    cutoff_s: float = 0.0


def reset_redis() -> dict:
    import redis
    conn = redis.Redis.from_url(REDIS_URL)
    conn.flushdb()
    return conn


def recreate_pg_database() -> str:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    admin.dispose()
    return PG_URL.rsplit("/", 1)[0] + "/" + PG_DB


def drop_pg_database() -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
    admin.dispose()


def copy_rows(snapshot: Path, store: Store) -> None:
    """Every table of the SQLite snapshot into the (empty) PostgreSQL store, sequences moved on."""
    source = create_engine(f"sqlite:///{snapshot}")
    with source.connect() as src, store.engine.begin() as dst:
        for table in reversed(metadata.sorted_tables):
            dst.execute(table.delete())
        for table in metadata.sorted_tables:
            rows = [dict(r) for r in src.execute(select(table)).mappings()]
            for first in range(0, len(rows), 2_000):
                dst.execute(insert(table), rows[first:first + 2_000])
            if "id" in table.c and table.c.id.autoincrement is True and rows:
                dst.execute(text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                                 f"(SELECT max(id) FROM {table.name}))"))
    source.dispose()


def retime(store: Store, t0: dt.datetime, n: int, spread: float, offsets: list[float] | None = None) -> list[Wakeup]:
    """Ticket SUP-(i+1)'s ack is due at t0 + spread * i / n, or t0 + offsets[i] (started 15 min before)."""
    def offset(key: str) -> float:
        index = int(key.split("-")[1]) - 1
        return offsets[index] if offsets else spread * index / n

    with store.engine.begin() as conn:
        rows = conn.execute(select(timers.c.id, timers.c.key).where(timers.c.name == "ack")).all()
        due = {tid: t0 + timedelta(seconds=offset(key)) for tid, key in rows}
        conn.execute(update(timers).where(timers.c.id == bindparam("tid"))
                     .values(due_at=bindparam("due"), started_at=bindparam("start"), segment_start=bindparam("start")),
                     [{"tid": tid, "due": at, "start": at - ACK} for tid, at in due.items()])
    return [Wakeup(tid, at) for tid, at in sorted(due.items(), key=lambda item: item[1])]


# --- sparse timers, while the arming runs --------------------------------------------------------

SPARSE_GAPS = (15.0, 25.0, 35.0, 45.0)      # quiet seconds between consecutive sparse timers
SPARSE_LEAD = 30.0                          # from scheduling them to the first


@dataclass
class Sparse:
    queue: str
    run: Run
    worker: Worker
    store: Store
    quiet_first_s: float = 0.0
    thread: threading.Thread = None
    error: str = ""


def start_sparse(queue_kind: str, rules: Path, tmp: Path) -> Sparse:
    """A few timers far apart on SQLite + `queue_kind`, fired by their own worker; returns at once."""
    data = tmp / f"sparse-{queue_kind}"
    if queue_kind == "redis":
        reset_redis()
    settings = Settings(rules=str(rules), data_dir=str(data), queue_url=REDIS_URL if queue_kind == "redis" else "")
    offsets = [sum(SPARSE_GAPS[:i]) for i in range(len(SPARSE_GAPS) + 1)]
    clock = FixedClock(dt.datetime.now(UTC))
    container = bootstrap.build(settings, clock=clock, clients={})
    arm(container, clock, [(f"SUP-{i + 1}", clock.now()) for i in range(len(offsets))])
    container.timers.huey.flush()       # their 15-minute wake-ups; the real ones follow
    run = Run(f"sparse-{queue_kind}", len(offsets), offsets[-1])
    run.t0 = (dt.datetime.now(UTC) + timedelta(seconds=SPARSE_LEAD)).replace(microsecond=0)
    run.cutoff_s = offsets[-1] + 10
    wakeups = retime(container.store, run.t0, run.n, 0, offsets)
    worker = Worker(worker_env(settings), data / "worker.log")
    container.timers.schedule(wakeups)
    sparse = Sparse(queue_kind, run, worker, container.store, quiet_first_s=-since(run.t0))
    sparse.thread = threading.Thread(target=finish_sparse, args=(sparse,), daemon=True)
    sparse.thread.start()
    return sparse


def sparse_result(sparse: Sparse) -> dict:
    lags = sparse.run.lags if len(sparse.run.lags) == sparse.run.n else [None] * sparse.run.n
    return {"queue": sparse.queue, "lags": lags, "log_lags": sparse.run.log_lags,
            "quiet": [sparse.quiet_first_s, *SPARSE_GAPS], "error": sparse.error or
            ("" if not sparse.thread.is_alive() else "did not finish in time")}


def finish_sparse(sparse: Sparse) -> None:
    try:
        sleep_until(sparse.run.t0 + timedelta(seconds=sparse.run.cutoff_s))
        sparse.worker.stop()
        collect(sparse.run, sparse.store)
    except Exception as exc:    # reported, not raised: the main measurement goes on
        sparse.error = f"{type(exc).__name__}: {exc}"
    finally:
        sparse.worker.stop()
        sparse.store.dispose()


def fired_count(reader) -> int:
    with reader.connect() as conn:
        return conn.execute(select(func.count()).select_from(timers)
                            .where(timers.c.name == "ack", timers.c.fired_at.is_not(None))).scalar_one()


def sleep_until(moment: dt.datetime) -> None:
    left = (moment - dt.datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left)


def since(t0: dt.datetime) -> float:
    return (dt.datetime.now(UTC) - t0).total_seconds()


def measure(name: str, prepared: dict, rules: Path, tmp: Path, n: int, spread: float, idle: float,
            grace: float, lead: float) -> Run:
    store_kind, queue_kind = COMBOS[name]
    run, data = Run(name, n, spread), tmp / name
    data.mkdir()
    redis_conn = reset_redis() if queue_kind == "redis" else None
    database_url = recreate_pg_database() if store_kind == "postgres" else ""
    settings = Settings(rules=str(rules), data_dir=str(data), database_url=database_url,
                        queue_url=REDIS_URL if redis_conn else "")
    worker = None
    try:
        if store_kind == "postgres":    # the arming rate on PostgreSQL, on a sample, then a clean slate
            clock = FixedClock(dt.datetime.now(UTC))
            sample = bootstrap.build(settings, clock=clock, clients={})
            later = dt.datetime.now(UTC) + timedelta(hours=2)
            run.arm_sample = arm(sample, clock, [(f"ARM-{i}", later) for i in range(PG_ARM_SAMPLE)])
            sample.store.dispose()
            database_url = recreate_pg_database()
            if redis_conn:
                redis_conn.flushdb()
        started = time.perf_counter()
        if store_kind == "sqlite":
            source, target = sqlite3.connect(prepared["snapshot"]), sqlite3.connect(data / "escalator.db")
            source.backup(target)
            source.close()
            target.close()
            store = Store(settings.database)
        else:
            store = Store(settings.database)
            copy_rows(prepared["snapshot"], store)
        run.t0 = (dt.datetime.now(UTC) + timedelta(seconds=lead)).replace(microsecond=0)
        wakeups = retime(store, run.t0, n, spread)
        run.load_s = time.perf_counter() - started
        container = bootstrap.build(settings, store=store, clients={})
        huey = container.timers.huey
        memory_before = redis_conn.info("memory")["used_memory"] if redis_conn else 0

        worker = Worker(worker_env(settings), data / "worker.log")
        print(f"{name}: worker {worker.proc.pid} started, T0 in {-since(run.t0):.0f} s", file=sys.stderr)
        cpu_start, started = worker.cpu(), time.perf_counter()
        for first in range(0, len(wakeups), BATCH):
            container.timers.schedule(wakeups[first:first + BATCH])
        run.schedule_s = time.perf_counter() - started
        drain_deadline = time.monotonic() + max(5.0, -since(run.t0) - 2)
        while huey.pending_count() and time.monotonic() < drain_deadline:
            time.sleep(0.1)
        run.drain_s = time.perf_counter() - started
        run.schedule_cpu_s = worker.cpu() - cpu_start
        run.sizes = {"pending": huey.pending_count(), "scheduled": huey.scheduled_count()}
        if redis_conn:
            run.sizes["redis_mb"] = (redis_conn.info("memory")["used_memory"] - memory_before) / 2**20
        else:
            run.sizes["queue_mb"] = file_mb(data / "queue.db", data / "queue.db-wal")
        run.sizes.update(database_size(store, data))

        run.quiet_s = -since(run.t0)
        idle_from = max(dt.datetime.now(UTC), run.t0 - timedelta(seconds=idle))
        sleep_until(idle_from)
        cpu_idle, waited_idle = worker.cpu(), worker.waited()
        sleep_until(run.t0)
        run.idle_wall_s = (run.t0 - idle_from).total_seconds()
        run.idle_cpu_s = worker.cpu() - cpu_idle
        run.idle_waited_s = worker.waited() - waited_idle
        run.idle_rss_mb = worker.memory()["VmRSS"]

        reader = create_engine(settings.database)
        last_due = spread * (n - 1) / n
        run.cutoff_s = last_due + grace
        cpu_t0, waited_t0, busy_t0, fired, checked = worker.cpu(), worker.waited(), machine_busy(), 0, 0.0
        while since(run.t0) < run.cutoff_s:
            time.sleep(1.0)
            run.samples.append((since(run.t0), worker.cpu() - cpu_t0))
            if since(run.t0) - checked >= 2.0:
                checked, fired = since(run.t0), fired_count(reader)
                if fired >= n:
                    break
        run.window_wall_s = since(run.t0)
        run.window_cpu_s = worker.cpu() - cpu_t0
        run.window_waited_s = worker.waited() - waited_t0
        busy_end = machine_busy()
        run.machine_busy = (busy_end[0] - busy_t0[0]) / max(1, busy_end[1] - busy_t0[1])
        run.peak_rss_mb = worker.memory()["VmHWM"]
        worker.stop()
        worker = None
        reader.dispose()
        collect(run, store)
        store.dispose()
    finally:
        if worker is not None:
            worker.stop()
        if redis_conn:
            redis_conn.flushdb()
        if store_kind == "postgres":
            drop_pg_database()
    return run


def database_size(store: Store, data: Path) -> dict:
    if store.url.startswith("sqlite"):
        return {"db_mb": file_mb(data / "escalator.db", data / "escalator.db-wal")}
    with store.engine.connect() as conn:
        total = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
        of_timers = conn.execute(text("SELECT pg_total_relation_size('timers')")).scalar_one()
    return {"db_mb": total / 2**20, "timers_mb": of_timers / 2**20}


def collect(run: Run, store: Store) -> None:
    cutoff = run.t0 + timedelta(seconds=run.cutoff_s)
    with store.engine.connect() as conn:
        rows = conn.execute(select(timers.c.key, timers.c.due_at, timers.c.fired_at)
                            .where(timers.c.name == "ack").order_by(timers.c.due_at)).all()
        logged = dict(conn.execute(select(escalation_log.c.key, escalation_log.c.at)
                                   .where(escalation_log.c.event_kind == "sla_breached")).all())
    for key, due, fired in rows:
        in_time = fired is not None and fired <= cutoff
        run.lags.append((fired - due).total_seconds() if in_time else None)
        if in_time:
            run.fired_at.append((fired - run.t0).total_seconds())
            if key in logged:
                run.log_offset_ms = max(run.log_offset_ms, (logged[key] - fired).total_seconds() * 1e3)
            else:
                run.log_offset_ms = math.inf
        run.log_lags.append((logged[key] - due).total_seconds() if in_time and key in logged else None)


# --- where a firing's time goes -------------------------------------------------------------

PROFILED = {  # label: (file name ending, function name)
    "service.handle": ("plugin/service.py", "handle"),
    "matrix evaluation": ("plugin/engine/__init__.py", "evaluate"),
    "Notifier.plan (messages)": ("plugin/notify.py", "plan"),
    "tx.timeline (read for message context)": ("plugin/store/sql.py", "timeline"),
    "outbox rows (service._enqueue)": ("plugin/service.py", "_enqueue"),
    "SQLAlchemy Connection.execute (all statements)": ("sqlalchemy/engine/base.py", "execute"),
}


LOG_INDEX = "CREATE INDEX ix_bench_log_ticket ON escalation_log (platform, key)"


def timeline_plan(db: Path) -> str:
    """SQLite's plan for the query of Transaction.timeline (escalation_log by platform and key)."""
    conn = sqlite3.connect(db)
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT * FROM escalation_log WHERE platform = 'jira' "
                        "AND key = 'SUP-1' ORDER BY id").fetchall()
    rows = conn.execute("SELECT count(*) FROM escalation_log").fetchone()[0]
    conn.close()
    return "; ".join(row[-1] for row in plan), rows


def profile_firing(prepared: dict, rules: Path, tmp: Path, spread: float, count: int = 300,
                   index: bool = False) -> dict:
    data = tmp / ("profile-indexed" if index else "profile")
    data.mkdir()
    source, target = sqlite3.connect(prepared["snapshot"]), sqlite3.connect(data / "escalator.db")
    source.backup(target)
    source.close()
    if index:
        target.execute(LOG_INDEX)
    target.close()
    plan, log_rows = timeline_plan(data / "escalator.db")
    clock = FixedClock(prepared["base"] + timedelta(seconds=spread + 1))
    container = bootstrap.build(Settings(rules=str(rules), data_dir=str(data)), clock=clock, clients={})
    with container.store.engine.connect() as conn:
        ids = list(conn.execute(select(timers.c.id).where(timers.c.name == "ack").order_by(timers.c.due_at)
                                .limit(2 * count)).scalars())
    count = len(ids) // 2
    wall, cpu = time.perf_counter(), time.process_time()
    for timer_id in ids[:count]:
        container.firing.fire(timer_id)
    plain = {"wall_ms": (time.perf_counter() - wall) / count * 1e3,
             "cpu_ms": (time.process_time() - cpu) / count * 1e3}
    profiler = cProfile.Profile()
    profiler.enable()
    for timer_id in ids[count:2 * count]:
        container.firing.fire(timer_id)
    profiler.disable()
    container.store.dispose()
    stats = pstats.Stats(profiler).stats
    cumulative = {}
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.items():
        for label, (ending, function) in PROFILED.items():
            if filename.endswith(ending) and name == function:
                cumulative[label] = cumulative.get(label, 0.0) + ct
    fire = sum(ct for (filename, _l, name), (_c, _n, _t, ct, _k) in stats.items()
               if filename.endswith("plugin/sla.py") and name == "fire")
    calls = sum(nc for (filename, _l, name), (_c, nc, _t, _ct, _k) in stats.items()
                if filename.endswith("sqlalchemy/engine/base.py") and name == "execute")
    reads = sum(nc for (filename, _l, name), (_c, nc, _t, _ct, _k) in stats.items()
                if filename.endswith("plugin/store/sql.py") and name == "_ticket_row")
    return {"count": count, **plain, "fire_s": fire, "parts": cumulative, "statements": calls / count,
            "ticket_reads": reads / count, "plan": plan, "log_rows": log_rows}


# --- figures --------------------------------------------------------------------------------

def percentile(values: list, q: float) -> float:
    """Nearest rank; None (not fired) sorts last, as infinitely late."""
    ordered = sorted(math.inf if v is None else v for v in values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def seconds(value: float, digits: int = 2) -> str:
    return "not fired" if math.isinf(value) else f"{value:.{digits}f}"


def with_unit(value: float) -> str:
    return "not fired (some timers never fired)" if math.isinf(value) else f"{value:.2f} s"


def figures(run: Run) -> dict:
    fired = [lag for lag in run.lags if lag is not None]
    times = sorted(run.fired_at)
    busy = (times[-1] - times[0]) if len(times) > 1 else 0.0
    per_second = {}
    for t in times:
        per_second[int(math.floor(t))] = per_second.get(int(math.floor(t)), 0) + 1
    end = times[-1] if times else 0.0
    return {
        "fired": len(fired), "unfired": len(run.lags) - len(fired),
        "late": sum(1 for lag in fired if lag > TARGET_S),
        "p50": percentile(run.lags, 50), "p90": percentile(run.lags, 90), "p99": percentile(run.lags, 99),
        "log_p50": percentile(run.log_lags, 50), "log_p99": percentile(run.log_lags, 99),
        "max": max(fired) if fired else math.inf, "min": min(fired) if fired else math.inf,
        "mean": statistics.fmean(fired) if fired else math.inf,
        "first": [seconds(lag if lag is not None else math.inf) for lag in run.lags[:5]],
        "rate": (len(times) - 1) / busy if busy else 0.0, "peak_rate": max(per_second.values(), default=0),
        "idle_cpu": run.idle_cpu_s / run.idle_wall_s if run.idle_wall_s else math.nan,
        "window_cpu": run.window_cpu_s / run.window_wall_s if run.window_wall_s else math.nan,
        "busy_cpu": cpu_between(run, times[0], end) if times else math.nan,
        "cpu_ms_per_firing": run.window_cpu_s / len(fired) * 1e3 if fired else math.nan,
        "all_fired_s": end if not run.lags.count(None) else math.inf,
    }


def cpu_between(run: Run, start: float, end: float) -> float:
    """Worker CPU seconds per wall second between two instants (seconds from T0), from the samples."""
    inside = [(t, c) for t, c in run.samples if start <= t <= end + 1.0]
    if len(inside) < 2:
        return math.nan
    return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


def segments(run: Run, count: int = 6) -> list[str]:
    lines = ["| due in window (s) | timers | fired by cut-off | p50 lag s | p99 lag s | max lag s "
             f"| late > {TARGET_S:.0f} s |",
             "| :--- |" + " ---: |" * 6]
    size = math.ceil(run.n / count)
    for index in range(count):
        part = run.lags[index * size:(index + 1) * size]
        if not part:
            continue
        fired = [lag for lag in part if lag is not None]
        start, stop = run.spread * index / count, run.spread * (index + 1) / count
        cells = [f"{start:.0f}–{stop:.0f}", len(part), len(fired), seconds(percentile(part, 50)),
                 seconds(percentile(part, 99)), seconds(max(fired)) if fired else "–",
                 sum(1 for lag in fired if lag > TARGET_S)]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def timeline(run: Run, step: int = 10) -> list[str]:
    lines = ["| seconds after T0 | worker CPU (s per s) | firings | due so far | backlog at end |",
             "| :--- |" + " ---: |" * 4]
    due_times = [run.spread * i / run.n for i in range(run.n)]
    points = [(0.0, 0.0)] + run.samples
    start = 0
    while start < run.window_wall_s - 0.5:
        stop = min(start + step, run.window_wall_s)
        inside = [(t, c) for t, c in points if start - 0.6 <= t <= stop + 0.6]
        cpu = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) if len(inside) > 1 else math.nan
        fired = sum(1 for t in run.fired_at if start <= t < stop)
        fired_so_far = sum(1 for t in run.fired_at if t < stop)
        due = sum(1 for t in due_times if t < stop)
        lines.append(f"| {start:.0f}–{stop:.0f} | {cpu:.2f} | {fired:,} | {due:,} | {due - fired_so_far:,} |")
        start += step
    return lines


# --- report ---------------------------------------------------------------------------------

def code_version() -> str:
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", "plugin", "rules").strip()
    return commit + (" with uncommitted changes in plugin/ or rules/" if dirty else "")


def calibration_us() -> float:
    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def server_versions(combos: list[str]) -> str:
    parts = []
    if any(COMBOS[c][1] == "redis" for c in combos):
        import redis
        parts.append(f"Redis {redis.Redis.from_url(REDIS_URL).info('server')['redis_version']}")
    if any(COMBOS[c][0] == "postgres" for c in combos):
        engine = create_engine(PG_URL)
        with engine.connect() as conn:
            parts.append("PostgreSQL " + conn.execute(text("SHOW server_version")).scalar_one().split()[0])
        engine.dispose()
    parts.append(f"SQLite {sqlite3.sqlite_version}")
    return ", ".join(parts)


def machine_lines(conditions: dict, combos: list[str]) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.machine())
    versions = ", ".join(f"{p} {importlib.metadata.version(p)}" for p in ("huey", "SQLAlchemy", "redis", "psycopg"))
    (load_start, load_end), (calib_start, calib_end) = conditions["load"], conditions["calibration"]
    return [
        f"- Machine: {os.cpu_count()} CPUs (`nproc`: {len(os.sched_getaffinity(0))}), {cpu}, {platform.system()}",
        f"- Python {platform.python_version()}; {versions}; {server_versions(combos)} (all on this machine)",
        f"- Load average (1 min) {load_start[0]:.2f} at start, {load_end[0]:.2f} at end "
        f"(5 min: {load_start[1]:.2f}, {load_end[1]:.2f}); `sum(range(1000))` took {calib_start:.1f} µs at "
        f"start and {calib_end:.1f} µs at end. Other work shared the machine during the run.",
        f"- Code: commit {code_version()}; date {dt.date.today().isoformat()}; total run {conditions['wall']:.0f} s",
    ]


def row(label: str, values: list) -> str:
    return f"| {label} | " + " | ".join(str(v) for v in values) + " |"


def summary_table(runs: list[Run], figs: dict, args) -> list[str]:
    need = args.timers / args.spread
    lines = ["| | " + " | ".join(LABELS[r.name] for r in runs) + " |", "| :--- |" + " ---: |" * len(runs)]
    f = [figs[r.name] for r in runs]
    lines += [
        row("restore snapshot + shift due times, s", [f"{r.load_s:.1f}" for r in runs]),
        row(f"schedule {args.timers:,} wake-ups (`timers.schedule`), s", [f"{r.schedule_s:.1f}" for r in runs]),
        row("… until the worker moved them all to its schedule, s", [f"{r.drain_s:.1f}" for r in runs]),
        row("worker CPU for that, s", [f"{r.schedule_cpu_s:.1f}" for r in runs]),
        row("queue: tasks scheduled / still queued",
            [f"{r.sizes['scheduled']:,} / {r.sizes['pending']:,}" for r in runs]),
        row("queue size, MB", [f"{r.sizes.get('queue_mb', r.sizes.get('redis_mb', 0)):.1f}"
                               + (" (Redis used_memory growth)" if "redis_mb" in r.sizes else " (queue.db)")
                               for r in runs]),
        row("database size, MB", [f"{r.sizes['db_mb']:.1f}" + (f" (timers table {r.sizes['timers_mb']:.1f})"
                                                                if "timers_mb" in r.sizes else "") for r in runs]),
        row("quiet time from the end of scheduling to T0, s", [f"{r.quiet_s:.1f}" for r in runs]),
        row("**idle** worker CPU, s per s (the last seconds before T0)",
            [f"**{x['idle_cpu']:.4f}** ({x['idle_cpu'] * 100:.2f} % of a core, over {r.idle_wall_s:.0f} s)"
             for x, r in zip(f, runs, strict=True)]),
        row("worker RSS while idle / peak, MB",
            [f"{r.idle_rss_mb:.0f} / {r.peak_rss_mb:.0f}" for r in runs]),
        row("fired by cut-off (last due + grace)",
            [f"{x['fired']:,} of {r.n:,}" for x, r in zip(f, runs, strict=True)]),
        row("**not fired** by cut-off", [f"**{x['unfired']:,}**" for x in f]),
        row("fire lag p50, s", [seconds(x["p50"]) for x in f]),
        row("fire lag p90, s", [seconds(x["p90"]) for x in f]),
        row("**fire lag p99, s**", [f"**{seconds(x['p99'])}**" for x in f]),
        row("fire lag max (fired ones), s", [seconds(x["max"]) for x in f]),
        row(f"fired later than {TARGET_S:.0f} s", [f"{x['late']:,}" for x in f]),
        row("lag of the first 5 timers after idle, s", [", ".join(x["first"]) for x in f]),
        row(f"firings/s sustained (needed: {need:,.0f}) / best second",
            [f"{x['rate']:.0f} / {x['peak_rate']}" for x in f]),
        row("worker CPU while firing, s per s", [f"{x['busy_cpu']:.2f}" for x in f]),
        row("worker CPU from T0 to cut-off, s", [f"{r.window_cpu_s:.1f}" for r in runs]),
        row("worker CPU per firing, ms", [f"{x['cpu_ms_per_firing']:.1f}" for x in f]),
        row("worker waited for a CPU (run queue), s per s: idle / T0 to cut-off",
            [f"{r.idle_waited_s / r.idle_wall_s:.3f} / {r.window_waited_s / r.window_wall_s:.2f}"
             for r in runs]),
        row("machine CPU busy, T0 to cut-off (all CPUs, everything running)",
            [f"{r.machine_busy * 100:.0f} %" for r in runs]),
        row("fire lag p50 / p99 by the log entry's `at`, s",
            [f"{seconds(x['log_p50'])} / {seconds(x['log_p99'])}" for x in f]),
        row("largest log entry `at` − `timers.fired_at`, ms", [f"{r.log_offset_ms:.1f}" for r in runs]),
    ]
    return lines


def verdict_lines(runs: list[Run], figs: dict, args) -> list[str]:
    lines = []
    for r in runs:
        x = figs[r.name]
        ok = x["p99"] <= TARGET_S and x["unfired"] == 0
        lines.append(f"- {LABELS[r.name]}: p99 {with_unit(x['p99'])}, {x['late']:,} fired later than "
                     f"{TARGET_S:.0f} s, {x['unfired']:,} not fired by the cut-off: **{'holds' if ok else 'missed'}**.")
    return lines


def findings(runs: list[Run], figs: dict, args, prepared: dict) -> list[str]:
    need = args.timers / args.spread
    lines = []
    for r in runs:
        x = figs[r.name]
        backlog = (r.n - x["fired"])
        lines.append(
            f"- {LABELS[r.name]}: the worker fired {x['rate']:.0f} timers/s against {need:.0f}/s due, using "
            f"{x['busy_cpu']:.2f} CPU-seconds per second ({x['cpu_ms_per_firing']:.1f} ms of CPU per firing)"
            + (f"; {backlog:,} were still waiting at the cut-off, about {backlog / x['rate']:.0f} s more at that rate."
               if backlog and x["rate"] else "."))
    return lines


def profile_lines(prof: dict) -> list[str]:
    shipped, indexed = prof["shipped"], prof["indexed"]
    lines = [f"Firings in this process, one thread, no queue, on copies of the armed SQLite store "
             f"({shipped['log_rows']:,} escalation-log rows): {shipped['count']} timed, then {shipped['count']} "
             "under cProfile (which inflates every call; the parts overlap). The second column adds one index, "
             f"`{LOG_INDEX}`, to the copy; nothing else differs.", "",
             "| | as shipped | with an index on escalation_log (platform, key) |", "| :--- | ---: | ---: |",
             row("SQLite's plan for `Transaction.timeline`", [f"`{shipped['plan']}`", f"`{indexed['plan']}`"]),
             row("**CPU per firing, ms**", [f"**{p['cpu_ms']:.1f}**" for p in (shipped, indexed)]),
             row("wall per firing, ms", [f"{p['wall_ms']:.1f}" for p in (shipped, indexed)]),
             row("firings per CPU-second", [f"{1e3 / p['cpu_ms']:.0f}" for p in (shipped, indexed)]),
             row("SQL statements per firing", [f"{p['statements']:.0f}" for p in (shipped, indexed)])]
    for label in PROFILED:
        lines.append(row(f"share of `fire`: {label}",
                         [f"{p['parts'].get(label, 0.0) / p['fire_s'] * 100:.0f} %" if p["fire_s"] else "–"
                          for p in (shipped, indexed)]))
    return lines


def lag_list(lags: list) -> str:
    return ", ".join(seconds(math.inf if lag is None else lag) for lag in lags)


def per_ticket_ms(batches: list, last: bool, tickets: int = 1_000) -> float:
    picked, count, total = list(reversed(batches)) if last else batches, 0, 0.0
    for size, spent in picked:
        if count >= tickets:
            break
        count, total = count + size, total + spent
    return total / count * 1e3 if count else math.nan


def why_lines(runs: list[Run], figs: dict, args, profiles: dict, sparse: list[dict], prepared: dict) -> list[str]:
    shipped, indexed = profiles["shipped"], profiles["indexed"]
    need = args.timers / args.spread
    first = {r.name: figs[r.name]["first"][0] for r in runs}
    quiet = {r.name: r.quiet_s for r in runs}
    sqlite_huey = [r for r in runs if COMBOS[r.name][1] == "sqlite"]
    per_run = ", ".join(f"{figs[r.name]['cpu_ms_per_firing']:.0f} ms ({LABELS[r.name]})" for r in runs)
    backlog = any(figs[r.name]["unfired"] or figs[r.name]["rate"] < 0.9 * need for r in runs)
    batches = prepared["batches"]
    lock_waits = ", ".join(f"{r.log_offset_ms / 1e3:.1f} s ({LABELS[r.name]})" for r in runs)
    return [
        "1. **On SQLite every firing scans the platform's whole escalation log.** `Notifier.plan` calls "
        "`Transaction.timeline` (escalation_log by platform and key) for every decision that sends a message. "
        "The table has one index per column, and SQLite, without statistics, picks the platform one: "
        f"`{shipped['plan']}`, i.e. every row of that platform. So each firing — and each webhook that sends "
        f"a message — costs more as the log grows: {shipped['cpu_ms']:.1f} ms of CPU per firing with "
        f"{shipped['log_rows']:,} log rows, {indexed['cpu_ms']:.1f} ms with an index on (platform, key) "
        f"(`{indexed['plan']}`). Arming shows the same growth: {per_ticket_ms(batches, False):.1f} ms per "
        f"ticket for the first 1,000 tickets, {per_ticket_ms(batches, True):.1f} ms for the last 1,000. In the "
        f"worker runs: {per_run} of worker CPU per firing; PostgreSQL, which plans with statistics, does not "
        "show the growth. **Fix (plugin/store/schema.py):** replace the two single-column indexes of "
        "escalation_log by one on (platform, key) — `Index(\"ix_escalation_log_ticket\", \"platform\", "
        "\"key\")` — or run `ANALYZE` after migrations; the same pattern is worth checking on every table "
        "queried by platform and key.",
        f"2. **Throughput, not timing.** {args.timers:,} due over {args.spread:.0f} s need {need:.0f} firings/s. "
        f"As shipped, one core fires {1e3 / shipped['cpu_ms']:.0f}/s on SQLite (about "
        f"{need * shipped['cpu_ms'] / 1e3:.1f} cores needed); with the index of 1., {1e3 / indexed['cpu_ms']:.0f}/s "
        f"(about {need * indexed['cpu_ms'] / 1e3:.1f} cores). The worker's two consumer threads share one GIL "
        "(one core at most, and less on a busy machine), and on SQLite each firing runs inside one "
        "`BEGIN IMMEDIATE` transaction (`TimerFiring.fire` holds it through `service.handle`), so firings are "
        "serialized by the write lock as well. "
        + ("The lag therefore grows steadily through the window (see the per-segment tables): a backlog, not "
           "imprecise wake-ups. " if backlog else "Here the worker kept up with the due rate. ")
        + "This machine was shared (see the run-queue wait and machine CPU rows), which lowered every rate.",
        "3. **SQLite's lock wait is long and unfair.** The log entry, written inside the firing's transaction, "
        f"came up to {lock_waits} after `fired_at`, which is read before `BEGIN IMMEDIATE`: a thread that "
        "finds the lock taken sleeps in SQLite's busy handler (growing sleeps, up to 100 ms each) while the "
        "holder commits and takes it again. Fewer writers per SQLite file (one consumer thread firing) or a "
        "store that locks rows (PostgreSQL) avoids it.",
        f"4. **The rest of a firing** is SQLAlchemy statement building and execution ({shipped['statements']:.0f} "
        "statements per firing) and one `insert(outbox)` per write-back and message. Ideas, in plugin/: insert "
        "a decision's outbox rows with one executemany; prebuild the hot statements with `bindparam` instead "
        "of `.values(**kw)` per call; read the timeline only when a template uses it; the same ticket row is "
        f"read {shipped['ticket_reads']:.0f} times per firing (`fire` for the snapshot, `service.handle` for "
        "the state, `Notifier.plan` for the snapshot again), once would do.",
        "5. **Scale out on PostgreSQL, not SQLite.** With the PostgreSQL store, firings of different tickets "
        "do not block each other, so several `escalator worker` processes (or Huey "
        "`worker_type=\"process\"`) add capacity with cores; on SQLite they would queue on the write lock. "
        f"Document that a burst beyond about {1e3 / shipped['cpu_ms']:.0f} due timers per second per core "
        f"(about {1e3 / indexed['cpu_ms']:.0f} with the index) is caught up, not fired on time.",
        "6. **SqliteHuey polls with back-off.** Its storage does not block, so each idle consumer thread "
        "sleeps 0.1 s, then ×1.15 after every empty poll, up to Huey's `max_delay` of 10 s (start_consumer "
        "does not set it): after D quiet seconds a thread sleeps about 0.1 + 0.15·D s, 10 s from ~66 s on. "
        "The minutely sweep wakes one thread a minute, so a lone timer — the usual case, deadlines being "
        "minutes apart — waits for the next poll, by these parameters up to about 9–10 s, plus up to 1 s for "
        "the scheduler, with no load at all. "
        + ("The sparse timers above fired " + " and ".join(f"{lag_list(s['lags'])} s late on "
                                                            f"{QUEUE_LABELS[s['queue']]}" for s in sparse) + ". "
           if sparse else "")
        + " ".join(f"The first timer of the window, after {quiet[r.name]:.0f} s of quiet, fired {first[r.name]} s "
                   f"late on {LABELS[r.name]}." for r in sqlite_huey)
        + " **Fix:** `ThreadConsumer(..., max_delay=0.5)` (or 1.0) in `start_consumer`; the idle cost is a few "
        "`select 1 from task` per second (each thread polls once per max_delay), small beside the measured "
        "idle CPU. RedisHuey blocks on BRPOP (1 s read timeout) and has no such delay. A test with a timer "
        "due after a minute of quiet would catch this; the end-to-end test's timer is due 3 s after start, "
        "before the back-off grows.",
        "7. **The scheduler runs once a second** (scheduler_interval=1, Huey's minimum): a wake-up reaches the "
        "queue 0–1 s after its due time, so on average half the 2 s budget is gone before a worker sees it "
        "(RedisHuey's sparse lags above are that phase, nearly constant). That leaves ~1 s for the poll delay "
        "and the firing: enough with RedisHuey and an idle worker, not with SqliteHuey's back-off (6.) or a "
        "backlog (2.).",
        "8. **Every wake-up goes through the task queue twice.** Huey's `schedule()` enqueues the task; a "
        "consumer thread dequeues it and moves it to the schedule; at the due time the scheduler enqueues it "
        f"again. Scheduling {args.timers:,} wake-ups cost the worker the CPU shown above, and while a burst of "
        "new wake-ups sits on the FIFO queue, due ones wait behind them (and the reverse). Adding them straight "
        "to the schedule (`huey.add_schedule(task)`) would skip the hop. The SQLite store and SqliteHuey are "
        "separate files, so scheduling does not contend with firing for escalator.db's write lock.",
        "9. **`fired_at` understates the lag on SQLite.** `TimerFiring.fire` reads the clock before "
        "`store.transaction()`, so `fired_at`, the event's time and the `escalator_timer_lag_seconds` metric "
        "leave out the lock wait (3.); reading it inside the transaction would make them true. The lag rows "
        "by the log's `at` above include it.",
    ]


QUEUE_LABELS = {"sqlite": "SqliteHuey", "redis": "RedisHuey"}


def sparse_lines(sparse: list[dict]) -> list[str]:
    if not sparse:
        return []
    gaps = ", ".join(f"{g:.0f}" for g in SPARSE_GAPS)
    lines = [f"{len(sparse[0]['lags'])} timers on the SQLite store, the first {SPARSE_LEAD:.0f} s after they were "
             f"scheduled, then {gaps} s apart; each queue has its own `escalator worker`. Nothing else is due, so "
             "this is the precision of a lone timer — the usual case, deadlines being minutes apart. It ran while "
             "the arming was measured (one core busy in this process).", "",
             "| timer | quiet before it, s | " + " | ".join(f"{QUEUE_LABELS[s['queue']]} lag, s" for s in sparse)
             + " |", "| ---: | ---: |" + " ---: |" * len(sparse)]
    for i, quiet in enumerate(sparse[0]["quiet"]):
        cells = [seconds(math.inf if s["lags"][i] is None else s["lags"][i]) for s in sparse]
        lines.append(f"| {i + 1} | {quiet:.0f} | " + " | ".join(cells) + " |")
    lines.append("")
    for s in sparse:
        if s["error"]:
            lines.append(f"- {QUEUE_LABELS[s['queue']]}: the check failed: {s['error']}")
    return lines


def sparse_verdicts(sparse: list[dict]) -> list[str]:
    lines = []
    for s in sparse:
        worst = max((math.inf if lag is None else lag for lag in s["lags"]), default=math.inf)
        lines.append(f"- Sparse timers (no backlog), SQLite store + {QUEUE_LABELS[s['queue']]}: worst lag "
                     f"{with_unit(worst)} over {len(s['lags'])} timers: "
                     f"**{'holds' if worst <= TARGET_S else 'missed'}**.")
    return lines


def report(runs: list[Run], prepared: dict, args, conditions: dict, prof: dict, sparse: list[dict]) -> str:
    figs = {r.name: figures(r) for r in runs}
    a = prepared
    parts = [
        "# SLA timer benchmark: 10,000 armed timers", "",
        f"{args.timers:,} SLA deadlines (critical `ack`, 24x7) due evenly over {args.spread:.0f} s, fired by the "
        "real worker (`escalator worker`: Huey consumer with 2 threads, scheduler interval 1 s, the minutely "
        "sweep, the outbox worker; all write-backs dry-run) in its own process. The window starts after "
        f"{args.idle:.0f} s of idle measurement; the cut-off is {args.grace:.0f} s after the last due time. Fire "
        "lag = `timers.fired_at - timers.due_at` as stored by the worker; a timer not fired by the cut-off "
        "counts as infinitely late in the percentiles. How the timers are armed and why: see the docstring "
        "of `bench/timers.py`. No warnings are armed (warn fraction 0), so every firing is a deadline: the "
        "`sla_breached` event through `service.handle`, which escalates the ticket to L2, writes the log and "
        "the dry-run write-backs and notifications.", "",
        *machine_lines(conditions, [r.name for r in runs]), "",
        "## Target", "",
        f"A timer fires within {TARGET_S:.0f} s of its due time.", "",
        *verdict_lines(runs, figs, args), *sparse_verdicts(sparse), "",
        "## Arming", "",
        f"- {a['tickets']:,} critical tickets through `service.handle` ({BATCH} per transaction) on the SQLite "
        f"store, wake-ups through `timers.schedule` into SqliteHuey, no worker running: **{a['total_s']:.1f} s** "
        f"({a['tickets'] / a['total_s']:,.0f} tickets/s): {a['handle_s']:.1f} s in transactions "
        f"({a['handle_s'] / a['tickets'] * 1e3:.1f} ms per ticket: evaluate, log, ticket, timer, dry-run "
        f"write-backs and notifications), {a['schedule_s']:.1f} s scheduling "
        f"({a['schedule_s'] / a['tickets'] * 1e3:.2f} ms per wake-up). The first 1,000 tickets took "
        f"{per_ticket_ms(a['batches'], False):.1f} ms each in transactions, the last 1,000 "
        f"{per_ticket_ms(a['batches'], True):.1f} ms (see finding 1).",
        f"- Afterwards: escalator.db {a['db_mb']:.1f} MB; queue.db {a['queue_mb']:.1f} MB with "
        f"{a['queue_pending']:,} wake-ups on the task queue (Huey's `schedule()` enqueues; the consumer moves "
        "each to its schedule, see below).",
    ]
    for r in runs:
        if r.arm_sample:
            s = r.arm_sample
            parts.append(f"- {LABELS[r.name]}: {s['tickets']:,} tickets through the same path took "
                         f"{s['total_s']:.1f} s "
                         f"({s['handle_s'] / s['tickets'] * 1e3:.1f} ms per ticket in transactions, "
                         f"{s['schedule_s'] / s['tickets'] * 1e3:.2f} ms per wake-up scheduled into Redis) on an "
                         "empty database, so without the growth of finding 1: "
                         f"about {s['total_s'] / s['tickets'] * args.timers:.0f} s for {args.timers:,}.")
    parts += ["", "## Side by side", "", *summary_table(runs, figs, args), "",
              "`worker CPU while firing` is between the first and the last firing; `firings/s sustained` is "
              "over the same span. The run-queue and machine rows show how much other work on this machine "
              "held the worker back: the columns ran one after another under different load, so compare "
              "their rates with that in mind.", "",
              "## Throughput", "", *findings(runs, figs, args, prepared), "",
              *(["## Sparse timers, no backlog", "", *sparse_lines(sparse), ""] if sparse else []),
              "## Where a firing's time goes", "", *profile_lines(prof), "",
              "## Why, and what would help", "", *why_lines(runs, figs, args, prof, sparse, prepared), ""]
    for r in runs:
        parts += [f"## {LABELS[r.name]}", "", *segments(r), "", *timeline(r), ""]
    parts += ["## Reproduce", "", "Needs Redis on 127.0.0.1:6379 (DB 15 is flushed) and PostgreSQL on "
              "127.0.0.1:5432 (user postgres; a database escalator_bench_timers is created and dropped) for "
              f"the second and third columns. This run took {conditions['wall'] / 60:.1f} minutes, most of it "
              "the arming (finding 1 makes it slower as the log grows) and three 90 s windows.", "", "```",
              ".venv/bin/python bench/timers.py",
              "# or: --timers 10000 --spread 60 --idle 20 --grace 30 --combos sqlite,sqlite+redis,postgres+redis",
              "```", ""]
    return "\n".join(parts)


# --- entry point ----------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the due times are spread over")
    parser.add_argument("--idle", type=float, default=20.0, help="idle seconds measured before the first due time")
    parser.add_argument("--grace", type=float, default=30.0, help="seconds after the last due time before the cut-off")
    parser.add_argument("--lead", type=float, default=50.0, help="seconds from loading the store to the first due time")
    parser.add_argument("--combos", default=",".join(COMBOS))
    parser.add_argument("--no-sparse", dest="sparse", action="store_false",
                        help="skip the sparse timers measured while arming")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--raw", type=Path, help="also pickle the measurements here (outside the repository)")
    parser.add_argument("--render", type=Path, help="only write the report from a --raw file")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    out = args.out or ROOT / DEFAULT_OUT
    if args.render:
        runs, prepared, old_args, conditions, prof, sparse = pickle.loads(args.render.read_bytes())
        out.write_text(report(runs, prepared, old_args, conditions, prof, sparse), encoding="utf-8")
        print(f"wrote {out}", file=sys.stderr)
        return
    combos = [c.strip() for c in args.combos.split(",") if c.strip()]
    for combo in combos:
        if combo not in COMBOS:
            raise SystemExit(f"unknown combination {combo!r}; choose from {', '.join(COMBOS)}")
    if args.lead < args.idle + 10:
        raise SystemExit("--lead must leave at least 10 s for scheduling before the idle measurement")
    wall, load, calibration = time.monotonic(), os.getloadavg(), calibration_us()
    with tempfile.TemporaryDirectory(prefix="escalator-timers-") as tmp:
        tmp = Path(tmp)
        rules = write_rules(tmp / "rules")
        queues = ["sqlite"] + (["redis"] if any(COMBOS[c][1] == "redis" for c in combos) else [])
        sparse = [start_sparse(queue, rules, tmp) for queue in queues] if args.sparse else []
        prepared = prepare(tmp, rules, args.timers, args.spread)
        for check in sparse:
            check.thread.join(timeout=max(0.0, -since(check.run.t0)) + check.run.cutoff_s + 60)
        sparse = [sparse_result(check) for check in sparse]
        runs = []
        for combo in combos:
            run = measure(combo, prepared, rules, tmp, args.timers, args.spread, args.idle, args.grace, args.lead)
            x = figures(run)
            print(f"{combo}: idle {x['idle_cpu']:.4f} CPU s/s, p50 {seconds(x['p50'])} p99 {seconds(x['p99'])} "
                  f"not fired {x['unfired']}, {x['rate']:.0f} firings/s", file=sys.stderr)
            runs.append(run)
        print("profiling firings ...", file=sys.stderr)
        prof = {"shipped": profile_firing(prepared, rules, tmp, args.spread),
                "indexed": profile_firing(prepared, rules, tmp, args.spread, index=True)}
    conditions = {"load": (load, os.getloadavg()), "calibration": (calibration, calibration_us()),
                  "wall": time.monotonic() - wall}
    if args.raw:
        args.raw.write_bytes(pickle.dumps((runs, prepared, args, conditions, prof, sparse)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(runs, prepared, args, conditions, prof, sparse), encoding="utf-8")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
