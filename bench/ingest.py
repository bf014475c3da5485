"""Intake, sustained decisions and decision lag of the webhook path, side by side with a bare Flask endpoint.

Servers, all under gunicorn with the same options (gthread, --workers x --threads, access log on):
- bare:  bench/bare_app.py, `json.loads(request.get_data())` and a 202;
- serve: `escalator serve`, which also runs the processor and the outbox worker (where, is up to serve);
- split: `escalator serve --no-worker` plus a separate `escalator worker` process.
Each full server gets a fresh SQLite data directory, the shipped rules/ and no write-back
credentials (dry-run). Requests: see `_common.Deliveries` (a new ticket and delivery id each time);
"signed" sets ESCALATOR_JIRA_WEBHOOK_SECRET and sends X-Hub-Signature, "unsigned" neither.

1. Intake: wrk, closed loop, `--connections` keep-alive connections for `--duration` s. For each of
   serve and split (signed, unsigned) and intake alone (`--no-worker`, no worker), `--rounds` times:
   a fresh full server is warmed up, then the bare server (running throughout) and the full one are
   measured back to back, so each ratio compares two figures taken under the same machine load.
   The figure is the answer rate; the processor works meanwhile, and its backlog at the end is shown.
2. Sustained: `--sustained` deliveries posted as fast as wrk can (signed), then /healthz polled
   until the backlog is 0; decided/s = deliveries decided / (backlog empty - first post).
3. Lag: open loop at `--rate` deliveries/s for `--lag-seconds` s (signed). Decision lag is read from
   the database while it runs (`_common.LogWatcher`: a decision's log row becoming visible, minus
   the delivery's receipt), and also as the product records it (deliveries.decided_at - received_at,
   the definition of escalator_decision_lag_seconds). Answer latency from the client.
4. Where the time goes: intake and the processor in process under cProfile (`_common.profile_path`).

    .venv/bin/python bench/ingest.py [--code HEAD|worktree|REV] [--rounds 1] [--duration 6]
                                     [--sustained 5000] [--rate 200] [--lag-seconds 30]
"""
from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import tempfile
import threading
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
    sqlite_time,
    stop_on_sigterm,
    table,
    verdict,
)
from _profile import profile_lines, profile_path, shares_line

TARGET_INTAKE, TARGET_SUSTAINED, TARGET_LAG_P99 = 0.80, 0.35, 1.0
FULL = (("serve", True), ("serve", False), ("split", True), ("split", False), ("intake", True))
DECIDED = "SELECT received_at, decided_at FROM deliveries WHERE id > ? AND decided_at IS NOT NULL"
POOL, WARM = 80_000, 10_000        # deliveries signed up front; the last WARM are for warm-ups
WRK_LUA = Path(__file__).with_name("ingest.lua")


