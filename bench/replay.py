"""Replay speed and memory: generated incidents through the production service on a virtual clock.

For each engine (durable, the default, and python) and size (1,000 and 10,000 incidents over 30
days by default, the shipped matrix in rules/) it measures, each configuration in a fresh
subprocess:
- generation time of `simulator.generator.generate(seed, incidents, days, start)`;
- replay wall time (perf_counter) and CPU time (process_time) of `simulator.replay.replay`;
- deliveries, parsed events (deliveries that became a TicketEvent), timer firings (wake-ups the
  virtual scheduler popped, whether or not the timer was due), events handled by the service;
- events/s = (deliveries + timer firings) / replay wall time, and the speed-up over real time,
  (days x 86,400 s) / replay wall time;
- peak RSS (`ru_maxrss`, a high-water mark of the whole process, hence one process per
  configuration), RSS after generation and after replay, garbage-collector pauses, and an
  estimate of what the in-memory store holds.
A configuration whose replay runs longer than --budget seconds (240 by default) is stopped at the
next delivery; the report then gives the rate measured up to that point and says so.

Then, for the 1,000-incident replay (--profile-incidents), more fresh processes:
- "where the time goes", per engine: the replay under a statistical profiler on CPU time (SIGPROF),
  each sample given to the innermost part on the stack (parsing, field map + matching, decide,
  store, timers, notifications, outbox planning...), so nested parts are not counted twice and the
  replay runs at nearly full speed; it also counts what the timer firings did (fired, woke early,
  stale) and how many scheduled wake-ups were duplicates;
- cProfile (for --profile-engines, durable by default): top 25 project functions by cumulative
  and by own time, the library hotspots with their main project caller, and time per module.
Finally the first configuration runs again, to show how much the machine drifted meanwhile.

All children run a copy of plugin/, simulator/ and rules/ taken at the start, so a concurrent edit
of the working tree cannot change the code between configurations. The script writes its results
file itself (bench/results/replay.md by default).

    .venv/bin/python bench/replay.py [--sizes 1000,10000] [--days 30] [--engines durable,python]
        [--budget 240] [--profile-incidents 1000] [--profile-engines durable] [--no-repeat] [--out FILE]
"""
from __future__ import annotations

import argparse
import collections
import cProfile
import datetime
import functools
import gc
import hashlib
import importlib.metadata
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import timeit
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The code measured: a snapshot of plugin/, simulator/ and rules/ taken when the benchmark starts, so every
# configuration runs the same code while others keep editing the working tree. Children get it as --code.
CODE = ROOT
SNAPSHOT = ("plugin", "simulator", "rules")

DEFAULT_OUT = Path("bench/results/replay.md")
ENGINES = ("durable", "python")
SEED = 1                            # `escalator simulate`'s default seed
START = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)     # its default start, a Monday
CHECK_EVERY = 500                   # deliveries between progress checkpoints (and budget checks)
TARGET_INCIDENTS, TARGET_DAYS = 10_000, 30
TARGET_S, TARGET_SPEEDUP, TARGET_MB = 10.0, 250_000, 500.0
TOP = 25
SAMPLE_INTERVAL = 0.001             # seconds of process CPU time between samples of "where the time goes"

# Parts of the replay for "where the time goes", in report order; sub-parts are indented there.
PARTS = {
    "parsing": "parsing (_deliver: json.loads, platform parser, dedupe key)",
    "fieldmap_matching": "field map + matching (Evaluator.prepare, backend.matching)",
    "decide": "decide (Evaluator.evaluate minus field map and matching)",
    "store": "service bookkeeping: store (MemoryTransaction, every caller)",
    "service": "service bookkeeping: handle() itself (state diff, Decision.as_dict, snapshot)",
    "timers": "timers: TimerBook / TimerFiring logic",
    "calendar": "timers: calendars (SlaClocks.deadline / spent)",
    "notify_context": "notifications: context (Notifier._context, message_context)",
    "notify_render": "notifications: template rendering (render_message)",
    "notify_other": "notifications: the rest (recipients, policy, channels, log entry)",
    "outbox": "outbox planning (plan_actions, _enqueue, request descriptions)",
    "scheduler": "virtual scheduler (heap pushes)",
    "rest": "replay loop, heap pops, clock, matrix load at start",
}


# --- measurement helpers ------------------------------------------------------------------

def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


class OverBudget(Exception):
    """Raised from the progress callback to stop a replay that runs past the budget."""


