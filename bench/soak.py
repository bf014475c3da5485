"""Soak: the real `escalator serve` under a fixed open-loop rate of signed Jira and Zendesk deliveries
for minutes, writing back to fake platforms. Does it keep up, and does anything grow?

Load: `--rate` deliveries/s for `--duration` s from `--connections` keep-alive connections (the
standard library's http.client, as bench/_common.py: the lightest client we have, so the generator
takes as little as possible of the CPUs it shares with the server). Delivery i is sent at
t0 + i / rate whatever the server does, and its latency runs from that intended time to the end of
the answer, so a stalled server shows as latency, not as fewer requests (no coordinated omission).
Deliveries still unsent `--grace` s after the planned end (every connection waiting on the server)
are not sent: they count as not accepted.
The mix (`Mix`, seeded): tickets opened, updated, commented and resolved over about ten seconds each,
60 % Jira (a third of them enterprise outages) and 40 % Zendesk (a quarter through trigger bodies),
plus redeliveries of recent deliveries (`--duplicates`) and events intake ignores (1 %).

Every `--sample` s, read from the database, /proc and the fakes: backlog (received, not decided),
deliveries decided, outbox rows waiting and sent with their lag (created_at -> finished_at), the
RSS and CPU of gunicorn's master, its workers and the worker process, and the writes the fakes
received. After the load, the same until the backlog is empty (within `--drain` s) and then the
outbox (watched `--outbox-drain` s more; reported, not judged).

Exit status 1 unless: no errors (any non-202 or connection error); accepted ≥ `--min-accepted` of
the offered rate; backlog never above `--max-backlog-seconds` × rate in the last minute, and empty
after the load; every stored delivery decided (none left received, none failed); the servers' RSS
in the last minute at most `--max-rss-growth` above the first minute's.

    .venv/bin/python bench/soak.py [--rate 300] [--duration 600] [--sample 10] [--database-url URL]
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "bench"):      # plugin and tests; _common also when a test imports this file
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from _common import (  # noqa: E402
    Proc,
    Source,
    command_line,
    conditions,
    free_port,
    log,
    machine_lines,
    n,
    percentile,
    stop_on_sigterm,
    table,
    verdict,
)
from sqlalchemy import create_engine, func, select  # noqa: E402

from plugin.platforms.zendesk import sign_zendesk  # noqa: E402
from plugin.store.schema import deliveries, outbox  # noqa: E402
from plugin.webhooks.signatures import sign_jira  # noqa: E402
from tests.cluster import SECRET, FakePlatform, platform_env  # noqa: E402
from tests.conftest import FIXTURES, RULES  # noqa: E402
from tests.test_webhooks import outage_payload  # noqa: E402

NOTES = "## Reading the figures"
KEY = "@@KEY@@"
FINISHED = ("sent", "skipped", "dry_run", "dead")
ROLES = ("master", "web", "worker")
IDLE_SECONDS = 1.0      # a connection idle longer is reopened: gunicorn closes keep-alive connections after 2 s
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Options:
    rate: float = 300.0
    duration: float = 600.0
    sample: float = 10.0
    code: str = "HEAD"              # a git revision to archive and run, or `worktree`
    database_url: str = ""          # empty: SQLite in a fresh data directory; else a database the soak may fill
    web_workers: int = 1
    connections: int = 128
    duplicates: float = 0.03
    seed: int = 1
    grace: float = 30.0               # s past the planned end the generator may still send late deliveries
    drain: float = 60.0               # s the backlog may take to empty after the load
    outbox_drain: float = 120.0       # s more to watch the outbox empty (reported, not judged)
    max_backlog_seconds: float = 2.0
    max_rss_growth: float = 0.15
    min_accepted: float = 0.97
    out: Path | None = None


# -- the deliveries ----------------------------------------------------------------------------------

def _template(payload: dict) -> bytes:
    return json.dumps(payload, indent=2).encode()


def _keyed(platform: str, name: str, *path: str) -> bytes:
    """A fixture whose ticket key (at `path`, and in a Zendesk event's subject) is the placeholder KEY."""
    payload = json.loads((FIXTURES / platform / f"{name}.json").read_text())
    node = payload
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = KEY
    if "subject" in payload:        # Zendesk events name the ticket there too: zen:ticket:<id>
        payload["subject"] = f"zen:ticket:{KEY}"
    return _template(payload)


def _jira(name: str) -> bytes:
    return _keyed("jira", name, "issue", "key")


def _zendesk_event(name: str) -> bytes:
    return _keyed("zendesk", name, "detail", "id")


def _zendesk_trigger(name: str) -> bytes:
    return _keyed("zendesk", name, "ticket", "id")


def _lifecycles() -> dict[str, tuple[list[bytes], list[bytes], list[bytes], float]]:
    """Per kind of ticket: its first event(s), the events of its life, its last, and its share of tickets."""
    jira_middle = [_jira(f"mattermost__webhook-{name}") for name in (
        "issue-updated-raised-priority", "issue-updated-lowered-priority", "issue-updated-assigned",
        "issue-updated-assigned-nobody", "issue-updated-labels", "cloud-comment-created", "cloud-comment-updated",
        "cloud-issue-updated-custom-field")]
    zendesk_middle = [_zendesk_event(f"escalator__ticket_{name}") for name in (
        "priority_changed__urgent", "agent_assignment_changed", "group_assignment_changed",
        "comment_added__agent_public", "comment_added__customer", "tags_changed", "custom_field_changed",
        "status_changed__pending")]
    return {
        "jira outage": ([_template(outage_payload(KEY))], jira_middle,
                        [_jira("mattermost__webhook-issue-updated-resolved")], 0.20),
        "jira": ([_jira("mattermost__webhook-issue-created")], jira_middle,
                 [_jira("mattermost__webhook-issue-updated-resolved")], 0.40),
        "zendesk": ([_zendesk_event("escalator__ticket_created")], zendesk_middle,
                    [_zendesk_event("escalator__ticket_status_changed__solved")], 0.30),
        "zendesk trigger": ([_zendesk_trigger("escalator__trigger_body__created")], [],
                            [_zendesk_trigger("escalator__trigger_body__satisfaction_rated")], 0.10),
    }


IGNORED = [("jira", _jira("mattermost__webhook-cloud-comment-deleted")),
           ("zendesk", (FIXTURES / "zendesk" / "zendesk-docs__user_active_changed.json").read_bytes())]


@dataclass(frozen=True)
class Delivery:
    platform: str
    body: bytes
    dedupe: str

    def headers(self) -> dict:
        """Signed now, as the platform signs each attempt (Zendesk refuses a stale timestamp)."""
        if self.platform == "jira":
            return {"Content-Type": "application/json", "X-Hub-Signature": sign_jira(self.body, SECRET),
                    "X-Atlassian-Webhook-Identifier": self.dedupe}
        signature, stamp = sign_zendesk(self.body, SECRET, time.time())
        return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": signature,
                "X-Zendesk-Webhook-Signature-Timestamp": stamp, "X-Zendesk-Webhook-Invocation-Id": self.dedupe}


