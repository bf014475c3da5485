"""The insights page on a month of data: 10,000 simulated incidents over 30 days, loaded as
`escalator simulate --into-db` loads them, then the figures and the page timed side by side.

One run: generate the incidents and replay them on the in-memory store (as `simulate` does), copy
the month into a fresh SQLite database (and, with `--postgres URL`, into a PostgreSQL database this
script creates and drops), then for each database time, `--repeat` times each:
- reading the facts of the month and of the month before (`store.insights_sql.read_facts`, twice);
- computing the figures from them (`plugin.insights.figures`, twice, and the comparison);
- `GET /insights`, `GET /api/insights` and `GET /insights.csv` through the Flask test client, logged in
  (the whole request: reading, figures, charts and template);
- `GET /insights` for the second half of the month (compared with a first half as full).

    .venv/bin/python bench/insights.py [--incidents 10000] [--days 30] [--repeat 5]
                                       [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _common import ROOT, Source, command_line, conditions, log, machine_lines, n, stop_on_sigterm, table, verdict

sys.path.insert(0, str(ROOT))

TARGET_PAGE_S = 2.0         # a month's page in under two seconds at the median
START = datetime(2026, 11, 2, tzinfo=UTC)


def main() -> None:
    stop_on_sigterm()
    args = _arguments()
    before = conditions()
    with tempfile.TemporaryDirectory() as tmp:
        source = Source("worktree", Path(tmp))
        month, load = _simulated_month(args)
        runs = [_measure("SQLite", f"sqlite:///{tmp}/escalator.db", month, args, Path(tmp))]
        if args.postgres:
            runs.append(_on_postgres(args.postgres, month, args, Path(tmp)))
    after = conditions()
    lines = _report(args, source, before, after, month, load, runs)
    Path(args.out).write_text("\n".join(lines) + "\n")
    log(f"wrote {args.out}")


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engine", default="python", choices=["python", "durable"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL; a database is created beside it")
    parser.add_argument("--out", default=str(ROOT / "bench/results/insights.md"))
    return parser.parse_args()


def _simulated_month(args):
    from simulator.generator import generate
    from simulator.into_db import month_of, rating_deliveries
    from simulator.replay import replay
    started = time.perf_counter()
    generated = generate(seed=args.seed, incidents=args.incidents, days=args.days, start=START)
    rated = rating_deliveries(generated)
    log(f"replaying {len(generated):,} deliveries of {args.incidents:,} incidents ({args.engine} engine)")
    result = replay(generated, ROOT / "rules", engine=args.engine, lean=True, consume=True)
    month = month_of(result, args.seed, rated)
    return month, {"replay_s": time.perf_counter() - started, "ended": result.ended}


def _measure(name: str, url: str, month, args, tmp: Path) -> dict:
    from plugin.store.simulated_sql import load_month
    from plugin.store.sql import SqlStore
    store = SqlStore(url)
    try:
        started = time.perf_counter()
        load_month(store, month)
        copy_s = time.perf_counter() - started
        log(f"{name}: month copied in {copy_s:.1f} s")
        return {"name": name, "copy_s": copy_s, **_timings(store, args, tmp)}
    finally:
        store.dispose()


def _on_postgres(url: str, month, args, tmp: Path) -> dict:
    import sqlalchemy
    name = "escalator_bench_insights"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        return _measure("PostgreSQL", url.rsplit("/", 1)[0] + "/" + name, month, args, tmp)
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _timings(store, args, tmp: Path) -> dict:
    from plugin.insights import Period, compared, figures, good_rating
    from plugin.store.insights_sql import read_facts
    end = START + timedelta(days=args.days + 3)
    period = Period(START, end)
    now = end
    facts: list = []

    def read():
        with store.reading() as tx:
            facts[:] = [read_facts(tx.conn, p, simulated=True, rating=good_rating) for p in (period, period.previous())]

    def compute():
        compared(figures(facts[0], period, now), figures(facts[1], period.previous(), now))

    timed = {"read": _repeat(read, args.repeat), "figures": _repeat(compute, args.repeat)}
    current = facts[0]
    timed["rows"] = {"tickets": len(current.tickets), "log": len(current.log), "timers": len(current.timers),
                     "ratings": len(current.ratings)}
    client = _client(store, now, tmp)
    shown = f"since={START.date()}&until={(end - timedelta(days=1)).date()}&simulated=1"
    half = end - timedelta(days=(args.days + 3) // 2)
    second_half = f"since={half.date()}&until={(end - timedelta(days=1)).date()}&simulated=1"
    for label, path in (("page", f"/insights?{shown}"), ("api", f"/api/insights?{shown}"),
                        ("csv", f"/insights.csv?{shown}"), ("half", f"/insights?{second_half}")):
        timed[label] = _repeat(lambda path=path: _get(client, path), args.repeat)
        timed[label + "_bytes"] = len(client.get(path).data)
    return timed


def _client(store, now: datetime, tmp: Path):
    from plugin import bootstrap
    from plugin.app import create_app
    from plugin.domain.clock import FixedClock
    from plugin.passwords import hash_password
    from plugin.settings import Settings
    settings = Settings(rules=str(ROOT / "rules"), data_dir=str(tmp / "data"), database_url=store.url)
    app = create_app(bootstrap.build(settings, clock=FixedClock(now), store=store), start_worker=False)
    app.extensions["escalator.users"].add("lead", "lead", hash_password("bench-password-1"), now)
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "text/html"
    import re
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    answer = client.post("/login", data={"name": "lead", "password": "bench-password-1", "csrf_token": token})
    assert answer.status_code == 302, answer.text
    return client


def _get(client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])


def _repeat(work, times: int) -> dict[str, list[float]]:
    """Wall and CPU seconds of each run: on a shared machine the CPU time says what the work costs."""
    took = {"wall": [], "cpu": []}
    for _ in range(times):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        took["wall"].append(time.perf_counter() - wall)
        took["cpu"].append(time.process_time() - cpu)
    return took


def _report(args, source, before, after, month, load, runs) -> list[str]:
    def cell(took):
        wall = took["wall"]
        return (f"{statistics.median(wall):.2f} ({min(wall):.2f}–{max(wall):.2f}); "
                f"CPU {statistics.median(took['cpu']):.2f}")
    lines = [f"# Insights: the page on a simulated month of {args.incidents:,} incidents over {args.days} days", "",
             "Measured by bench/insights.py on a shared machine; the databases and the steps below ran side by "
             "side in this one run.", "", "## Machine and settings", "",
             *machine_lines(source, before, after), command_line("insights.py"),
             f"- Data: `generate(seed={args.seed}, incidents={args.incidents}, days={args.days}, "
             f"start={START.date()})` "
             f"replayed on the in-memory store ({args.engine} engine, lean) in {load['replay_s']:.0f} s, then copied "
             "as `escalator simulate --into-db` copies it (`simulated_sql.load_month`, one transaction, chunks of "
             "1,000 rows)",
             f"- Rows copied: {len(month.tickets):,} tickets, {len(month.log):,} log entries, "
             f"{len(month.timers):,} timers, {len(month.ratings):,} ratings (each a delivery and a log entry)",
             f"- Period: every ticket of the month ({START.date()} to "
             f"{(START + timedelta(days=args.days + 2)).date()}), simulated included, compared with the "
             f"{args.days + 3} days before (empty); each step run "
             f"{args.repeat} times; wall seconds as median (min–max), then the median CPU seconds of this process "
             "(the database server's own work on PostgreSQL is not in it)",
             "- read = `read_facts` of the period and of the previous one; figures = `figures` of both and "
             "`compared`; page, api, csv = the whole request in the Flask test client, logged in as a lead; "
             "half = the page for the second half of the month, whose previous period (the first half) is full "
             "too, as it is on a database with history", "", "## Targets", ""]
    for run in runs:
        median = statistics.median(run["page"]["wall"])
        lines.append(f"- {run['name']}: `GET /insights` for the month in ≤ {TARGET_PAGE_S:g} s (median): "
                     f"{median:.2f} s — {verdict(median <= TARGET_PAGE_S)}")
    lines += ["", "## Runs", ""]
    lines += table(["database", "copy s", "read s", "figures s", "page s", "api s", "csv s", "half-month page s"],
                   [[run["name"], f"{run['copy_s']:.1f}", cell(run["read"]), cell(run["figures"]), cell(run["page"]),
                     cell(run["api"]), cell(run["csv"]), cell(run["half"])] for run in runs])
    lines += ["", "Rows read for the month (the previous period is empty):", ""]
    lines += table(["database", "tickets", "log entries", "timers", "ratings", "page bytes", "api bytes",
                    "csv bytes"],
                   [[run["name"], *(n(run["rows"][k]) for k in ("tickets", "log", "timers", "ratings")),
                     n(run["page_bytes"]), n(run["api_bytes"]), n(run["csv_bytes"])] for run in runs])
    return lines


if __name__ == "__main__":
    main()
