"""Replay benchmark: `escalator simulate` of 1,000 and 10,000 incidents over 30 days.

Every run is `escalator simulate --incidents N --days D --seed S --out DIR [--engine E]` in a fresh
subprocess, so its peak RSS is its own: wall time (from start to exit, generation, replay and the
written report included), CPU time (user + system) and peak RSS come from wait4()'s rusage. Events
are deliveries + timer firings, from the run's summary.json. Then the smallest size runs once more
under cProfile, to show where the time goes.

By default the code is the work tree (`--code worktree`), so the figures follow the replay path as
it is being changed; `--code REV` runs a `git archive` of a revision instead. A run longer than
`--budget` s is stopped and reported as such.

    .venv/bin/python bench/replay.py [--sizes 1000,10000] [--days 30] [--engines durable,python]
                                     [--code worktree|REV] [--budget 240]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from _common import (
    ROOT,
    Source,
    command_line,
    conditions,
    log,
    machine_lines,
    n,
    stop_on_sigterm,
    table,
    verdict,
)
from _profile import profile_lines, profile_summary, shares_line

TARGET_SLOPE, TARGET_SECONDS, TARGET_RSS_MB = 1.1, 60.0, 500.0      # slope: time ratio ÷ incidents ratio
DEFAULT_SIZES = "1000,10000"
SIM_PARTS = [("generating deliveries", "simulator/cli.py:_generate"), ("the replay", "simulator/replay.py:replay"),
             ("of which intake", "plugin/intake.py:ingest"),
             ("of which processor passes", "plugin/processor.py:run_once"),
             ("of which decisions", "plugin/service.py:decide"), ("summary", "simulator/report.py:summarize"),
             ("per-ticket report", "simulator/report.py:per_ticket")]
PROFILED = """import cProfile, sys
from plugin.cli import main
profiler = cProfile.Profile()
try:
    profiler.runcall(main, sys.argv[2:], prog_name="escalator", standalone_mode=False)
finally:
    profiler.dump_stats(sys.argv[1])