class Bench:
    def __init__(self, args, tmp: Path):
        self.args, self.tmp = args, tmp
        self.source = Source(args.code, tmp)
        log("signing deliveries")
        self.deliveries = Deliveries(self.source.root, "B", POOL)
        self.files = self.deliveries.write(tmp)

    def start(self, kind: str, signed: bool = True) -> list[Proc]:
        """The server (first) and, for split, its worker; fresh data directory each time."""
        port, data = free_port(), self.tmp / f"data-{kind}-{time.monotonic_ns()}"
        sizing = ["--workers", str(self.args.workers), "--threads", str(self.args.threads)]
        env = self.source.env(ESCALATOR_DATA_DIR=str(data), ESCALATOR_RULES=str(self.source.root / "rules"),
                              **({"ESCALATOR_JIRA_WEBHOOK_SECRET": SECRET} if signed else {}))
        if kind == "bare":
            command = [self.source.escalator()[0], str(ROOT / "bench" / "bare_app.py"), "--port", str(port), *sizing]
            return [Proc(kind, command, env, self.source.root, self.tmp, port).wait_healthy()]
        no_worker = [] if kind == "serve" else ["--no-worker"]
        serve = self.source.escalator("serve", "--port", str(port), *sizing, *no_worker)
        procs = [Proc(kind, serve, env, self.source.root, self.tmp, port).wait_healthy()]
        if kind == "split":
            procs.append(Proc("worker", self.source.escalator("worker"), env, self.source.root, self.tmp)
                         .wait_output("worker started"))
        procs[0].database = data / "escalator.db"
        return procs

    def wrk(self, base: str, seconds: float, signed: bool, offset: int = 0, limit: int = 0) -> dict:
        marker = self.tmp / f"marker-{time.monotonic_ns()}"
        command = ["wrk", "-t", "1", "-c", str(self.args.connections), "-d", f"{int(seconds)}s", "--timeout", "10s",
                   "-s", str(WRK_LUA), base + "/webhooks/jira", "--", *map(str, self.files),
                   "1" if signed else "0", str(offset), str(limit), str(marker)]
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        while wrk.poll() is None and not (limit and marker.exists()):
            time.sleep(0.05)
        if wrk.poll() is None:
            wrk.send_signal(signal.SIGINT)      # wrk would otherwise idle until -d ends
        output = wrk.communicate(timeout=60)[0]
        line = next((x for x in output.splitlines() if x.startswith("WRKJSON ")), None)
        if line is None:
            raise SystemExit(f"wrk gave no result:\n{output}")
        result = json.loads(line.split(" ", 1)[1])
        result["rate"] = result["requests"] / (result["us"] / 1e6)
        return result

    # -- 1. intake ---------------------------------------------------------------------------------

    def intake(self) -> list[dict]:
        """Each full server measured right after the bare one, with the same requests, so both see the same
        machine; the bare server runs throughout, the full ones fresh each time."""
        rows, bare = [], self.start("bare")
        try:
            self.wrk(bare[0].base, 2, True, offset=POOL - WARM)
            for round_ in range(1, self.args.rounds + 1):
                for kind, signed in FULL:
                    procs = self.start(kind, signed)
                    try:
                        self.wrk(procs[0].base, 2, signed, offset=POOL - WARM)
                        if kind != "intake":
                            self.wait_empty(procs[0].base)      # so the processor is idle while bare is measured
                        base = self.measure(bare, signed)
                        full = self.measure(procs, signed)
                        full["backlog"] = get_json(procs[0].base + "/healthz")["backlog"]
                    finally:
                        for p in reversed(procs):
                            p.stop()
                    rows.append({"round": round_, "kind": kind, "signed": signed, **full,
                                 "bare_rate": base["rate"], "bare_cpu_ms": base["cpu_ms"]})
                    log(f"intake round {round_} {kind} {'signed' if signed else 'unsigned'}: {full['rate']:.0f} req/s, "
                        f"bare {base['rate']:.0f} req/s")
        finally:
            bare[0].stop()
        return rows

    def measure(self, procs: list[Proc], signed: bool) -> dict:
        cpu = sum(p.cpu_seconds() for p in procs)
        result = self.wrk(procs[0].base, self.args.duration, signed)
        result["cpu_ms"] = (sum(p.cpu_seconds() for p in procs) - cpu) / result["requests"] * 1e3
        return result

    # -- 2. sustained ------------------------------------------------------------------------------

    def sustained(self, kind: str) -> dict:
        procs = self.start(kind)
        base, count, posted = procs[0].base, self.args.sustained, threading.Event()

        def post():
            try:
                self.wrk(base, 900, True, limit=count)
            finally:
                posted.set()
        try:
            first, cpu = time.time(), procs[-1].cpu_seconds()
            threading.Thread(target=post, daemon=True).start()
            posting, backlog, peak = None, None, 0
            while time.time() - first < 900:
                if posting is None and posted.is_set():
                    posting = time.time() - first
                backlog = get_json(base + "/healthz", timeout=30)["backlog"]
                peak = max(peak, backlog)
                if posting is not None and backlog == 0:
                    break
                time.sleep(0.25)
            seconds, cpu = time.time() - first, procs[-1].cpu_seconds() - cpu
            decided, passes = query(procs[0].database, "SELECT count(*), count(DISTINCT decided_at) FROM deliveries "
                                                       "WHERE status = 'decided'")[0]
        finally:
            for p in reversed(procs):
                p.stop()
        result = {"kind": kind, "decided": decided, "seconds": seconds, "posting": posting or seconds,
                  "peak": peak, "left": backlog, "rate": decided / seconds, "passes": passes,
                  "worker_ms": cpu / max(decided, 1) * 1e3 if kind == "split" else None}
        log(f"sustained {kind}: {decided} decided in {seconds:.1f} s = {result['rate']:.0f}/s")
        return result

    # -- 3. lag ------------------------------------------------------------------------------------

    def lag(self, kind: str) -> dict:
        procs = self.start(kind)
        base, rate, seconds = procs[0].base, self.args.rate, self.args.lag_seconds
        try:
            open_loop(base, self.deliveries, rate, 2, first=POOL - WARM)       # warm-up
            if kind == "bare":
                return {"kind": kind, **open_loop(base, self.deliveries, rate, seconds)}
            self.wait_empty(base)
            database = procs[0].database
            since = query(database, "SELECT coalesce(max(id), 0) FROM deliveries")[0][0]
            warm = histogram(base, "escalator_decision_lag_seconds") or {}
            watcher = LogWatcher(database)
            watcher.start()
            answers = open_loop(base, self.deliveries, rate, seconds)
            left = self.wait_empty(base)
            watcher.finish()
            rows = query(database, DECIDED, since)
            stored, passes = [sqlite_time(d) - sqlite_time(r) for r, d in rows], len({d for _, d in rows})
            buckets = {le: count - warm.get(le, 0)      # this window's observations, not the warm-up's
                       for le, count in (histogram(base, "escalator_decision_lag_seconds") or {}).items()}
        finally:
            for p in reversed(procs):
                p.stop()
        observed = watcher.lags(deliveries=True)
        log(f"lag {kind}: observed p99 {percentile(observed, 99):.3f} s over {len(observed)}")
        return {"kind": kind, **answers, "observed": observed, "stored": stored, "left": left, "passes": passes,
                "metric_p99": bucket_quantile(buckets, 0.99)}

    def wait_empty(self, base: str, seconds: float = 120) -> int:
        deadline = time.monotonic() + seconds
        while (backlog := get_json(base + "/healthz", timeout=30)["backlog"]) and time.monotonic() < deadline:
            time.sleep(0.2)
        return backlog