class GcTimer:
    """Pauses of the cyclic garbage collector, by generation, through gc.callbacks."""

    def __init__(self):
        self.seconds, self.count, self._start = [0.0, 0.0, 0.0], [0, 0, 0], 0.0

    def __call__(self, phase, info):
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._start
            self.count[info["generation"]] += 1

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def count_calls(owner, name: str, counter: collections.Counter) -> None:
    """Count calls of owner.name (a class or module attribute); about 0.2 µs a call."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def counted(*args, **kwargs):
        counter[name] += 1
        return original(*args, **kwargs)
    setattr(owner, name, counted)


def deep_size(objects, seen: set) -> int:
    """Bytes of `objects` and everything they reference (not counted before, per `seen`)."""
    size, stack = 0, list(objects)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            continue
        seen.add(id(obj))
        size += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif hasattr(obj, "__dict__"):
            stack.append(vars(obj))
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s))
    return size


def estimated_mb(items: list, sample: int = 2_000) -> float:
    """Memory of a collection, estimated from a deep size of `sample` evenly spaced items."""
    if not items:
        return 0.0
    step = max(1, len(items) // sample)
    picked = items[::step]
    return deep_size(picked, set()) * len(items) / len(picked) / 2**20


def store_memory(store, deliveries) -> dict:
    return {"generated deliveries (input)": estimated_mb(deliveries),
            "store.deliveries (dedupe keys)": estimated_mb(list(store.deliveries.items())),
            "store.tickets (state + snapshot)": estimated_mb(list(store.tickets.values())),
            "store.log (escalation log + its by-ticket index)": estimated_mb(store.log),
            "store.outbox (planned writes and messages)": estimated_mb(store.outbox),
            "store.timers": estimated_mb(list(store.timers.values()))}


def outcome_digest(store) -> str:
    """What every ticket ended with, hashed, to compare the engines."""
    from simulator.report import per_ticket
    text = json.dumps(per_ticket(store), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def generated(incidents: int, days: int):
    from simulator.generator import generate
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    deliveries = generate(SEED, incidents, days, START)
    return deliveries, time.perf_counter() - start_wall, time.process_time() - start_cpu


# --- child: throughput and memory ----------------------------------------------------------

def measure(engine: str, incidents: int, days: int, budget: float) -> dict:
    import plugin.service
    import plugin.sla
    from simulator.replay import replay

    rss_start = rss_mb()
    deliveries, gen_s, gen_cpu = generated(incidents, days)
    rss_generated, peak_generated = rss_mb(), peak_rss_mb()
    counts: collections.Counter = collections.Counter()
    count_calls(plugin.sla.TimerFiring, "fire", counts)
    count_calls(plugin.service.EscalationService, "handle", counts)
    checkpoints, done = [], [0]
    first_at = min(d.at for d in deliveries)
    ordered_at = sorted(d.at for d in deliveries)

    def progress(n: int) -> None:
        done[0] += n
        if done[0] % CHECK_EVERY and done[0] != len(deliveries):
            return
        wall = time.perf_counter() - start_wall
        checkpoints.append({"deliveries": done[0], "firings": counts["fire"], "handled": counts["handle"],
                            "wall": wall, "cpu": time.process_time() - start_cpu, "rss": rss_mb(),
                            "virtual_s": (ordered_at[done[0] - 1] - first_at).total_seconds()})
        if wall > budget and done[0] < len(deliveries):
            raise OverBudget

    gc.collect()
    result, complete = None, True
    with GcTimer() as gc_timer:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        try:
            result = replay(deliveries, CODE / "rules", engine=engine, progress=progress)
        except OverBudget:
            complete = False
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    out = {"engine": engine, "incidents": incidents, "days": days, "complete": complete, "budget": budget,
           "generated": len(deliveries), "body_mb": sum(len(d.body) for d in deliveries) / 2**20,
           "generate_s": gen_s, "generate_cpu": gen_cpu, "replay_s": wall, "replay_cpu": cpu,
           "deliveries": done[0], "firings": counts["fire"], "handled": counts["handle"],
           "rss_start": rss_start, "rss_generated": rss_generated, "peak_generated": peak_generated,
           "rss_end": rss_mb(), "peak_rss": peak_rss_mb(), "gc_s": gc_timer.seconds, "gc_count": gc_timer.count,
           "checkpoints": checkpoints}
    if result is not None:
        assert result.timer_firings == counts["fire"], (result.timer_firings, counts["fire"])
        store = result.store
        out.update(duplicates=result.duplicates, ignored=result.ignored, rejected=result.rejected,
                   parsed=result.deliveries - result.ignored - result.rejected,
                   span_s=(result.ended - result.started).total_seconds(),
                   tickets=len(store.tickets), log=len(store.log), outbox=len(store.outbox),
                   timers=len(store.timers), digest=outcome_digest(store),
                   memory=store_memory(store, deliveries))
    return out


# --- child: where the time goes --------------------------------------------------------------

class Sampler:
    """A statistical profiler on process CPU time: every SAMPLE_INTERVAL s of CPU (SIGPROF), the part of the
    innermost frame on the stack that is one of the anchors. A sample costs a walk up the stack, so the
    replay runs at nearly its normal speed, and waiting for a CPU (other load on the machine) is not counted."""

    def __init__(self, anchors: dict):
        self.anchors, self.samples, self.seconds = anchors, 0, collections.Counter()
        self._last = 0.0

    def _sample(self, signum, frame) -> None:
        # Each sample stands for the CPU time since the previous one: the kernel's tick and a long C call
        # (signals wait for the next bytecode, and coalesce) make the intervals uneven.
        now = time.process_time()
        spent, self._last = now - self._last, now
        self.samples += 1
        anchors = self.anchors
        while frame is not None:
            part = anchors.get(frame.f_code)
            if part is not None:
                self.seconds[part] += spent
                return
            frame = frame.f_back
        self.seconds["rest"] += spent

    def __enter__(self):
        self._last = time.process_time()
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, SAMPLE_INTERVAL, SAMPLE_INTERVAL)
        return self

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)


def anchors() -> dict:
    """The code object of each part's entry points. A sample belongs to the innermost one on the stack: a store
    call made by the timer code counts as store, rendering called from the notifier as rendering, and so on."""
    import inspect

    import plugin.domain.actions
    import plugin.engine
    import plugin.engine.durable
    import plugin.engine.python
    import plugin.notify
    import plugin.platforms
    import plugin.service
    import plugin.sla
    import simulator.replay
    from plugin.comms import render
    from simulator.store import MemoryStore, MemoryTransaction

    parts = {
        "parsing": [simulator.replay._deliver, plugin.platforms.parse, plugin.platforms.dedupe_key],
        "fieldmap_matching": [plugin.engine.Evaluator.prepare, plugin.engine.durable.DurableBackend.matching,
                              plugin.engine.python.PythonBackend.matching],
        "decide": [plugin.engine.Evaluator.evaluate],
        "store": [MemoryStore.transaction] + [v for k, v in vars(MemoryTransaction).items()
                                              if callable(v) and not k.startswith("__")],
        "service": [plugin.service.EscalationService.handle],
        "timers": [plugin.sla.TimerBook.apply, plugin.sla.TimerBook.arm, plugin.sla.TimerFiring.fire,
                   plugin.sla.TimerFiring._transition],
        "calendar": [plugin.sla.SlaClocks.deadline, plugin.sla.SlaClocks.spent],
        "notify_context": [plugin.notify.Notifier._context, render.message_context],
        "notify_render": [render.render_message],
        "notify_other": [plugin.notify.Notifier.plan],
        "outbox": [plugin.service.EscalationService._enqueue, plugin.domain.actions.plan_actions,
                   plugin.notify.Notifier.describe, plugin.notify.Notifier.is_live],
        "scheduler": [simulator.replay.VirtualScheduler.schedule, simulator.replay.VirtualScheduler.add_delivery],
    }
    return {inspect.unwrap(fn).__code__: part for part, fns in parts.items() for fn in fns}


def count_firings(outcomes: collections.Counter, wakeups: collections.Counter) -> None:
    """Count what timer firings do, and the CPU time of those that raise no event; a few µs per firing."""
    import plugin.service
    import plugin.sla
    import simulator.replay

    fire, transition = plugin.sla.TimerFiring.fire, plugin.sla.TimerFiring._transition
    handle, schedule = plugin.service.EscalationService.handle, simulator.replay.VirtualScheduler.schedule

    def counted_fire(self, timer_id):
        handled, start = outcomes["handle"], time.process_time()
        try:
            return fire(self, timer_id)
        finally:
            if outcomes["handle"] == handled:
                outcomes["no-op cpu"] += time.process_time() - start

    def counted_transition(self, tx, timer, now):
        fired = transition(self, tx, timer, now)
        outcomes["fired" if fired else "woke early"] += 1
        return fired

    def counted_handle(self, *args, **kwargs):
        outcomes["handle"] += 1
        return handle(self, *args, **kwargs)

    def counted_schedule(self, new):
        new = list(new)
        wakeups.update((w.timer_id, w.at) for w in new)
        return schedule(self, new)

    plugin.sla.TimerFiring.fire, plugin.sla.TimerFiring._transition = counted_fire, counted_transition
    plugin.service.EscalationService.handle = counted_handle
    simulator.replay.VirtualScheduler.schedule = counted_schedule


def breakdown(engine: str, incidents: int, days: int) -> dict:
    from simulator.replay import replay

    deliveries, _, _ = generated(incidents, days)
    sampler = Sampler(anchors())          # taken before the counting wrappers replace the functions
    outcomes, wakeups = collections.Counter(), collections.Counter()
    count_firings(outcomes, wakeups)
    gc.collect()
    with GcTimer() as gc_timer:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        with sampler:
            result = replay(deliveries, CODE / "rules", engine=engine)
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    sampled = sum(sampler.seconds.values())
    stale = result.timer_firings - outcomes["fired"] - outcomes["woke early"]
    return {"engine": engine, "incidents": incidents, "replay_s": wall, "replay_cpu": cpu,
            "samples": sampler.samples, "parts": {part: t / sampled * cpu for part, t in sampler.seconds.items()},
            "gc_s": sum(gc_timer.seconds), "deliveries": result.deliveries, "firings": result.timer_firings,
            "fired": outcomes["fired"], "woke_early": outcomes["woke early"], "stale": stale,
            "noop_cpu": outcomes["no-op cpu"], "handled": outcomes["handle"],
            "wakeups": sum(wakeups.values()), "distinct_wakeups": len(wakeups),
            "log": len(result.store.log), "outbox": len(result.store.outbox), "tickets": len(result.store.tickets)}


# --- child: cProfile -----------------------------------------------------------------------------

def _where(func: tuple) -> str:
    filename, line, name = func
    for prefix in (str(CODE) + os.sep, str(Path(sys.base_prefix) / "lib") + os.sep):
        if filename.startswith(prefix):
            filename = filename[len(prefix):]
    filename = filename.split("site-packages" + os.sep, 1)[-1]
    if filename == "~":
        return name
    return f"{filename}:{line}({name})"


def _is_project(func: tuple) -> bool:
    return func[0].startswith(tuple(str(CODE / d) + os.sep for d in ("plugin", "simulator")))


def _module(func: tuple) -> str:
    filename = func[0]
    if _is_project(func):
        return filename[len(str(CODE)) + 1:]
    if "site-packages" in filename:
        return filename.split("site-packages" + os.sep, 1)[1].split(os.sep)[0] + " (library)"
    if filename == "~":
        return "builtins / C methods"
    if filename.startswith("<frozen"):
        return "stdlib: " + filename.strip("<>").split()[-1]
    return "stdlib: " + filename.split("lib" + os.sep, 1)[-1].split(os.sep, 1)[-1]


def profile(engine: str, incidents: int, days: int, keep: str | None) -> dict:
    from simulator.replay import replay

    deliveries, _, _ = generated(incidents, days)
    gc.collect()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    replay(deliveries, CODE / "rules", engine=engine)
    profiler.disable()
    wall = time.perf_counter() - start
    if keep:
        profiler.dump_stats(keep)
    stats = pstats.Stats(profiler).stats        # func -> (primitive calls, calls, tottime, cumtime, callers)
    total = max(s[3] for f, s in stats.items() if _is_project(f) and f[2] == "replay")

    def row(func):
        cc, nc, tt, ct, _ = stats[func]
        return {"func": _where(func), "calls": nc, "primitive": cc, "tottime": tt, "cumtime": ct}

    project = [f for f in stats if _is_project(f)]
    by_cum = sorted(project, key=lambda f: stats[f][3], reverse=True)[:TOP]
    by_tot = sorted(project, key=lambda f: stats[f][2], reverse=True)[:TOP]
    library = sorted((f for f in stats if not _is_project(f)), key=lambda f: stats[f][2], reverse=True)[:12]
    hotspots = []
    for func in library:
        callers = stats[func][4]
        caller = max(callers, key=lambda c: callers[c][2], default=None)
        hotspots.append({**row(func), "caller": _where(caller) if caller else "",
                         "caller_share": callers[caller][2] / stats[func][2] if caller and stats[func][2] else 0})
    modules: collections.Counter = collections.Counter()
    for func, s in stats.items():
        modules[_module(func)] += s[2]
    return {"engine": engine, "incidents": incidents, "wall": wall, "total": total,
            "by_cum": [row(f) for f in by_cum], "by_tot": [row(f) for f in by_tot], "library": hotspots,
            "modules": modules.most_common(18)}


def run_child(args) -> None:
    global CODE
    CODE = Path(args.code)
    sys.path.insert(0, str(CODE))       # before any import of plugin or simulator
    facts = {"load_start": os.getloadavg(), "calibration": calibration_us()}
    if args.child == "measure":
        result = measure(args.engine, args.incidents, args.days, args.budget)
    elif args.child == "breakdown":
        result = breakdown(args.engine, args.incidents, args.days)
    else:
        result = profile(args.engine, args.incidents, args.days, args.keep_profile)
    import plugin
    import simulator
    result.update(facts, load_end=os.getloadavg(), code_used=[str(Path(plugin.__file__).parent.parent),
                                                             str(Path(simulator.__file__).parent.parent)])
    Path(args.result).write_text(json.dumps(result, default=str), encoding="utf-8")


def in_subprocess(mode: str, engine: str, incidents: int, days: int, tmp: Path, budget: float,
                  keep_profile: str | None = None) -> dict:
    result_file = tmp / f"{mode}-{engine}-{incidents}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--engine", engine,
               "--incidents", str(incidents), "--days", str(days), "--budget", str(budget),
               "--result", str(result_file), "--code", str(tmp / "code")]
    if keep_profile:
        command += ["--keep-profile", keep_profile]
    # The child stops itself at the budget; the timeout is only a safety net for a hung child.
    subprocess.run(command, check=True, cwd=tmp / "code", timeout=budget * 3 + 900)
    result = json.loads(result_file.read_text(encoding="utf-8"))
    assert all(Path(p) == tmp / "code" for p in result["code_used"]), result["code_used"]
    return result


def snapshot_code(target: Path) -> dict:
    """Copy plugin/, simulator/ and rules/ to `target`; the commit, whether the copy had uncommitted changes,
    and a hash of the copied files."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout
    commit = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    dirty = git("status", "--porcelain", *SNAPSHOT).strip()
    for folder in SNAPSHOT:
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    return {"commit": commit, "dirty": bool(dirty), "hash": digest.hexdigest(),
            "subject": git("log", "-1", "--format=%s").strip()}