"""


def simulate(source: Source, tmp: Path, engine: str, incidents: int, args, profile: Path | None = None) -> dict:
    out = tmp / f"sim-{engine}-{incidents}-{time.monotonic_ns()}"
    command = source.escalator("simulate", "--incidents", str(incidents), "--days", str(args.days), "--seed",
                               str(args.seed), "--out", str(out), "--engine", engine,
                               "--rules", str(source.root / "rules"))
    if profile is not None:
        script = tmp / "profiled.py"
        script.write_text(PROFILED + "\n")
        command = [command[0], str(script), str(profile), *command[3:]]
    with (tmp / f"{out.name}.log").open("wb") as output:
        started = time.perf_counter()
        child = subprocess.Popen(command, env=source.env(), cwd=source.root, stdout=output, stderr=subprocess.STDOUT)
        watchdog = threading.Timer(args.budget, child.kill)     # only the child this run started
        watchdog.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        watchdog.cancel()
    child.returncode = os.waitstatus_to_exitcode(status)
    result = {"engine": engine, "incidents": incidents, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
              "rss_mb": usage.ru_maxrss / 1024, "killed": wall >= args.budget, "exit": child.returncode}
    summary = out / "summary.json"
    if summary.exists():
        facts = json.loads(summary.read_text())
        result.update(deliveries=facts["deliveries"], firings=facts["timer_firings"], tickets=facts.get("tickets"),
                      events=facts["deliveries"] + facts["timer_firings"])
    elif not result["killed"]:
        raise SystemExit(f"simulate failed ({child.returncode}):\n{(tmp / f'{out.name}.log').read_text()[-3000:]}")
    log(f"{engine} {incidents:,}: {wall:.1f} s wall, {result['cpu']:.1f} s CPU, {result['rss_mb']:.0f} MB")
    return result


def report(args, source: Source, before: dict, after: dict, runs: list[dict], profile: dict | None) -> str:
    sizes = sorted({r["incidents"] for r in runs})
    small, large = sizes[0], sizes[-1]
    check = ",".join(map(str, sizes)) != DEFAULT_SIZES
    lines = [f"# Replay: `escalator simulate` of {', '.join(f'{s:,}' for s in sizes)} incidents over {args.days} days",
             "", "Measured by bench/replay.py on a shared machine; the runs of one engine and size follow each "
             "other in this one run." + (" **A check run at other sizes than the default (1,000 and 10,000): "
                                         "these are not the recorded figures.**" if check else ""),
             "", "## Machine and settings", "", *machine_lines(source, before, after),
             f"- Each run: `escalator simulate --incidents N --days {args.days} --seed {args.seed} --out DIR "
             "--engine E --rules rules` in a fresh subprocess per run (MemoryStore, virtual clock); wall time from "
             "start to exit (generation, replay, summary and the report files), CPU = user + system and peak "
             f"RSS = ru_maxrss from wait4(); runs over {args.budget:g} s are stopped",
             "- Events = deliveries + timer firings (summary.json)",
             command_line("replay.py"), "",
             "## Targets", ""]
    for engine in args.engines:
        by = {r["incidents"]: r for r in runs if r["engine"] == engine}
        a, b = by[small], by[large]
        if small != large:
            slope = TARGET_SLOPE * large / small
            ratio = b["wall"] / a["wall"]
            lines.append(f"- {engine}: time({large:,}) ÷ time({small:,}) ≤ {slope:g}: "
                         + ("not measured, the larger run was stopped" if b["killed"] else
                            f"{ratio:.2f} (CPU {b['cpu'] / a['cpu']:.2f}) — {verdict(ratio <= slope)}"))
        lines.append(f"- {engine}: {large:,} incidents in ≤ {TARGET_SECONDS:g} s: "
                     + (f"> {args.budget:g} s (stopped)" if b["killed"] else f"{b['wall']:.1f} s")
                     + f" — {verdict(not b['killed'] and b['wall'] <= TARGET_SECONDS)}")
        peak = max(r["rss_mb"] for r in by.values())
        lines.append(f"- {engine}: peak RSS ≤ {TARGET_RSS_MB:g} MB: {peak:.0f} MB — {verdict(peak <= TARGET_RSS_MB)}")
    lines += ["", "## Runs", ""]
    lines += table(["engine", "incidents", "tickets", "deliveries", "timer firings", "events", "wall s", "CPU s",
                    "events/s (wall)", "peak RSS MB"],
                   [[r["engine"], n(r["incidents"]), n(r.get("tickets") or 0), n(r.get("deliveries", 0)),
                     n(r.get("firings", 0)), n(r.get("events", 0)),
                     f"> {args.budget:g} (stopped)" if r["killed"] else f"{r['wall']:.1f}", f"{r['cpu']:.1f}",
                     "—" if r["killed"] else n(r["events"] / r["wall"]), f"{r['rss_mb']:.0f}"] for r in runs])
    if profile:
        lines += ["", f"## Where the time goes: {small:,} incidents, {args.engines[0]} engine, under cProfile", "",
                  "The whole command: imports, generating the deliveries, the replay and the reports."]
        lines += ["", f"Inclusive shares of the profiled time: {shares_line(profile, SIM_PARTS)}; the rest is "
                  "mostly importing modules."]
        lines += profile_lines([profile])
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help="incident counts, comma-separated")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--engines", default="durable", help="durable, python or both, comma-separated")
    parser.add_argument("--code", default="worktree", help="`worktree`, or a git revision to archive and run")
    parser.add_argument("--budget", type=float, default=240, help="stop a run after this many seconds")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "replay.md")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    args.engines = args.engines.split(",")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as name:
        tmp = Path(name)
        before = conditions()
        source = Source(args.code, tmp)
        runs = [simulate(source, tmp, engine, size, args) for engine in args.engines for size in sizes]
        profile = None
        if not args.no_profile:
            result = simulate(source, tmp, args.engines[0], sizes[0], args, profile=tmp / "replay.prof")
            profile = profile_summary(f"escalator simulate --incidents {sizes[0]:,}", tmp / "replay.prof",
                                      result.get("events", 1), result["wall"], result["cpu"])
        after = conditions()
        args.out.write_text(report(args, source, before, after, runs, profile))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