# -- the report -------------------------------------------------------------------------------------

LAYOUT = {"bare": "bare Flask", "serve": "`serve`",
          "split": "`serve --no-worker` + `worker`", "intake": "`serve --no-worker`, no worker (intake alone)"}


def ratios(intake: list[dict]) -> dict[tuple[str, bool], list[float]]:
    """Per layout and signing, full rate / the bare rate measured just before it, for each round."""
    by: dict[tuple[str, bool], list[float]] = {}
    for r in intake:
        by.setdefault((r["kind"], r["signed"]), []).append(r["rate"] / r["bare_rate"])
    return by


VIEW_PARTS = [("the delivery insert (SqlStore.receive)", "plugin/store/sql.py:receive"),
              ("parsing the event", "plugin/platforms/__init__.py:parse"),
              ("reading the JSON with the depth check", "plugin/intake.py:load_json"),
              ("of which the depth check", "plugin/intake.py:depth_exceeds"),
              ("the signature check", "plugin/webhooks/views.py:_verify")]
DECIDE_PARTS = [("parsing the stored body again", "plugin/platforms/__init__.py:parse"),
                ("EscalationService.decide", "plugin/service.py:decide"),
                ("of which messages (Notifier.plan)", "plugin/notify.py:plan"),
                ("reading the batch (pending, load)", "plugin/store/sql.py:load"),
                ("writing the batch (SqlStore.write)", "plugin/store/sql.py:write")]