# --- report ----------------------------------------------------------------------------------

def events(r: dict) -> int:
    return r["deliveries"] + r["firings"]


def speedup(r: dict) -> float:
    """Real time over replay wall time: the whole window for a complete run, the part covered otherwise."""
    if r["complete"]:
        return r["days"] * 86_400 / r["replay_s"]
    last = r["checkpoints"][-1]
    return last["virtual_s"] / last["wall"]


def window_rate(r: dict, first: bool, clock: str = "wall", size: int = 2_000) -> float:
    """(deliveries + firings) per second of `clock` (wall or cpu) over the first or last `size` deliveries."""
    points = [{"deliveries": 0, "firings": 0, "wall": 0.0, "cpu": 0.0}] + r["checkpoints"]
    step = max(1, size // CHECK_EVERY)
    a, b = (points[0], points[min(step, len(points) - 1)]) if first else (points[max(0, len(points) - 1 - step)],
                                                                          points[-1])
    seconds = b[clock] - a[clock]
    return (b["deliveries"] - a["deliveries"] + b["firings"] - a["firings"]) / seconds if seconds else 0.0


def fmt_s(seconds: float) -> str:
    return f"{seconds:,.1f}" if seconds >= 10 else f"{seconds:.2f}"


def main_table(runs: list[dict], repeat: dict | None = None) -> list[str]:
    lines = ["| engine | incidents | deliveries | parsed events | timer firings | handled by service | generate s "
             "| replay wall s | replay CPU s | events/s (wall) | events/s (CPU) | speed-up vs real time "
             "| peak RSS MB | run |", "| --- |" + " ---: |" * 12 + " --- |"]
    for r in runs + ([repeat] if repeat else []):
        partial = not r["complete"]
        delivered = f"{r['deliveries']:,} of {r['generated']:,}" if partial else f"{r['deliveries']:,}"
        cells = [r["engine"], f"{r['incidents']:,}", delivered,
                 "n/a (stopped)" if partial else f"{r['parsed']:,}", f"{r['firings']:,}", f"{r['handled']:,}",
                 fmt_s(r["generate_s"]), fmt_s(r["replay_s"]), fmt_s(r["replay_cpu"]),
                 f"{events(r) / r['replay_s']:,.0f}", f"{events(r) / r['replay_cpu']:,.0f}",
                 f"{speedup(r):,.0f}x" + (" (part covered)" if partial else ""), f"{r['peak_rss']:,.0f}",
                 f"**stopped** after {r['replay_s']:.0f} s (budget {r['budget']:.0f} s)" if partial else
                 "complete, **repeated at the end**" if r is repeat else "complete"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def detail_table(runs: list[dict]) -> list[str]:
    lines = ["| engine | incidents | body MB | RSS after imports MB | RSS after generate MB | RSS after replay MB "
             "| events/s, first 2,000 deliveries (wall / CPU) | events/s, last 2,000 deliveries (wall / CPU) "
             "| GC pauses s (gen 2) | firings per delivery | simulated span days | load at start, end "
             "| `sum(range(1000))` µs |", "| --- |" + " ---: |" * 12]
    for r in runs:
        gc_total = sum(r["gc_s"])
        span = f"{r['span_s'] / 86_400:.1f}" if r["complete"] else \
            f"{r['checkpoints'][-1]['virtual_s'] / 86_400:.1f} (reached)"
        cells = [r["engine"], f"{r['incidents']:,}", f"{r['body_mb']:,.0f}", f"{r['rss_start']:,.0f}",
                 f"{r['rss_generated']:,.0f}", f"{r['rss_end']:,.0f}",
                 f"{window_rate(r, True):,.0f} / {window_rate(r, True, 'cpu'):,.0f}",
                 f"{window_rate(r, False):,.0f} / {window_rate(r, False, 'cpu'):,.0f}",
                 f"{gc_total:.1f} ({r['gc_s'][2]:.1f} in {r['gc_count'][2]})",
                 f"{r['firings'] / max(1, r['deliveries']):.1f}", span,
                 f"{r['load_start'][0]:.1f}, {r['load_end'][0]:.1f}", f"{r['calibration']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def projected_rss(r: dict) -> float:
    """RSS a stopped run would reach at its last delivery, growing as it did per delivery so far."""
    grown = (r["rss_end"] - r["rss_generated"]) / max(1, r["deliveries"])
    return r["rss_end"] + grown * (r["generated"] - r["deliveries"])


def target_lines(runs: list[dict], days: int) -> list[str]:
    lines = []
    for engine in ENGINES:
        r = next((r for r in runs if r["engine"] == engine and r["incidents"] == TARGET_INCIDENTS), None)
        if r is None or days != TARGET_DAYS:
            lines.append(f"- {engine}: {TARGET_INCIDENTS:,} incidents over {TARGET_DAYS} days not measured.")
            continue
        if r["complete"]:
            wall_ok, mem_ok = r["replay_s"] <= TARGET_S, r["peak_rss"] < TARGET_MB
            lines.append(
                f"- {engine}: replay {r['replay_s']:.1f} s (target ≤ {TARGET_S:.0f} s): "
                f"**{'met' if wall_ok else 'NOT met'}**; speed-up {speedup(r):,.0f}x (target ≥ {TARGET_SPEEDUP:,}x); "
                f"peak RSS {r['peak_rss']:,.0f} MB "
                f"(target < {TARGET_MB:.0f} MB): **{'met' if mem_ok else 'NOT met'}**.")
            continue
        small = next((s for s in runs if s["engine"] == engine and s["complete"] and s["days"] == days), None)
        lower = r["generated"] / (r["deliveries"] / r["replay_s"])
        lower_cpu = r["generated"] / (r["deliveries"] / r["replay_cpu"])
        early, late = window_rate(r, True, "cpu"), window_rate(r, False, "cpu")
        trend = (f"{early:,.0f} events per CPU second over the first 2,000 deliveries, {late:,.0f} over the last "
                 "2,000 before the stop")
        text = (f"- {engine}: stopped after {r['replay_s']:.0f} s ({r['replay_cpu']:.0f} s CPU) with "
                f"{r['deliveries']:,} of {r['generated']:,} deliveries replayed "
                f"({r['deliveries'] / r['generated']:.0%}, {r['firings']:,} timer firings), "
                f"already {r['replay_s'] / TARGET_S:.0f}x the {TARGET_S:.0f} s target: **NOT met**. At the rate "
                f"measured up to the stop the whole replay would take about {lower:,.0f} s ({lower_cpu:,.0f} s "
                "of CPU); " + (f"more, since the rate fell as the store grew ({trend})." if late < 0.9 * early else
                               f"the rate did not fall as the store grew ({trend})."))
        if small:
            text += (f" Measured on the complete {small['incidents']:,}-incident run instead: "
                     f"{events(small) / small['replay_s']:,.0f} events/s, {speedup(small):,.0f}x real time, "
                     f"peak RSS {small['peak_rss']:,.0f} MB.")
        if r["peak_rss"] >= TARGET_MB:
            text += (f" Memory: peak RSS was already {r['peak_rss']:,.0f} MB at the stop: **NOT met** "
                     f"(projected ≈ {projected_rss(r):,.0f} MB at the last delivery).")
        else:
            text += (f" Memory: peak RSS {r['peak_rss']:,.0f} MB at the stop; growing as it did, ≈ "
                     f"{projected_rss(r):,.0f} MB at the last delivery: **"
                     f"{'likely met' if projected_rss(r) < TARGET_MB else 'NOT met (projected)'}**.")
        lines.append(text)
    return lines


def agreement_line(runs: list[dict]) -> list[str]:
    lines = []
    for n in sorted({r["incidents"] for r in runs}):
        done = {r["engine"]: r for r in runs if r["incidents"] == n and r["complete"]}
        if len(done) == 2:
            same = done["durable"]["digest"] == done["python"]["digest"]
            lines.append(f"- {n:,} incidents: both engines end every ticket the same way (severity, level, owner, "
                         f"first page, breaches): **{'yes' if same else 'NO'}**.")
    return lines


def memory_lines(runs: list[dict]) -> list[str]:
    r = max((r for r in runs if r["complete"]), key=lambda r: (r["incidents"], r["engine"] == "durable"), default=None)
    if r is None:
        return []
    lines = [f"What the heap holds after the {r['incidents']:,}-incident replay ({r['engine']}), estimated from a "
             f"deep `sys.getsizeof` of 2,000 evenly spaced items per collection: {r['tickets']:,} tickets, "
             f"{r['log']:,} log entries, {r['outbox']:,} outbox rows, {r['timers']:,} timers.", "",
             "| what | MB | per delivery, KB |", "| --- | ---: | ---: |"]
    for what, mb in sorted(r["memory"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {what} | {mb:,.1f} | {mb * 1024 / r['deliveries']:.1f} |")
    return lines


def breakdown_table(parts_runs: dict[str, dict], measured: dict[str, dict]) -> list[str]:
    engines = [e for e in ENGINES if e in parts_runs]
    lines = ["| part | " + " | ".join(f"{e} % | {e} CPU s" for e in engines) + " |",
             "| --- |" + " ---: | ---: |" * len(engines)]
    for key, label in PARTS.items():
        cells = []
        for e in engines:
            seconds = parts_runs[e]["parts"].get(key, 0.0)
            cells += [f"{seconds / parts_runs[e]['replay_cpu']:.1%}", f"{seconds:.1f}"]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    rows = {"**replay CPU time, sampled run**": lambda e: ["100%", f"{parts_runs[e]['replay_cpu']:.1f}"],
            "replay CPU time without the sampler (results table)":
            lambda e: ["", f"{measured[e]['replay_cpu']:.1f}" if e in measured else "n/a"],
            "samples": lambda e: ["", f"{parts_runs[e]['samples']:,}"],
            "of which garbage collection (gc.callbacks, any part)":
            lambda e: [f"{parts_runs[e]['gc_s'] / parts_runs[e]['replay_cpu']:.1%}", f"{parts_runs[e]['gc_s']:.1f}"]}
    for label, cells in rows.items():
        lines.append(f"| {label} | " + " | ".join(c for e in engines for c in cells(e)) + " |")
    return lines


GROUPS = {"parsing": ["parsing"], "field map + matching": ["fieldmap_matching"], "decide": ["decide"],
          "service bookkeeping (store)": ["store", "service"], "timers (calendars)": ["timers", "calendar"],
          "notifications (template rendering, context)": ["notify_context", "notify_render", "notify_other"],
          "outbox planning": ["outbox"], "replay loop, scheduler": ["scheduler", "rest"]}


def grouped_lines(parts_runs: dict[str, dict]) -> list[str]:
    lines = ["| engine | " + " | ".join(GROUPS) + " |", "| --- |" + " ---: |" * len(GROUPS)]
    for e, r in parts_runs.items():
        cells = [f"{sum(r['parts'].get(k, 0.0) for k in keys) / r['replay_cpu']:.0%}" for keys in GROUPS.values()]
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    return lines


def firing_lines(parts_runs: dict[str, dict]) -> list[str]:
    r = parts_runs.get("durable") or next(iter(parts_runs.values()))
    return [
        f"What the {r['firings']:,} timer firings of the {r['incidents']:,}-incident replay ({r['engine']}) did: "
        f"**{r['fired']:,}** found their timer due and raised an event (warning, breach, stalled cadence); "
        f"{r['woke_early']:,} found it running but not due, and scheduled themselves again; {r['stale']:,} found "
        f"it stopped, breached or paused. The firings that raised no event cost {r['noop_cpu']:.2f} s of CPU "
        f"({r['noop_cpu'] / r['replay_cpu']:.1%} of the replay). Of {r['wakeups']:,} wake-ups scheduled, only "
        f"{r['distinct_wakeups']:,} were distinct (timer, time) pairs: "
        f"{1 - r['distinct_wakeups'] / r['wakeups']:.0%} were duplicates. A re-armed timer (every public reply "
        "restarts the update cadence) gets a new wake-up, and the old one, when it comes, finds the timer not yet "
        "due and re-queues itself for the timer's current due time, so every re-arm leaves one more wake-up chain "
        "that lives as long as the timer runs. The service handled "
        f"{r['handled']:,} events and wrote {r['log']:,} log entries and {r['outbox']:,} outbox rows for "
        f"{r['tickets']:,} tickets."]


def profile_tables(p: dict) -> list[str]:
    total = p["total"]
    lines = [f"cProfile of the {p['incidents']:,}-incident replay, {p['engine']} engine: {p['wall']:.1f} s under the "
             f"profiler, {total:.1f} s inside `replay()`. Percentages are of the latter.", "",
             f"### Top {TOP} project functions by cumulative time", "",
             "| function | calls | own s | cumulative s | cumulative % | µs per call (cum.) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in p["by_cum"]:
        lines.append(f"| `{row['func']}` | {row['calls']:,} | {row['tottime']:.2f} | {row['cumtime']:.2f} "
                     f"| {row['cumtime'] / total:.1%} | {row['cumtime'] / row['calls'] * 1e6:,.1f} |")
    lines += ["", f"### Top {TOP} project functions by own time", "",
              "| function | calls | own s | own % | cumulative s | µs per call (own) |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row in p["by_tot"]:
        lines.append(f"| `{row['func']}` | {row['calls']:,} | {row['tottime']:.2f} | {row['tottime'] / total:.1%} "
                     f"| {row['cumtime']:.2f} | {row['tottime'] / row['calls'] * 1e6:,.2f} |")
    lines += ["", "### Library hotspots by own time, with the caller that spends most in each", "",
              "| function | calls | own s | own % | main caller (its share) |", "| --- | ---: | ---: | ---: | --- |"]
    for row in p["library"]:
        lines.append(f"| `{row['func']}` | {row['calls']:,} | {row['tottime']:.2f} | {row['tottime'] / total:.1%} "
                     f"| `{row['caller']}` ({row['caller_share']:.0%}) |")
    lines += ["", "### Own time by module", "", "| module | own s | % |", "| --- | ---: | ---: |"]
    for module, seconds in p["modules"]:
        lines.append(f"| {module} | {seconds:.2f} | {seconds / total:.1%} |")
    return lines


def calibration_us() -> float:
    """`sum(range(1000))` on this machine, to compare figures with another machine or run."""
    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def machine_lines(conditions: dict) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.machine())
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    (load_start, load_end), (calib_start, calib_end) = conditions["load"], conditions["calibration"]
    code = conditions["code"]
    nproc = len(os.sched_getaffinity(0))
    return [
        f"- Machine: `nproc` {nproc} ({os.cpu_count()} CPUs), {cpu}, {int(memory) / 2**20:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, durable_rules {importlib.metadata.version('durable_rules')}, "
        f"jinja2 {importlib.metadata.version('jinja2')}",
        f"- Load average (1, 5, 15 min) before: {', '.join(f'{x:.2f}' for x in load_start)}; after: "
        f"{', '.join(f'{x:.2f}' for x in load_end)}. A load above {nproc} means other processes competed for the "
        f"CPUs, which lengthens wall times; CPU times are less affected.",
        f"- `sum(range(1000))`: {calib_start:.1f} µs before, {calib_end:.1f} µs after",
        f"- Code measured: a copy of plugin/, simulator/ and rules/ taken at the start, so every configuration ran the "
        f"same code while others kept editing the working tree: commit {code['commit']} (\"{code['subject']}\")"
        f"{' plus uncommitted changes' if code['dirty'] else ''}, files hash {code['hash']}",
        f"- Date: {conditions['date']}; total benchmark time {conditions['elapsed'] / 60:.1f} min",
    ]


def drift_lines(runs: list[dict], repeat: dict | None) -> list[str]:
    if not repeat:
        return []
    first = runs[0]
    return [f"Drift check: the first configuration ({first['engine']}, {first['incidents']:,} incidents), run again "
            f"after all the others, took {repeat['replay_s']:.1f} s wall and {repeat['replay_cpu']:.1f} s CPU against "
            f"{first['replay_s']:.1f} s and {first['replay_cpu']:.1f} s at the start "
            f"({repeat['replay_cpu'] / first['replay_cpu'] - 1:+.0%} CPU). On a machine shared with other work "
            "(VMs included), CPU time, not only wall time, varies between runs of the same code and input, so "
            "compare figures within one run of this script rather than across runs.", ""]


def report(args, runs: list[dict], parts_runs: dict, profiles: list[dict], conditions: dict,
           repeat: dict | None = None) -> str:
    sizes = ", ".join(f"{n:,}" for n in sorted({r["incidents"] for r in runs}))
    measured_small = {r["engine"]: r for r in runs if r["incidents"] == args.profile_incidents and r["complete"]}
    parts = [
        "# Replay benchmark: generated incidents through the service on a virtual clock", "",
        f"{sizes} incidents over {args.days} days (seed {SEED}, from {START.date()}), generated by "
        "`simulator.generator.generate` and replayed by `simulator.replay.replay` through the shipped matrix "
        "(`rules/`) with each engine. Every configuration ran in a fresh process, so peak RSS (`ru_maxrss`) "
        "belongs to it alone (generation included: the generated deliveries stay in memory during the replay). "
        f"A replay that ran past {args.budget:.0f} s was stopped at the next delivery; its row gives what was "
        "measured up to that point.", "",
        *machine_lines(conditions), "",
        "## Results", "",
        "`deliveries`: webhook requests replayed; `parsed events`: deliveries the platform parsers turned into "
        "a ticket event; `timer firings`: wake-ups the virtual scheduler popped (due or not); `handled by "
        "service`: calls of `EscalationService.handle` (parsed deliveries + timers that were due). "
        "`events/s` = (deliveries + timer firings) / replay time. `speed-up` = "
        f"{args.days} days / replay wall time (for a stopped run: simulated time covered / wall time).", "",
        *main_table(runs, repeat), "", *drift_lines(runs, repeat),
        *detail_table(runs), "",
        "## Targets", "",
        f"{TARGET_INCIDENTS:,} incidents over {TARGET_DAYS} days with the default matrix: replay ≤ {TARGET_S:.0f} s "
        f"(≥ {TARGET_SPEEDUP:,}x faster than real time), peak memory < {TARGET_MB:.0f} MB.", "",
        *target_lines(runs, args.days), *agreement_line(runs), "",
        "## Memory", "", *memory_lines(runs), "",
        "Nothing is released during a replay: the store keeps every log entry (with the decision as a dict and "
        "the rendered messages) and every outbox row, and the generated deliveries stay referenced, so peak RSS "
        "grows with the number of events.", "",
    ]
    if parts_runs:
        parts += [f"## Where the time goes ({args.profile_incidents:,} incidents)", "",
                  "Share of replay CPU time by part, from a separate run sampled on process CPU time (SIGPROF, "
                  f"asked every {SAMPLE_INTERVAL * 1e3:.0f} ms, delivered at the kernel's tick; each sample weighs the "
                  "CPU time since the previous one). Each sample goes to the innermost part on the stack whose entry "
                  "point it finds (the functions named in the table), so a store call made by the timer code "
                  "counts as store, rendering called by the notifier as rendering, and nothing is counted twice. "
                  "CPU time is used because other load on the machine stretches wall time. A sample costs one walk "
                  "up the stack (microseconds), so the sampler adds well under 1% to the replay; a difference "
                  "between the sampled run's CPU time and the plain run's is the machine's drift (see the drift "
                  "check above), which scales all parts alike.", "",
                  *grouped_lines(parts_runs), "", *breakdown_table(parts_runs, measured_small), "",
                  *firing_lines(parts_runs), ""]
    for p in profiles:
        parts += [f"## Profile: {p['engine']}, {p['incidents']:,} incidents", "", *profile_tables(p), ""]
    parts += ["## Reproduce", "", "```",
              ".venv/bin/python bench/replay.py",
              "# or, with options (sizes are incident counts; budget in seconds per replay):",
              f".venv/bin/python bench/replay.py --sizes 1000,10000 --days 30 --engines durable,python "
              f"--budget 240 --profile-incidents 1000 --profile-engines durable --out {DEFAULT_OUT}",
              "# keep the cProfile data to browse it (e.g. with snakeviz or pstats):",
              ".venv/bin/python bench/replay.py --sizes 1000 --keep-profile /tmp/replay.prof", "```", ""]
    return "\n".join(parts)


# --- entry point ----------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="incident counts, comma-separated")
    parser.add_argument("--days", type=int, default=30, help="days the incidents arrive over (default 30)")
    parser.add_argument("--engines", default=",".join(ENGINES), help="engines, comma-separated")
    parser.add_argument("--budget", type=float, default=240.0,
                        help="seconds after which a replay is stopped and its rate so far reported (default 240)")
    parser.add_argument("--profile-incidents", type=int, default=1000,
                        help="incidents of the time breakdown and the cProfile run; 0 skips both (default 1000)")
    parser.add_argument("--profile-engines", default="durable", help="engines to run cProfile for")
    parser.add_argument("--no-repeat", dest="repeat_first", action="store_false",
                        help="do not measure the first configuration again at the end (a check of drift)")
    parser.add_argument("--keep-profile", help="also write the cProfile data (pstats format) to this file")
    parser.add_argument("--out", type=Path, help=f"report file (default {DEFAULT_OUT})")
    parser.add_argument("--child", choices=("measure", "breakdown", "profile"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--incidents", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = [e for e in args.engines.split(",") if e]
    began = time.perf_counter()
    load, calibration = os.getloadavg(), calibration_us()
    runs, parts_runs, profiles = [], {}, []
    with tempfile.TemporaryDirectory(prefix="escalator-bench-replay-") as tmp:
        code = snapshot_code(Path(tmp) / "code")
        for n in sizes:
            for engine in engines:
                r = in_subprocess("measure", engine, n, args.days, Path(tmp), args.budget)
                runs.append(r)
                print(f"{engine:8} {n:>7,} incidents: {'complete' if r['complete'] else 'STOPPED'}, "
                      f"replay {r['replay_s']:.1f} s, {events(r) / r['replay_s']:,.0f} events/s, "
                      f"peak {r['peak_rss']:.0f} MB", file=sys.stderr)
        if args.profile_incidents:
            for engine in engines:
                parts_runs[engine] = in_subprocess("breakdown", engine, args.profile_incidents, args.days,
                                                   Path(tmp), args.budget)
                print(f"{engine:8} breakdown: {parts_runs[engine]['replay_s']:.1f} s", file=sys.stderr)
            for engine in [e for e in args.profile_engines.split(",") if e in engines]:
                profiles.append(in_subprocess("profile", engine, args.profile_incidents, args.days, Path(tmp),
                                              args.budget, args.keep_profile))
                print(f"{engine:8} profile: {profiles[-1]['wall']:.1f} s", file=sys.stderr)
        repeat = None
        if args.repeat_first and runs and runs[0]["complete"]:
            first = runs[0]
            repeat = in_subprocess("measure", first["engine"], first["incidents"], args.days, Path(tmp), args.budget)
            print(f"{repeat['engine']:8} {repeat['incidents']:>7,} incidents again: replay {repeat['replay_s']:.1f} s",
                  file=sys.stderr)
    conditions = {"load": (load, os.getloadavg()), "calibration": (calibration, calibration_us()), "code": code,
                  "date": datetime.date.today().isoformat(), "elapsed": time.perf_counter() - began}
    out = args.out or ROOT / DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(args, runs, parts_runs, profiles, conditions, repeat), encoding="utf-8")
    print(f"wrote {args.out or DEFAULT_OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
