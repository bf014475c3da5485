"""Where the time goes: intake, the processor's decisions and timer firings in process, under cProfile.

`profile_path` runs this file as a child on the chosen tree's code (Flask test client, SQLite in a
fresh directory, a fixed clock); `profile_summary` and `profile_lines` turn any profile into tables.
"""
from __future__ import annotations

import cProfile
import json
import pstats
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import SECRET, Deliveries, Source, n, table


def profile_path(source: Source, tmp: Path, rules: Path, count: int, fire_after: float | None = None) -> dict:
    """Profile intake, the processor's decisions and (with `fire_after`) timer firings in a child that
    runs `source`: Flask test client, SQLite in a fresh directory, a fixed clock. See `_profile_child`."""
    out = tmp / f"profile-{int(time.time() * 1000)}.json"
    command = [sys.executable, str(Path(__file__)), str(rules), str(tmp / f"pdata-{out.stem}"), str(count),
               str(fire_after or 0), str(out)]
    subprocess.run(command, env=source.env(), cwd=source.root, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def _profile_child(rules: str, data_dir: str, count: int, fire_after: float, out: str) -> None:
    from datetime import timedelta

    from plugin import bootstrap
    from plugin.app import create_app
    from plugin.domain.clock import FixedClock
    from plugin.settings import Settings

    clock = FixedClock(datetime.now(UTC))
    container = bootstrap.build(Settings(rules=rules, data_dir=data_dir, jira_webhook_secret=SECRET), clock=clock)
    app = create_app(container)
    client, warm, deliveries = app.test_client(), 100, Deliveries(Path.cwd(), "P", count + 100)
    for i in range(warm):
        client.post("/webhooks/jira", data=deliveries.body(i), headers=deliveries.headers(i, True))
    container.processor.drain()

    # Only the view is profiled: the test client's and Flask's own work is what bare Flask does too.
    view, profiler, spent = app.view_functions["webhooks.receive"], cProfile.Profile(), [0.0, 0.0]

    def profiled_view(**kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            return profiler.runcall(view, **kwargs)
        finally:
            spent[0] += time.perf_counter() - wall
            spent[1] += time.process_time() - cpu

    app.view_functions["webhooks.receive"] = profiled_view
    for i in range(warm, warm + count):
        answer = client.post("/webhooks/jira", data=deliveries.body(i), headers=deliveries.headers(i, True))
        assert answer.status_code == 202, answer.get_data()
    results = [profile_summary("intake: the webhook view (verify, parse, one insert)", profiler, count, *spent)]

    def fire() -> int:
        clock.advance(timedelta(seconds=fire_after))
        return container.processor.drain()      # the warm-up's timers fall due too: drain counts them

    phases = [("processor: decide the deliveries", container.processor.drain)]
    if fire_after:
        phases.append(("processor: fire the due timers", fire))
    for name, run in phases:
        profiler, wall, cpu = cProfile.Profile(), time.perf_counter(), time.process_time()
        done = profiler.runcall(run)
        results.append(profile_summary(name, profiler, done if isinstance(done, int) else count,
                                time.perf_counter() - wall, time.process_time() - cpu))
    Path(out).write_text(json.dumps(results))


def profile_summary(name: str, profiler, count: int, wall: float, cpu: float) -> dict:
    """The areas and the top 20 functions by own time of a cProfile.Profile (or a saved profile's path)."""
    stats = pstats.Stats(str(profiler) if isinstance(profiler, Path) else profiler)
    total = sum(row[2] for row in stats.stats.values())
    areas: dict[str, float] = {}
    for (path, _, func), row in stats.stats.items():
        areas[_area(path, func)] = areas.get(_area(path, func), 0.0) + row[2]
    def rows(items):
        return [{"where": f"{Path(f).name}:{line} {func}", "calls": nc, "self": tt, "cumulative": ct}
                for (f, line, func), (_, nc, tt, ct, _) in items]
    own = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:20]
    ours = [item for item in stats.stats.items() if _area(item[0][0], "").startswith(("plugin/", "simulator/"))]
    shares = {f"{_module(path)}:{func}": row[3] / total for (path, _, func), row in ours}
    return {"phase": name, "count": count, "wall": wall, "cpu": cpu, "profiled_total": total,
            "areas": sorted(areas.items(), key=lambda a: a[1], reverse=True)[:12], "top": rows(own),
            "inclusive": rows(sorted(ours, key=lambda item: item[1][3], reverse=True)[:12]), "shares": shares}


def _module(path: str) -> str:
    """plugin/store/sql.py from any checkout's path."""
    parts = Path(path).parts
    anchor = next(i for i, p in enumerate(parts) if p in ("plugin", "simulator"))
    return "/".join(parts[anchor:])


def shares_line(phase: dict, parts: list[tuple[str, str]]) -> str:
    """`label N%` for each (label, "plugin/x.py:function") found in the phase's inclusive shares."""
    found = [f"{label} {phase['shares'][key]:.0%}" for label, key in parts if key in phase["shares"]]
    return ", ".join(found) or "none of the expected functions were found in the profile"


def _area(path: str, func: str) -> str:
    """Where a profiled function lives: a package, a plugin/ module, a stdlib module, or a C type."""
    if path == "~":
        found = re.search(r"of '(\w+)|method (\w+)", func)
        return f"{(found.group(1) or found.group(2)) if found else func} (C)"
    parts = Path(path).parts
    for anchor in ("site-packages", "plugin", "simulator"):
        if anchor in parts:
            rest = parts[parts.index(anchor) + (1 if anchor == "site-packages" else 0):]
            return "/".join(rest[:2]) if anchor != "site-packages" else rest[0].removesuffix(".py")
    stdlib = [p for p in parts if p.startswith("python3")]
    return parts[parts.index(stdlib[-1]) + 1].removesuffix(".py") if stdlib else Path(path).name


def profile_lines(phases: list[dict]) -> list[str]:
    lines = []
    for p in phases:
        lines += ["", f"**{p['phase']}**: {p['count']:,} events, {p['cpu'] / p['count'] * 1e3:.2f} ms CPU and "
                  f"{p['wall'] / p['count'] * 1e3:.2f} ms wall each, under cProfile (which inflates both; its "
                  "clock is wall time, so on a busy machine a wait for the CPU lands on whatever function ran). "
                  "Own time by where the code lives:", ""]
        lines += table(["area", "own s", "own %"], [[f"`{a}`", f"{t:.3f}", f"{t / p['profiled_total']:.0%}"]
                                                   for a, t in p["areas"]])
        lines += ["", "Top 20 functions by own time:", ""]
        lines += table(["function", "calls", "own s", "own %", "cumulative s"],
                       [[f"`{t['where']}`", n(t["calls"]), f"{t['self']:.3f}",
                         f"{t['self'] / p['profiled_total']:.0%}", f"{t['cumulative']:.3f}"] for t in p["top"]])
        lines += ["", "The project's functions by inclusive time (what they and their callees took):", ""]
        lines += table(["function", "calls", "inclusive s", "inclusive %"],
                       [[f"`{t['where']}`", n(t["calls"]), f"{t['cumulative']:.3f}",
                         f"{t['cumulative'] / p['profiled_total']:.0%}"] for t in p["inclusive"]])
    return lines


if __name__ == "__main__":      # the profile child: RULES DATA_DIR COUNT FIRE_AFTER OUT
    _profile_child(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5])