class Mix:
    """An endless, seeded stream of deliveries: about `open_tickets` tickets alive at once, each living
    through its events (so a ticket hears from its platform every `open_tickets / rate` s or so)."""

    def __init__(self, open_tickets: int, duplicates: float, seed: int, ignored: float = 0.01):
        self.rng, self.lifecycles = random.Random(seed), _lifecycles()
        self.open_tickets, self.duplicates, self.ignored = open_tickets, duplicates, ignored
        self.alive: list[tuple[str, str, list[bytes]]] = []       # (platform, key, events still to come)
        self.recent: deque[Delivery] = deque(maxlen=500)
        self.tickets = self.sent = 0

    def __next__(self) -> Delivery:
        draw = self.rng.random()
        if draw < self.duplicates and self.recent:
            return self.rng.choice(self.recent)           # a redelivery: same body, same delivery id
        if draw < self.duplicates + self.ignored:
            platform, body = self.rng.choice(IGNORED)
            return self._new(platform, body)
        if len(self.alive) < self.open_tickets:
            self._open()
        slot = self.rng.randrange(len(self.alive))
        platform, key, events = self.alive[slot]
        if len(events) == 1:                                # its last event: the ticket leaves the mix
            self.alive[slot] = self.alive[-1]
            self.alive.pop()
        delivery = self._new(platform, events.pop(0).replace(KEY.encode(), key.encode()))
        self.recent.append(delivery)
        return delivery

    def _open(self) -> None:
        kinds = list(self.lifecycles)
        kind = self.rng.choices(kinds, weights=[self.lifecycles[k][3] for k in kinds])[0]
        first, middle, last, _ = self.lifecycles[kind]
        events = first + [self.rng.choice(middle) for _ in range(self.rng.randint(0, 4) if middle else 0)]
        events += last if self.rng.random() < 0.7 else []
        self.tickets += 1
        platform = kind.split()[0]
        key = f"SOAK-{self.tickets}" if platform == "jira" else str(100_000 + self.tickets)
        self.alive.append((platform, key, events))

    def _new(self, platform: str, body: bytes) -> Delivery:
        self.sent += 1
        return Delivery(platform, body, f"soak-{self.sent}")