def why(args, intake, sustained, lags, profile, bare_rate) -> list[str]:
    """A CPU budget for each missed target, and what the profile says the time is spent on."""
    def cpu(kind):
        return statistics.median(x["cpu_ms"] for x in intake if x["kind"] == kind and x["signed"])
    bare, alone = statistics.median(x["bare_cpu_ms"] for x in intake if x["signed"]), cpu("intake")
    lines = ["", "## Why targets are missed", "",
             f"- Intake: bare Flask spends {bare:.2f} ms of server CPU per answer, so ≥ {TARGET_INTAKE:.2f} of its "
             f"rate leaves the full path {bare / TARGET_INTAKE:.2f} ms. Intake alone (no processor) spends "
             f"{alone:.2f} ms ({alone / bare:.1f}x bare); with the processor running, {cpu('serve'):.2f} ms "
             f"(`serve`) and {cpu('split'):.2f} ms (split) of all server processes per answer, on the same 2 CPUs."]
    if profile:
        lines.append(f"  - In process, the webhook view's time goes to: {shares_line(profile[0], VIEW_PARTS)} "
                     "(inclusive shares of the view's profiled time; section 4).")
    split = next((s for s in sustained if s["worker_ms"]), None)
    if split:
        need = TARGET_SUSTAINED * bare_rate
        lines.append(f"- Sustained: the worker process spent {split['worker_ms']:.2f} ms CPU per decision, so one "
                     f"processor thread decides at most {1e3 / split['worker_ms']:.0f}/s on a free CPU; "
                     f"{TARGET_SUSTAINED:.2f} x bare is {need:.0f}/s, ≤ {1e3 / need:.2f} ms per decision, and intake "
                     "shares the CPUs meanwhile.")
    if profile and len(profile) > 1:
        lines.append(f"  - In process, a decision's time goes to: {shares_line(profile[1], DECIDE_PARTS)}.")
    for x in lags:
        if x["kind"] == "bare" or percentile(x["observed"], 99) <= TARGET_LAG_P99:
            continue
        capacity = next(s["rate"] for s in sustained if s["kind"] == x["kind"])
        more = "more" if args.rate > capacity else "less"
        lines.append(f"- Lag, {LAYOUT[x['kind']]}: {args.rate:g} deliveries/s is {more} than this layout's "
                     f"sustained decision rate above ({capacity:.0f}/s)"
                     + (", so the backlog, and with it the lag, grows while the load lasts." if args.rate > capacity
                        else "; the lag is the passes themselves, with intake competing for the CPUs."))
        if percentile(x["stored"], 99) <= TARGET_LAG_P99:
            lines.append(f"  - The product's own measure would call it met (decided_at − received_at p99 "
                         f"{percentile(x['stored'], 99):.3f} s): it stops at the start of the pass that decides.")
        if x["answered_rate"] < 0.97 * args.rate:
            lines.append(f"  - It answered only {x['answered_rate']:.0f} of the {args.rate:g} deliveries/s offered "
                         f"(answer p50 {x['p50_ms'] / 1e3:.1f} s): the rest queued in front of the server, where the "
                         "decision lag (counted from receipt) does not see it.")
    return lines


