"""SLA timers at scale: 10,000 acknowledgement deadlines falling due within 60 s, and how late they fire.

The timers are made the way production makes them. A copy of rules/ differs only in the critical
acknowledgement target (`--ack`, 120 s instead of 15 min). `escalator serve` (or, with `--layout
split`, `serve --no-worker` plus `escalator worker`) runs on SQLite in a fresh data directory, and
`--timers` signed Jira deliveries of enterprise outages (the ingest benchmark's
payload) are posted open loop, evenly over `--spread` s: each is decided critical and arms an ack
timer due `--ack` s after its receipt, so the deadlines fall due evenly over a `--spread` s window.
`--ack` leaves the processor time to decide them all before the first deadline; if intake cannot
take the planned rate, the window stretches, and the results say so. The matrix reacts to
a missed ack ("missed acknowledgement escalates to L2"), so every deadline is fired, and every
firing writes an escalation_log row whose `at` is the due point.

Lag of a firing = when its log row became visible to a separate reader (polled every 50 ms, so up to
50 ms late) - the due point: the wall time the processor needed to notice, decide and commit it.
Deadlines not fired `--grace` s after the last one was due count as infinitely late. For comparison,
the product's own escalator_timer_lag_seconds histogram (/metrics of the process running the
processor, when the server exports it) measures to the start of the pass that fired the timer.
Then the same intake, decisions and firings run in process under cProfile (`_common.profile_path`).

    .venv/bin/python bench/timers.py [--code HEAD|worktree|REV] [--timers 10000] [--spread 60] [--ack 60]
                                     [--layout serve|split]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import (
    ROOT,
    SECRET,
    Deliveries,
    LogWatcher,
    Proc,
    Source,
    bucket_quantile,
    command_line,
    conditions,
    free_port,
    get_json,
    histogram,
    log,
    machine_lines,
    n,
    open_loop,
    percentile,
    query,
    stop_on_sigterm,
    table,
    verdict,
)
from _profile import profile_lines, profile_path, shares_line

TARGET_P99 = 2.0
FIRE_PARTS = [("EscalationService.decide", "plugin/service.py:decide"),
              ("of which messages (Notifier.plan)", "plugin/notify.py:plan"),
              ("reading due timers and tickets", "plugin/store/sql.py:load"),
              ("writing the batch (SqlStore.write)", "plugin/store/sql.py:write")]
CRITICAL = "critical: {ack: 15m,"


def fast_rules(source: Path, target: Path, ack: int) -> Path:
    shutil.copytree(source / "rules", target)
    matrix = target / "matrix.yaml"
    text = matrix.read_text(encoding="utf-8")
    if text.count(CRITICAL) != 1:
        raise SystemExit(f"rules/matrix.yaml no longer has one `{CRITICAL}`: update bench/timers.py")
    matrix.write_text(text.replace(CRITICAL, f"critical: {{ack: {ack}s,"), encoding="utf-8")
    return target


def run(args, source: Source, tmp: Path, rules: Path) -> dict:
    port, data = free_port(), tmp / "data"
    env = source.env(ESCALATOR_DATA_DIR=str(data), ESCALATOR_RULES=str(rules), ESCALATOR_JIRA_WEBHOOK_SECRET=SECRET)
    sizing = ["--workers", str(args.workers), "--threads", str(args.threads)]
    no_worker = ["--no-worker"] if args.layout == "split" else []
    serve = source.escalator("serve", "--port", str(port), *sizing, *no_worker)
    procs = [Proc("serve", serve, env, source.root, tmp, port).wait_healthy()]
    if args.layout == "split":
        procs.append(Proc("worker", source.escalator("worker"), env, source.root, tmp).wait_output("worker started"))
    base, database = procs[0].base, data / "escalator.db"
    deliveries = Deliveries(source.root, "T", args.timers)
    watcher = LogWatcher(database)
    try:
        watcher.start()
        started = time.time()
        log(f"posting {args.timers:,} critical outages over {args.spread} s")
        answers = open_loop(base, deliveries, args.timers / args.spread, args.spread)
        last_due, first_due = time.time() + args.ack, started + args.ack
        log(f"posted; the last deadline is due in {last_due - time.time():.0f} s")
        while get_json(base + "/healthz")["backlog"] and time.time() < first_due - 2:
            time.sleep(0.5)
        drained, drained_cpu = time.time(), procs[-1].cpu_seconds()      # of the process running the processor
        time.sleep(max(first_due - 2 - time.time(), 0))
        quiet, cpu = time.time(), procs[-1].cpu_seconds()
        idle = (cpu - drained_cpu) / (quiet - drained) if quiet - drained > 5 else None
        while time.time() < last_due + args.grace and len(watcher.lags("sla_breached")) < answers["accepted"]:
            time.sleep(0.5)
        watcher.finish()
        cpu = procs[-1].cpu_seconds() - cpu
        buckets = histogram(base, "escalator_timer_lag_seconds")
        states = dict(query(database, "SELECT state, count(*) FROM timers WHERE name = 'ack' GROUP BY state"))
        # A ticket's last write is its breach, stamped with the time of the pass that fired it.
        passes = query(database, "SELECT count(DISTINCT updated_at) FROM tickets")[0][0]
        backlog = get_json(base + "/healthz")["backlog"]
    finally:
        for p in reversed(procs):
            p.stop()
    return {"answers": answers, "cpu": cpu, "idle": idle, "passes": passes, "rows": watcher.rows, "states": states,
            "backlog": backlog,
            "metric_p99": bucket_quantile(buckets, 0.99)}


def report(args, source, before, after, result, profile) -> str:
    fired = [(at, seen - at) for kind, _, at, seen in result["rows"] if kind == "sla_breached"]
    decided = [max(seen - at, 0.0) for kind, delivery, at, seen in result["rows"] if delivery is not None]
    accepted, answers = result["answers"]["accepted"], result["answers"]
    missing = max(accepted - len(fired), 0)
    lags = [max(lag, 0.0) for _, lag in fired] + [float("inf")] * missing
    p50, p99 = percentile(lags, 50), percentile(lags, 99)
    first_due = min((at for at, _ in fired), default=0.0)
    window = max((at for at, _ in fired), default=0.0) - first_due
    per_10s: dict[int, list[float]] = {}
    for at, lag in fired:
        per_10s.setdefault(int((at - first_due) // 10), []).append(max(lag, 0.0))
    layout = "`escalator serve` (which runs the processor itself)" if args.layout == "serve" else \
        "`escalator serve --no-worker` + `escalator worker`"
    lines = [f"# SLA timers: {n(args.timers)} deadlines due within {args.spread:g} s, on SQLite", "",
             "Measured by bench/timers.py on a shared machine.", "", "## Machine and settings", "",
             *machine_lines(source, before, after),
             f"- Layout: {layout}; gunicorn gthread {args.workers} workers x {args.threads} threads; SQLite (WAL) in a "
             "fresh data directory; no write-back credentials (outbox rows stored as dry_run)",
             f"- Matrix: a copy of rules/ with the critical ack at {args.ack} s instead of 15 min (nothing else "
             "changed). The matrix does not react to the ack warning, so only deadlines are scheduled and fired",
             f"- Timers: {n(args.timers)} signed Jira outage deliveries (new ticket each), posted open loop at "
             f"{args.timers / args.spread:.0f}/s over {args.spread} s; each ticket is decided critical and arms ack "
             f"(due {args.ack} s after receipt), plan, rca and update (not due during the run)",
             command_line("timers.py"), "",
             "## Target", "",
             f"- Firing lag p99 ≤ {TARGET_P99:g} s: {p99:.3f} s — {verdict(p99 <= TARGET_P99)}"
             + (f" ({missing:,} deadlines not fired {args.grace} s after the last was due count as infinitely late)"
                if missing else "")
             + (f". The deadlines fell due over {window:.0f} s, not {args.spread:g} s: the deliveries could not be "
                "posted at the planned rate" if window > args.spread + 5 else ""), "",
             "## Results", "",
             "Lag = when the breach's escalation_log row became visible to a reader polling every 50 ms − the "
             "timer's due point (the row's `at`): the processor's wall time to notice, decide and commit the firing, "
             "up to 50 ms late. The metric is the product's escalator_timer_lag_seconds (bucket bound), which "
             "stops at the start of the processor's pass. Passes are counted as the distinct tickets.updated_at "
             "values (each pass stamps what it writes with its start time; a ticket's last write is its breach).", ""]
    lines += table(["deliveries accepted", "deadlines fired", "processor passes that fired", "firings per pass",
                    "due window s", "lag p50 s", "lag p99 s", "lag max s", "metric p99", "ack timers by state"],
                   [[n(accepted), n(len(fired)), n(result["passes"]), f"{len(fired) / max(result['passes'], 1):.1f}",
                     f"{window:.1f}", f"{p50:.3f}", f"{p99:.3f}",
                     f"{max(lags, default=float('nan')):.3f}", result["metric_p99"],
                     ", ".join(f"{k} {v:,}" for k, v in sorted(result["states"].items()))]])
    per_firing = result["cpu"] / max(len(fired), 1) * 1e3
    who = "the worker process, which runs the processor," if args.layout == "split" else \
        "serve's processes, the processor's among them,"
    lines += ["", f"Capacity: from 2 s before the first deadline to the end, {who} spent "
              f"{per_firing:.2f} ms CPU per firing: at most {1e3 / per_firing:.0f} firings/s on a free CPU, where "
              f"{n(args.timers)} in {args.spread:g} s need {args.timers / args.spread:.0f}/s."
              + (f" Between the last decision and then, with nothing to do, it used {result['idle']:.1%} of a CPU."
                 if result["idle"] is not None else "")
              + (f" In process, a firing's time goes to: {shares_line(profile[-1], FIRE_PARTS)}." if profile else "")]
    lines += ["", "Lag by when the deadline fell due (10 s slices of the window):", ""]
    lines += table(["due s after the first", "fired", "lag p50 s", "lag p99 s", "lag max s"],
                   [[f"{k * 10}–{k * 10 + 10}", n(len(v)), f"{percentile(v, 50):.3f}", f"{percentile(v, 99):.3f}",
                     f"{max(v):.3f}"] for k, v in sorted(per_10s.items())])
    lines += ["", f"While the timers were created: the open loop sent {answers['sent']:,} of {answers['planned']:,} "
              f"deliveries at {answers['answered_rate']:.0f}/s, answer latency p50 {answers['p50_ms']:.1f} ms, p99 "
              f"{answers['p99_ms']:.1f} ms; decision lag (log row visible − receipt) p50 {percentile(decided, 50):.3f} "
              f"s, p99 {percentile(decided, 99):.3f} s over {len(decided):,} decisions; backlog at the end "
              f"{result['backlog']}.", "",
              "## Where the time goes (in process)", "",
              f"{args.profile} of the same deliveries through the webhook view (Flask test client), the processor's "
              "decisions, then the clock moved past their deadlines and the processor's firings, on SQLite in "
              "one thread, each under cProfile."]
    lines += profile_lines(profile)
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", default="HEAD", help="a git revision to archive and run, or `worktree`")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60, help="seconds over which the deadlines fall due")
    parser.add_argument("--ack", type=int, default=120, help="the critical ack target in the copied matrix, seconds")
    parser.add_argument("--grace", type=float, default=30, help="wait this long after the last deadline")
    parser.add_argument("--layout", choices=("serve", "split"), default="serve")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--profile", type=int, default=500, help="timers profiled in process (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "timers.md")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as name:
        tmp = Path(name)
        before = conditions()
        source = Source(args.code, tmp)
        rules = fast_rules(source.root, tmp / "rules", args.ack)
        result = run(args, source, tmp, rules)
        profile = profile_path(source, tmp, rules, args.profile, fire_after=args.ack + 1) if args.profile else []
        after = conditions()
        args.out.write_text(report(args, source, before, after, result, profile))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