# -- the load ----------------------------------------------------------------------------------------

@dataclass
class Interval:
    """What the client saw of the deliveries scheduled within one sample interval."""
    sent: int = 0
    answers: Counter = field(default_factory=Counter)        # 202 statuses: accepted, duplicate, ignored
    errors: int = 0
    latencies: list[float] = field(default_factory=list)     # s, from the intended send time
    late: list[float] = field(default_factory=list)          # s the generator sent after the intended time


class Load:
    """Sends `rate × seconds` deliveries from `mix` open loop; results per interval of `every` s."""

    def __init__(self, port: int, mix: Mix, options: Options):
        self.port, self.mix, self.rate, self.every = port, mix, options.rate, options.sample
        self.total, self.connections = int(options.rate * options.duration), options.connections
        self.grace = options.grace
        self.lock, self.sent = threading.Lock(), 0
        self.intervals = [Interval() for _ in range(int(options.duration / options.sample) + 1)]
        self.error_samples: list[str] = []
        self.t0 = 0.0
        self.last_answer = 0.0

    def run(self, t0: float) -> None:
        self.t0 = t0
        threads = [threading.Thread(target=self._sender, daemon=True) for _ in range(self.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def scheduled(self, k: int) -> int:
        """How many deliveries were meant to be sent in interval k (sent or not)."""
        def before(t: float) -> int:
            return min(self.total, math.ceil(t * self.rate))
        return before((k + 1) * self.every) - before(k * self.every)

    def _take(self) -> tuple[float, Delivery] | None:
        """The next delivery and its intended send time; None when all are sent, or when the time is
        up (`grace` s past the planned end: every connection stayed waiting on a slow server)."""
        with self.lock:
            if self.sent >= self.total or time.perf_counter() > self.t0 + self.total / self.rate + self.grace:
                return None
            self.sent += 1
            return self.t0 + (self.sent - 1) / self.rate, next(self.mix)

    def _sender(self) -> None:
        conn, used = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30), time.perf_counter()
        while (taken := self._take()) is not None:
            scheduled, delivery = taken
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            started = time.perf_counter()
            if started - used > IDLE_SECONDS:      # gunicorn may be closing it: a post now would hit a closed socket
                conn.close()
            used = started
            try:
                conn.request("POST", f"/webhooks/{delivery.platform}", delivery.body, delivery.headers())
                answer = conn.getresponse()
                status, body = answer.status, answer.read()
                outcome = json.loads(body).get("status", "?") if status == 202 else f"HTTP {status}: {body[:200]!r}"
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                status, outcome = 0, f"{type(exc).__name__}: {exc}"
            self._record(scheduled, started, status == 202, outcome)
        conn.close()

    def _record(self, scheduled: float, started: float, ok: bool, outcome: str) -> None:
        now = time.perf_counter()
        with self.lock:
            interval = self.intervals[min(int((scheduled - self.t0) / self.every), len(self.intervals) - 1)]
            interval.sent += 1
            interval.latencies.append(now - scheduled)
            interval.late.append(started - scheduled)
            self.last_answer = max(self.last_answer, now)
            if ok:
                interval.answers[outcome] += 1
                return
            interval.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(outcome)


# -- the server's side -------------------------------------------------------------------------------

@dataclass
class Sample:
    at: float                   # s since the load started
    backlog: int
    decided: int                # cumulative: stored deliveries no longer `received`
    waiting: int                # outbox rows pending or sending
    sent: int                   # cumulative outbox rows sent
    dead: int
    lags: list[float]           # queued -> sent of the rows sent since the previous sample, s
    rss: dict[str, float]       # MB per role: master, web, worker
    cpu: dict[str, float]       # CPU seconds used so far per role
    writes: int                 # cumulative writes the fakes received


class Watch:
    """Reads the server's progress without disturbing it: short reads of the database (from watermarks,
    so a sample costs the same after an hour as after a minute), /proc, and the fakes' request logs."""

    def __init__(self, url: str, server: Proc, fakes: list[FakePlatform]):
        self.engine, self.server, self.fakes = create_engine(url), server, fakes
        self.first_delivery = self._max_id(deliveries) + 1      # what was there before the load is not ours
        self.below = 0                                          # decided deliveries under the watermark
        self.outbox_mark, self.sent, self.dead, self.writes = self._max_id(outbox) + 1, 0, 0, 0
        self.counted: set[int] = set()

    def _max_id(self, table) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()

    def sample(self, at: float) -> Sample:
        with self.engine.connect() as conn:
            backlog, decided = self._deliveries(conn)
            waiting, lags = self._outbox(conn)
        rss, cpu = self.processes()
        return Sample(at, backlog, decided, waiting, self.sent, self.dead, lags, rss, cpu, self._writes())

    def _deliveries(self, conn) -> tuple[int, int]:
        backlog, oldest = conn.execute(select(func.count(), func.min(deliveries.c.id))
                                       .where(deliveries.c.status == "received")).one()
        mark = oldest or self._max_id(deliveries) + 1
        mine = deliveries.c.id >= self.first_delivery
        self.below += conn.execute(select(func.count()).where(mine, deliveries.c.id < mark)).scalar_one()
        above = conn.execute(select(func.count()).where(mine, deliveries.c.id >= mark,
                                                        deliveries.c.status != "received")).scalar_one()
        self.first_delivery = max(self.first_delivery, mark)
        return backlog, self.below + above

    def _outbox(self, conn) -> tuple[int, list[float]]:
        rows = conn.execute(select(outbox.c.id, outbox.c.status, outbox.c.created_at, outbox.c.finished_at)
                            .where(outbox.c.id >= self.outbox_mark).order_by(outbox.c.id)).all()
        lags, waiting = [], [row.id for row in rows if row.status not in FINISHED]
        for row in rows:
            if row.status in FINISHED and row.id not in self.counted:
                self.counted.add(row.id)
                self.sent += row.status == "sent"
                self.dead += row.status == "dead"
                if row.status == "sent":
                    lags.append((row.finished_at - row.created_at).total_seconds())
        self.outbox_mark = waiting[0] if waiting else (rows[-1].id + 1 if rows else self.outbox_mark)
        self.counted = {i for i in self.counted if i >= self.outbox_mark}
        return len(waiting), lags

    def processes(self) -> tuple[dict[str, float], dict[str, float]]:
        """VmRSS in MB and CPU seconds of gunicorn's master, its workers (together) and its `escalator worker`."""
        rss, cpu = dict.fromkeys(ROLES, 0.0), dict.fromkeys(ROLES, 0.0)
        for pid in self.server.pids():
            with contextlib.suppress(OSError, StopIteration):       # a process that just ended
                proc = Path(f"/proc/{pid}")
                kb = next(int(line.split()[1]) for line in (proc / "status").read_text().splitlines()
                          if line.startswith("VmRSS:"))
                ticks = (proc / "stat").read_text().rsplit(")", 1)[1].split()[11:13]
                role = ("master" if pid == self.server.popen.pid else
                        "worker" if b"plugin\x00worker" in (proc / "cmdline").read_bytes() else "web")
                rss[role] += kb / 1024
                cpu[role] += sum(map(int, ticks)) / TICKS
        return rss, cpu

    def _writes(self) -> int:
        """Writes the fakes received; their request logs are emptied, so a long soak does not grow them."""
        for fake in self.fakes:
            with fake.lock:
                taken, fake.requests = fake.requests, []
            self.writes += sum(method != "GET" for method, _, _ in taken)
        return self.writes

    def pending(self) -> tuple[int, int]:
        """Deliveries received but not decided, and outbox rows not finished: two indexed counts."""
        with self.engine.connect() as conn:
            return (conn.execute(select(func.count()).where(deliveries.c.status == "received")).scalar_one(),
                    conn.execute(select(func.count()).where(outbox.c.status.in_(("pending", "sending"))))
                    .scalar_one())

    def final_statuses(self, since: int) -> Counter:
        with self.engine.connect() as conn:
            return Counter(dict(conn.execute(select(deliveries.c.status, func.count())
                                             .where(deliveries.c.id >= since).group_by(deliveries.c.status)).all()))

    def close(self) -> None:
        self.engine.dispose()


def sample_until(watch: Watch, t0: float, every: float, stop: threading.Event, samples: list[Sample]) -> None:
    """Sample at t0 + every, t0 + 2 × every, ... until `stop` is set."""
    k = 1
    while not stop.wait(max(0.0, t0 + k * every - time.perf_counter())):
        samples.append(watch.sample(time.perf_counter() - t0))
        k += 1


# -- one run -----------------------------------------------------------------------------------------

@dataclass
class Result:
    options: Options
    load: Load
    samples: list[Sample]           # during the load, then while draining
    load_seconds: float             # from the first intended send to the last answer
    backlog_drained_after: float | None     # s after the last answer; None: not within --drain
    outbox_drained_after: float | None
    statuses: Counter               # the stored deliveries by status, after draining
    generator_cpu: float            # CPU share the load generator's process used (with the fakes and the sampler)
    checks: list[tuple[str, str, str, bool]] = field(default_factory=list)   # what, threshold, measured, ok

    def total(self, attribute: str) -> int:
        return sum(getattr(i, attribute) if attribute != "answers" else sum(i.answers.values())
                   for i in self.load.intervals)

    def answers(self) -> Counter:
        return sum((i.answers for i in self.load.intervals), Counter())

    def latencies(self) -> list[float]:
        return [lat for i in self.load.intervals for lat in i.latencies]

    @property
    def passed(self) -> bool:
        return all(ok for *_, ok in self.checks)


def run(options: Options, folder: Path, source: Source) -> Result:
    """Start the server of `source` (data and logs in `folder`), send the load, drain, and judge."""
    jira, zendesk = FakePlatform(), FakePlatform()
    env = {**platform_env(options.database_url or f"sqlite:///{folder}/data/escalator.db", RULES, jira, zendesk,
                          ESCALATOR_DATA_DIR=str(folder / "data")), "PYTHONPATH": str(source.root)}
    (folder / "data").mkdir(exist_ok=True)
    if Proc("migrate", source.escalator("db", "upgrade"), env, ROOT, folder).popen.wait(60):
        raise SystemExit(f"escalator db upgrade failed; see {folder}")
    port = free_port()
    server = Proc("serve", source.escalator("serve", "--port", str(port), "--workers", str(options.web_workers)),
                  env, ROOT, folder, port=port)
    try:
        server.wait_healthy()
        return _measure(options, server, Watch(env["ESCALATOR_DATABASE_URL"], server, [jira, zendesk]))
    finally:
        server.stop()
        jira.close()
        zendesk.close()


def _measure(options: Options, server: Proc, watch: Watch) -> Result:
    first = watch.first_delivery
    load = Load(server.port, Mix(max(50, int(options.rate * 10)), options.duplicates, options.seed), options)
    samples: list[Sample] = []
    stop = threading.Event()
    t0 = time.perf_counter() + 0.5
    sampler = threading.Thread(target=sample_until, args=(watch, t0, options.sample, stop, samples), daemon=True)
    sampler.start()
    log(f"{options.rate:g} deliveries/s for {options.duration:g} s")
    cpu = time.process_time()
    load.run(t0)
    ended = load.last_answer
    cpu = (time.process_time() - cpu) / (ended - t0)
    log("load done; draining")
    backlog_at = _until_empty(lambda: watch.pending()[0], ended, options.drain)
    outbox_at = _until_empty(lambda: watch.pending()[1], ended, (backlog_at or options.drain) + options.outbox_drain)
    stop.set()
    sampler.join()
    result = Result(options, load, samples, ended - t0, backlog_at, outbox_at, watch.final_statuses(first), cpu)
    watch.close()
    result.checks = judge(result)
    return result




def _until_empty(count, ended: float, seconds: float) -> float | None:
    """Seconds after the last answer when `count()` was first 0; None if not within `seconds` of it."""
    while time.perf_counter() < ended + seconds:
        if count() == 0:
            return time.perf_counter() - ended
        time.sleep(0.2)
    return None


# -- the verdict -------------------------------------------------------------------------------------

def during_load(result: Result) -> list[Sample]:
    return [s for s in result.samples if s.at <= result.options.duration + result.options.sample / 2]


def windows(result: Result) -> tuple[list[Sample], list[Sample]]:
    """The samples of the load's first and last minute (its first and last quarter, if shorter)."""
    samples = during_load(result)
    count = max(1, round(min(60.0, result.options.duration / 4) / result.options.sample))
    return samples[:count], samples[-count:]


def rss_total(sample: Sample) -> float:
    return sum(sample.rss.values())


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def slope_per_minute(samples: list[Sample], value) -> float:
    """Least-squares slope of `value(sample)` over the samples' times, per minute."""
    if len(samples) < 2:
        return float("nan")
    xs, ys = [s.at / 60 for s in samples], [value(s) for s in samples]
    mx, my = mean(xs), mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def judge(result: Result) -> list[tuple[str, str, str, bool]]:
    """(what, threshold, measured, met) for each promise of the soak."""
    o, answers = result.options, result.answers()
    first, last = windows(result)
    window = span(len(last) * o.sample)
    errors = result.total("errors")
    accepted = sum(answers.values()) / max(result.load_seconds, o.duration)     # unsent ones count as not accepted
    peak = max((s.backlog for s in last), default=0)
    growth = mean([rss_total(s) for s in last]) / mean([rss_total(s) for s in first]) - 1
    stored = answers["accepted"] + answers["ignored"]
    undecided = result.statuses["received"] + result.statuses["failed"]
    drained = result.backlog_drained_after
    return [
        ("errors (non-202 answers, connection errors)", "0", n(errors), errors == 0),
        ("accepted rate (202 answers ÷ first intended send to last answer)", f"≥ {o.min_accepted:.0%} of {o.rate:g}/s",
         f"{accepted:.1f}/s ({accepted / o.rate:.1%})", accepted >= o.min_accepted * o.rate),
        (f"backlog in the last {window}", f"≤ {o.max_backlog_seconds * o.rate:,.0f} "
         f"({o.max_backlog_seconds:g} s of load)", f"max {peak:,}", peak <= o.max_backlog_seconds * o.rate),
        ("backlog empty after the load", f"within {o.drain:g} s",
         "not empty" if drained is None else f"after {drained:.1f} s", drained is not None),
        ("every stored delivery decided, each stored once", f"{stored:,} stored, 0 undecided",
         f"{sum(result.statuses.values()):,} stored, {undecided:,} undecided",
         undecided == 0 and sum(result.statuses.values()) == stored),
        (f"RSS of the server processes, last {window} ÷ first {window}", f"≤ +{o.max_rss_growth:.0%}",
         f"{growth:+.1%}", growth <= o.max_rss_growth),
    ]


# -- the report --------------------------------------------------------------------------------------

def span(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:.0f} s"


def ms(value: float) -> str:
    return f"{value * 1e3:,.0f}"


def seconds(value: float) -> str:
    return "–" if value != value else f"{value:.2f}"     # NaN: nothing sent in the interval


HEADER = ["t (s)", "offered/s", "accepted/s", "decided/s", "backlog", "p50 ms", "p99 ms", "max ms", "errors",
          "outbox sent/s", "outbox waiting", "outbox lag p50 s", "p99 s", "RSS master MB", "web MB", "worker MB",
          "CPU web / worker"]


def over_time(result: Result) -> list[str]:
    """One row per sample; the client's columns are those of the deliveries meant to be sent in its interval."""
    rows, previous = [], Sample(0.0, 0, 0, 0, 0, 0, [], dict.fromkeys(ROLES, 0.0), dict.fromkeys(ROLES, 0.0), 0)
    for k, sample in enumerate(result.samples):
        client = result.load.intervals[k] if k < len(result.load.intervals) else Interval()
        rows.append(_row(sample, previous, client, result.load.scheduled(k), result.options.sample))
        previous = sample
    return table(HEADER, rows)


def _row(s: Sample, previous: Sample, client: Interval, offered: int, every: float) -> list[str]:
    elapsed, seen = s.at - previous.at, client.latencies
    rates = [n(offered / every), n(sum(client.answers.values()) / every)] if offered else ["–", "–"]
    answers = ([ms(percentile(seen, 50)), ms(percentile(seen, 99)), ms(max(seen)), n(client.errors)]
               if client.sent else ["–"] * 4)
    busy = " / ".join(f"{(s.cpu[role] - previous.cpu[role]) / elapsed:.0%}" for role in ("web", "worker"))
    return [f"{s.at:.0f}", *rates, n((s.decided - previous.decided) / elapsed), n(s.backlog), *answers,
            n((s.sent - previous.sent) / elapsed), n(s.waiting), seconds(percentile(s.lags, 50)),
            seconds(percentile(s.lags, 99)), *(n(s.rss[role]) for role in ROLES), busy]


def rss_lines(result: Result) -> list[str]:
    first, last = windows(result)
    during, rows = during_load(result), []
    for role, value in [("gunicorn master", lambda s: s.rss["master"]), ("gunicorn workers", lambda s: s.rss["web"]),
                        ("escalator worker", lambda s: s.rss["worker"]), ("all", rss_total)]:
        rows.append([role, n(mean([value(s) for s in first]), 1), n(mean([value(s) for s in last]), 1),
                     f"{slope_per_minute(during, value):+.2f}"])
    window = span(min(60.0, result.options.duration / 4))
    return table(["process", f"first {window}, MB", f"last {window}, MB", "slope, MB/min"], rows)


def watched_outbox(result: Result) -> float:
    """How long after the last answer the outbox was watched for emptying."""
    return (result.backlog_drained_after or result.options.drain) + result.options.outbox_drain


def summary_lines(result: Result) -> list[str]:
    answers, lat, lags = result.answers(), result.latencies(), [lag for s in result.samples for lag in s.lags]
    late = [x for i in result.load.intervals for x in i.late]
    last = result.samples[-1] if result.samples else None
    return [
        f"- Sent {n(result.load.sent)} of {n(result.load.total)} deliveries in {result.load_seconds:.1f} s"
        + (f" (the rest were still unsent {result.options.grace:g} s after the planned end, every connection "
           "waiting on the server; the latencies below are of those sent)" if result.load.sent < result.load.total
           else "") + ": "
        + ", ".join(f"{n(count)} {status}" for status, count in answers.most_common())
        + f", {n(result.total('errors'))} errors"
        + "".join(f"; e.g. `{e}`" for e in result.load.error_samples[:3]),
        f"- Intake latency from the intended send time: p50 {ms(percentile(lat, 50))} ms, "
        f"p99 {ms(percentile(lat, 99))} ms, max {ms(max(lat, default=float('nan')))} ms; the generator itself sent p99 "
        f"{ms(percentile(late, 99))} ms late (max {ms(max(late, default=float('nan')))} ms), using "
        f"{result.generator_cpu:.0%} of a CPU (with the fakes and the sampler, in the same process)",
        "- Stored deliveries by status after the drain: "
        + ", ".join(f"{status} {n(count)}" for status, count in sorted(result.statuses.items())),
        f"- Outbox: {n(last.sent if last else 0)} write-backs sent, {n(last.dead if last else 0)} dead, "
        f"{n(last.writes if last else 0)} writes received by the fake Jira and Zendesk; lag from queued to sent "
        f"p50 {seconds(percentile(lags, 50))} s, p99 {seconds(percentile(lags, 99))} s, "
        f"max {seconds(max(lags, default=float('nan')))} s; empty "
        + (f"{result.outbox_drained_after:.1f} s after the last answer" if result.outbox_drained_after is not None
           else f"not yet {span(watched_outbox(result))} after the last answer "
           f"({n(last.waiting if last else 0)} rows still waiting at the last sample)"),
    ]


def report(result: Result, path: Path, machine: list[str], database: str) -> None:
    o = result.options
    text = [
        f"# Soak: {o.rate:g} signed deliveries/s for {span(o.duration)} against fake Jira and Zendesk", "",
        command_line("soak.py"), *machine,
        "- CPUs: 2 cores shared with other work; the load generator, the fake platforms"
        + (", PostgreSQL" if o.database_url else "") + " and the server all run on them",
        f"- Server: `escalator serve --workers {o.web_workers}` (gunicorn gthread, 4 threads, its `escalator worker` "
        f"child deciding and writing back) on {database}; the shipped rules/; write-back to fake Jira and Zendesk "
        "that answer at once",
        f"- Load: open loop, {o.connections} keep-alive connections, latency from each delivery's intended send time; "
        f"tickets opened, updated, commented and resolved over about 10 s each (60 % Jira, 40 % Zendesk), "
        f"{o.duplicates:.0%} redeliveries, 1 % events intake ignores; seed {o.seed}; sampled every {o.sample:g} s",
        "", "## Verdict", "",
        *table(["check", "threshold", "measured", ""], [[*c[:3], verdict(c[3])] for c in result.checks],
               right=set()),
        "", "## Totals", "", *summary_lines(result),
        "", "## Resident memory (VmRSS)", "", *rss_lines(result),
        "", f"## Over time (every {o.sample:g} s; rows after the load are the drain)", "", *over_time(result), "",
    ]
    kept = path.read_text().partition(NOTES)[2] if path.exists() else ""     # the written reading survives a rerun
    path.write_text("\n".join(text) + "\n" + (NOTES + kept if kept else ""))
    log(f"wrote {path}")


def main() -> None:
    defaults = Options()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in vars(defaults).items():
        if name != "out":
            parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/soak.md")
    options = Options(**vars(parser.parse_args()))
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        folder = Path(tmp)
        source, before = Source(options.code, folder), conditions()
        result = run(options, folder, source)
        machine = machine_lines(source, before, conditions())
    report(result, options.out, machine, "PostgreSQL (`--database-url`)" if options.database_url
           else "SQLite (WAL) in a fresh data directory")
    for what, threshold, measured, ok in result.checks:
        log(f"{'ok  ' if ok else 'FAIL'} {what}: {measured} (threshold {threshold})")
    sys.exit(0 if result.passed else 1)


if __name__ == "__main__":
    main()