def report(args, bench: Bench, before, after, intake, sustained, lags, profile) -> str:
    bare_rate = statistics.median(x["bare_rate"] for x in intake if x["signed"])
    r = ratios(intake)
    full_lags = [x for x in lags if x["kind"] != "bare"]
    lines = ["# Intake, sustained decisions and decision lag: the webhook path against bare Flask", "",
             "Measured by bench/ingest.py; every comparison below ran side by side in this one run, on a shared "
             "machine, so read ratios rather than absolute rates.", "", "## Machine and settings", "",
             *machine_lines(bench.source, before, after),
             f"- gunicorn for every server: gthread, {args.workers} workers x {args.threads} threads (the options of "
             "`escalator serve`, read by bench/bare_app.py from plugin/cli.py), access log to a file",
             "- Full path: SQLite (WAL) in a fresh data directory per server, the shipped rules/ "
             "(durable engine), no write-back credentials (outbox rows stored as dry_run)",
             f"- Payload: the Jira issue-created fixture, {len(bench.deliveries.body(0)):,} bytes, outage summary and "
             "customfield_10050 Gold, so the matrix makes it critical (4 timers, outbox rows); a new issue key "
             "and X-Atlassian-Webhook-Identifier per delivery; signed = ESCALATOR_JIRA_WEBHOOK_SECRET set and "
             "X-Hub-Signature sent (bare gets the signed requests and checks nothing)",
             f"- Closed loop: {subprocess.run(['wrk', '-v'], capture_output=True, text=True).stdout.splitlines()[0]}, "
             f"1 thread, {args.connections} connections; open loop: Python threads, 32 keep-alive connections, "
             "latency from each request's scheduled send time",
             command_line("ingest.py"), "",
             "## Targets", "",
             f"- Intake, full ÷ bare measured just before it (median of {args.rounds} rounds), target ≥ "
             f"{TARGET_INTAKE:.2f}:"]
    for (kind, signed), each in sorted(r.items(), key=lambda item: (list(LAYOUT).index(item[0][0]), not item[0][1])):
        ratio = statistics.median(each)
        spread = f" (rounds {min(each):.2f}–{max(each):.2f})" if len(each) > 1 else ""
        if kind == "intake":
            lines.append(f"  - not a deployment, for comparison: {LAYOUT[kind]}, signed: {ratio:.2f}{spread}")
            continue
        lines.append(f"  - {LAYOUT[kind]}, {'signed' if signed else 'unsigned'}: {ratio:.2f}{spread} — "
                     f"{verdict(ratio >= TARGET_INTAKE)}")
    lines.append(f"- Sustained: deliveries decided per second from the first post to an empty backlog ÷ bare intake "
                 f"({n(bare_rate)} req/s, signed, median), target ≥ {TARGET_SUSTAINED:.2f}:")
    for s in sustained:
        ratio = s["rate"] / bare_rate
        lines.append(f"  - {LAYOUT[s['kind']]}: {n(s['rate'])}/s = {ratio:.2f} — {verdict(ratio >= TARGET_SUSTAINED)}")
    lines.append(f"- Decision lag p99 at {args.rate} deliveries/s (open loop, {args.lag_seconds} s), target ≤ "
                 f"{TARGET_LAG_P99:g} s (observed lag: receipt to the decision being visible in the database):")
    for x in full_lags:
        p99 = percentile(x["observed"], 99)
        lines.append(f"  - {LAYOUT[x['kind']]}: {p99:.3f} s — {verdict(p99 <= TARGET_LAG_P99 and not x['left'])}"
                     + (f" ({x['left']} still undecided 120 s after the last post)" if x["left"] else ""))
    lines += why(args, intake, sustained, lags, profile, bare_rate)
    lines += ["", "## 1. Intake (closed loop)", "",
              f"Each row: a fresh full server warmed up for 2 s (and, with a processor, its backlog drained), then "
              f"{args.duration:g} s of the bare server (running throughout) and {args.duration:g} s of the full one, "
              "back to back with the same requests. CPU is all of a server's processes (gunicorn, the processor "
              "and, for split, the worker process) per answer; backlog is what the processor had not decided when "
              "the load stopped.", ""]
    lines += table(["round", "full server", "bare req/s", "full req/s", "÷ bare", "bare CPU ms/answer",
                    "full CPU ms/answer", "full requests", "not accepted", "socket errors", "backlog at the end"],
                   [[x["round"], f"{LAYOUT[x['kind']]}, {'signed' if x['signed'] else 'unsigned'}",
                     n(x["bare_rate"]), n(x["rate"]), f"{x['rate'] / x['bare_rate']:.2f}",
                     f"{x['bare_cpu_ms']:.2f}", f"{x['cpu_ms']:.2f}", n(x["requests"]), n(x["other"]), n(x["errors"]),
                     n(x["backlog"])] for x in intake])
    lines += ["", f"## 2. Sustained ({n(args.sustained)} deliveries, signed)", "",
              "wrk posts the deliveries as fast as the server answers (a few more in flight at the end become "
              "duplicates); /healthz is polled every 0.25 s. decided/s = deliveries with status decided / "
              "(backlog 0 − first post). Passes: distinct deliveries.decided_at (a pass stamps its deliveries with "
              "its start time).", ""]
    lines += table(["layout", "decided", "posting s", "backlog empty after s", "peak backlog", "decided/s", "÷ bare",
                    "passes", "deliveries per pass"],
                   [[LAYOUT[s["kind"]], n(s["decided"]), f"{s['posting']:.1f}", f"{s['seconds']:.1f}", n(s["peak"]),
                     n(s["rate"]), f"{s['rate'] / bare_rate:.2f}", n(s["passes"]), f"{s['decided'] / s['passes']:.1f}"]
                    for s in sustained])
    lines += ["", f"## 3. Lag at {args.rate} deliveries/s (open loop, {args.lag_seconds} s, signed)", "",
              "Observed lag: a poller reads new escalation_log rows every 50 ms with its own connection; lag = when "
              "the row was first seen − the delivery's receipt (`at`). It errs late by up to 50 ms. Stored lag: "
              "deliveries.decided_at − received_at, which is how escalator_decision_lag_seconds is computed; "
              "decided_at is the start of the processor's pass, so it leaves out the pass itself. The metric "
              "column is escalator_decision_lag_seconds (bucket bound) from the server's /metrics, when one of its "
              "processes exports observations (the most complete of 20 scrapes).", ""]
    rows = []
    for x in lags:
        row = [LAYOUT[x["kind"]], f"{x['sent']:,} / {x['planned']:,}", n(x["accepted"]), f"{x['answered_rate']:.0f}",
               f"{x['p50_ms']:.1f}", f"{x['p99_ms']:.1f}", f"{x['max_ms']:.0f}"]
        if x["kind"] == "bare":
            rows.append(row + ["—"] * 6)
            continue
        o, s = x["observed"], x["stored"]
        rows.append(row + [f"{percentile(o, 50):.3f} / {percentile(o, 99):.3f} / {max(o, default=float('nan')):.3f}",
                           f"{len(o):,}", f"{percentile(s, 50):.3f} / {percentile(s, 99):.3f}", x["metric_p99"],
                           f"{len(s) / max(x['passes'], 1):.1f}", n(x["left"])])
    lines += table(["server", "sent / planned", "accepted", "answered/s", "answer p50 ms", "answer p99 ms", "max ms",
                    "observed lag p50 / p99 / max s", "decisions seen", "stored lag p50 / p99 s", "metric p99",
                    "deliveries per pass", "undecided at the end"], rows)
    lines += ["", "## 4. Where the time goes (in process)", "",
              "The same path without HTTP or gunicorn: Flask's test client posts signed deliveries to a fresh SQLite "
              "store (one thread), then the processor drains them; each phase under cProfile."]
    lines += profile_lines(profile)
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", default="HEAD", help="a git revision to archive and run, or `worktree`")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--sustained", type=int, default=5_000)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--lag-seconds", type=float, default=30)
    parser.add_argument("--profile", type=int, default=500, help="deliveries profiled in process (0: skip)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest.md")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    if args.sustained > POOL - WARM:
        parser.error(f"--sustained at most {POOL - WARM}")
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        before = conditions()
        bench = Bench(args, Path(tmp))
        intake = bench.intake()
        sustained = [bench.sustained(kind) for kind in ("serve", "split")]
        lags = [bench.lag(kind) for kind in ("bare", "serve", "split")]
        rules = bench.source.root / "rules"
        profile = profile_path(bench.source, Path(tmp), rules, args.profile) if args.profile else []
        after = conditions()
        args.out.write_text(report(args, bench, before, after, intake, sustained, lags, profile))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
