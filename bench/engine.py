"""Throughput and memory of the two rule backends (durable and python) on generated matrices.

For every backend and matrix size (10, 50, 100 and 200 generated triggers by default, plus the
shipped exceptions and timer stops) it measures, over 20,000 generated events:
- compile time: `Evaluator(matrix, backend)` and one evaluation of each kind of event, since the
  python backend compiles a kind's function on the first event of that kind;
- µs per `Evaluator.evaluate(event)` and events per second, after a 500-event warm-up;
- µs per step alone: the field map (`Evaluator.prepare`), `backend.matching(event, state)`, and
  `decide(...)` given the rules already matched, so each step's share of the whole shows;
- matches per event;
- RSS after 2,000, 10,000 and all events, and peak RSS. Every event is on its own ticket
  (SUP-1 .. SUP-20000), so RSS that stays flat shows memory does not grow with distinct tickets.
It also checks that both backends reach the same decision (`Decision.as_dict()`) on every event,
and profiles 2,000 evaluations (cProfile) of a backend that misses its target, to show where the
time goes.

With `--repeat N`, each configuration runs N times, each time in a fresh process, and the report
keeps the fastest run (listing the mean of every run): other load on a shared machine only ever
adds time.

With `--baseline REV`, the code of that git revision is measured the same way in the same run,
each configuration right after the current code's, and its decisions are compared with the
current ones event by event: before and after figures under the same load on the machine.

Every version x backend x size runs in a fresh subprocess: `ru_maxrss` is a high-water mark for
the whole process, so only a new process gives a peak that belongs to one configuration, and
durable_rules' Host keeps every ruleset it ever compiled, which would otherwise carry over into
the next run. The children run a copy of plugin/ and rules/ taken at the start (for the baseline,
its `git archive`), so edits to the working tree while the benchmark runs cannot change what is
measured.

Matrices are written as YAML into a copy of each version's rules/ (the `triggers:` list replaced)
and read with the real loader. Generation is seeded, so runs are reproducible.

    .venv/bin/python bench/engine.py [--events 20000] [--sizes 10,50,100,200] [--baseline REV]
        [--repeat N] [--out FILE]
"""
from __future__ import annotations

import argparse
import cProfile
import datetime
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import pstats
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import timeit
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:   # children import the plugin only once the code they measure is on sys.path
    from plugin.domain.ticket import EventKind, TicketEvent

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path("bench/results/engine.md")
BACKENDS = ("durable", "python")
SNAPSHOT = ("plugin", "rules")
SEED = 20261
WARMUP = 500
CHUNK = 1_000
CHECKPOINTS = (2_000, 10_000)
TARGET_US = {"durable": 100.0, "python": 50.0}
TARGET_SIZE = 100
PROFILED_EVENTS = 2_000
PROFILE_ROWS = 15

TIERS = ["enterprise", "business", "pro", "free"]
REGIONS = ["EU", "US", "APAC", "LATAM"]
AREAS = ["payments", "billing", "login", "sso", "api", "reporting", "dashboard", "mobile",
         "integrations", "search"]
LABELS = ["vip", "renewal", "churn-risk", "regression", "outage", "security", "safety",
          "performance", "bug", "question", "feature-request", "migration", "personal-data",
          "onboarding", "data-export", "sla"]
OUTCOME_LABELS = ["escalation", "exec-visibility", "account-team", "needs-engineering", "hot",
                  "watch", "retention", "incident"]
SEVERITIES = ["critical", "high", "normal", "low"]
LEVELS = ["L1", "L2", "L3"]
PRIORITIES = {"jira": ["Highest", "High", "Medium", "Low"],
              "zendesk": ["urgent", "high", "normal", "low"]}
EVENT_WEIGHTS = {"created": 30, "updated": 20, "commented": 25, "priority_changed": 5,
                 "status_changed": 8, "assigned": 4, "resolved": 4, "reopened": 2,
                 "satisfaction_rated": 1, "sla_warning": 0.5, "sla_breached": 0.5}
TEXT_THEMES = {
    "availability": ["outage", "down", "unavailable", "not loading", r"5\d\d error", "timed? ?out"],
    "performance": ["slow", "latency", r"lag\w*", "takes forever", "degraded"],
    "billing": ["refund", r"overcharg\w*", "double charged", "invoice", "chargeback"],
    "access": ["cannot log ?in", "locked out", "password reset", "2fa", "mfa"],
    "data": ["data loss", "missing records", r"corrupt\w*", "deleted", "export failed"],
    "security": ["breach", "phishing", r"unauthori[sz]ed", r"leak\w*", r"vulnerab\w*"],
    "churn": [r"cancel\w*", "competitor", "churn", "contract", "renewal"],
    "urgency": ["urgent", "asap", "critical", r"escalat\w*", "blocker"],
}
SUMMARIES = [
    "{area} is down for all our users", "{area} page not loading since this morning",
    "We were double charged on the last invoice", "Cannot log in after password reset",
    "Export of {area} data fails with 502 error", "Question about {area} settings",
    "Slow response times on the {area} API", "Missing records after the {area} migration",
    "Possible unauthorized access to our account", "Feature request: bulk edit in {area}",
    "Refund for cancelled seats", "Webhooks from {area} arrive late", "Reports show wrong totals",
    "Our team is locked out of {area}", "Considering a competitor over {area} issues",
    "2FA codes not accepted", "{area} timed out twice today", "How do I rotate an API key?",
]
DESCRIPTIONS = [
    "", "", "Started after your last release. Screenshots attached.",
    "This affects around 40 agents in our support team.",
    "We have a board meeting tomorrow and need this fixed ASAP.",
    "Steps to reproduce: open the page, click save, wait.",
    "Our contract renewal is next month and this keeps happening.",
]
COMMENTS = [
    "Any update on this? It is urgent.", "We found a workaround for now, thanks.",
    "This is blocking our release, please escalate.", "Thanks, that fixed it.",
    "Still seeing timeouts every few minutes.", "Root cause identified, writing the RCA now.",
    "Remediation plan: roll back the deploy, next steps in the doc.", "Can you share the invoice?",
]


# --- matrix generation ----------------------------------------------------------------------

def pattern(rng: random.Random) -> str:
    words = TEXT_THEMES[rng.choice(list(TEXT_THEMES))]
    return "(?i)" + "|".join(rng.sample(words, rng.randint(2, 4)))


def text_test(rng: random.Random) -> dict:
    field = rng.choices(["text", "summary", "comment"], weights=[7, 2, 1])[0]
    return {"field": field, "matches": pattern(rng)}


def tier_test(rng: random.Random) -> dict:
    if rng.random() < 0.5:
        return {"field": "customer.tier", "eq": rng.choice(TIERS)}
    return {"field": "customer.tier", "in": rng.sample(TIERS, 2)}


def when_pattern(rng: random.Random) -> dict:
    if rng.random() < 0.5:
        return {"all": [tier_test(rng), text_test(rng)]}
    return {"all": [{"field": "event", "in": ["created", "commented", "updated"]}, tier_test(rng),
                    {"any": [text_test(rng), {"field": "labels", "contains": rng.choice(LABELS)}]}]}


def when_plain(rng: random.Random) -> dict:
    shape = rng.randrange(4)
    if shape == 0:
        return {"all": [{"field": "product_area", "eq": rng.choice(AREAS)},
                        {"field": "labels", "contains_any": rng.sample(LABELS, 3)}]}
    if shape == 1:
        return {"all": [{"field": "event", "in": rng.sample(list(EVENT_WEIGHTS), 3)},
                        {"field": "customer.tier", "eq": rng.choice(TIERS)},
                        {"any": [{"field": "labels", "contains": rng.choice(LABELS)},
                                 {"field": "product_area", "eq": rng.choice(AREAS)}]}]}
    if shape == 2:
        urgent = PRIORITIES[rng.choice(list(PRIORITIES))][:2]
        return {"all": [tier_test(rng), {"field": "customer.region", "eq": rng.choice(REGIONS)},
                        {"field": "priority", "in": urgent}]}
    return {"any": [{"all": [{"field": "labels", "contains": rng.choice(LABELS)}, tier_test(rng)]},
                    {"all": [{"field": "product_area", "eq": rng.choice(AREAS)},
                             {"field": "event", "eq": rng.choice(["created", "reopened"])}]}]}


def then(rng: random.Random) -> dict:
    out = {}
    if rng.random() < 0.7:
        out["severity"] = rng.choice(SEVERITIES)
    if rng.random() < 0.5:
        out["level"] = rng.choice(LEVELS)
    out["labels"] = rng.sample(OUTCOME_LABELS, rng.randint(1, 2))
    return out


def triggers(count: int, seed: int = SEED) -> list[dict]:
    """`count` triggers; every fourth one tests a text pattern."""
    rng = random.Random(seed)
    return [{"name": f"generated trigger {i:03d}",
             "when": when_pattern(rng) if i % 4 == 0 else when_plain(rng),
             "then": then(rng)} for i in range(count)]


def replace_triggers(matrix_text: str, new_triggers: list[dict]) -> str:
    """The matrix text with its top-level `triggers:` block replaced; everything else kept."""
    lines = matrix_text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if re.match(r"triggers:\s*$", line))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"[^\s#]", lines[i])),
               len(lines))
    block = yaml.safe_dump({"triggers": new_triggers}, sort_keys=False, width=1000)
    return "".join(lines[:start]) + block + "\n" + "".join(lines[end:])


def write_rules(rules: Path, target: Path, count: int) -> Path:
    """A copy of `rules` (a rules/ folder) whose matrix has `count` generated triggers."""
    shutil.copytree(rules, target, ignore=shutil.ignore_patterns("tests"))
    matrix_file = target / "matrix.yaml"
    text = replace_triggers(matrix_file.read_text(encoding="utf-8"), triggers(count))
    matrix_file.write_text(text, encoding="utf-8")
    return target


# --- event generation -----------------------------------------------------------------------

def events(count: int, seed: int = SEED) -> list[TicketEvent]:
    """`count` events, each on its own ticket SUP-1 .. SUP-<count>."""
    from plugin.domain.ticket import EventKind
    rng = random.Random(seed + 1)
    kinds = rng.choices([EventKind(k) for k in EVENT_WEIGHTS], list(EVENT_WEIGHTS.values()),
                        k=count)
    return [event(rng, i + 1, kind) for i, kind in enumerate(kinds)]


def event(rng: random.Random, number: int, kind: EventKind) -> TicketEvent:
    from plugin.domain.ticket import Comment, EventKind, Satisfaction, TicketEvent
    platform_name, area = rng.choice(list(PRIORITIES)), rng.choice(AREAS)
    label_count = rng.choices([0, 1, 2, 3], weights=[40, 35, 20, 5])[0]
    comment = None
    if kind == EventKind.COMMENTED:
        comment = Comment(rng.choice(COMMENTS), by_agent=rng.random() < 0.4,
                          public=rng.random() < 0.8)
    return TicketEvent(
        platform=platform_name, kind=kind, key=f"SUP-{number}",
        summary=rng.choice(SUMMARIES).format(area=area.capitalize()),
        description=rng.choice(DESCRIPTIONS),
        priority=rng.choice(PRIORITIES[platform_name]),
        status=rng.choice(["open", "pending", "in progress"]),
        labels=tuple(rng.sample(LABELS, label_count)),
        comment=comment,
        satisfaction=Satisfaction(rng.choice(["good", "bad"]))
        if kind == EventKind.SATISFACTION_RATED else None,
        timer=rng.choice(["ack", "plan", "rca", "update"]) if kind.value.startswith("sla_") else "",
        assignee="agent-7" if kind == EventKind.ASSIGNED else "",
        customer_tier=rng.choice(TIERS), customer_region=rng.choice(REGIONS), product_area=area,
    )


# --- one configuration, in a child process --------------------------------------------------
# The child imports the plugin only after putting the code it measures first on sys.path.

def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def timed(step, batch: list, marks=()) -> tuple[dict, dict]:
    """Total wall seconds (perf_counter), total CPU seconds of the process (process_time, which
    leaves out the time other processes had the CPU), the wall µs/event of each CHUNK-event
    chunk, and the RSS after each event number in `marks`."""
    total, cpu, chunks, rss = 0.0, 0.0, [], {}
    for first in range(0, len(batch), CHUNK):
        chunk = batch[first:first + CHUNK]
        start, start_cpu = time.perf_counter(), time.process_time()
        for ev in chunk:
            step(ev)
        elapsed = time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        total += elapsed
        chunks.append(elapsed / len(chunk) * 1e6)
        if first + len(chunk) in marks:
            rss[first + len(chunk)] = rss_mb()
    return {"total_s": total, "cpu_s": cpu, "chunk_us": chunks}, rss


def time_steps(evaluator, batch: list) -> tuple[dict, int]:
    """Timings of each step alone (field map, matching, decision), and total matches."""
    from plugin.domain.decision import decide
    from plugin.domain.ticket import TicketState
    state = TicketState()
    field_map, _ = timed(evaluator.prepare, batch)
    prepared = [evaluator.prepare(ev) for ev in batch]
    counts = []
    matching, _ = timed(lambda ev: counts.append(len(evaluator.backend.matching(ev, state))),
                        prepared)
    pairs = [(ev, evaluator.backend.matching(ev, state)) for ev in prepared]
    decision, _ = timed(lambda pair: decide(evaluator.matrix, pair[0], state, pair[1]), pairs)
    return {"field_map": field_map, "matching": matching, "decide": decision}, sum(counts)


def profile(evaluator, batch: list, code: Path) -> list[dict]:
    """The functions evaluation spends its own time in, over PROFILED_EVENTS events."""
    profiled = batch[:PROFILED_EVENTS]

    def evaluate_all():     # keeping no decision, as in the timed runs
        for ev in profiled:
            evaluator.evaluate(ev)
    profiler = cProfile.Profile()
    profiler.runcall(evaluate_all)
    stats = pstats.Stats(profiler, stream=io.StringIO()).stats
    total = sum(tottime for _, _, tottime, _, _ in stats.values())
    rows = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)[:PROFILE_ROWS]
    return [{"function": pstats.func_std_string(func).replace(f"{code}/", ""),
             "calls": calls / len(profiled), "own": tottime / total, "cumulative": cumtime / total}
            for func, (_, calls, tottime, cumtime, _) in rows]


def digest(decision) -> str:
    text = json.dumps(decision.as_dict(), sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def measure(backend: str, rules_dir: str, count: int, code: Path) -> dict:
    from plugin.domain.conditions import tests_in
    from plugin.engine import Evaluator
    from plugin.matrix import load_matrix
    matrix = load_matrix(rules_dir)
    batch = events(count)
    start = time.perf_counter()
    evaluator = Evaluator(matrix, backend)
    # Ready for every kind of event: a backend may compile what a kind needs on its first event.
    for ev in {ev.kind: ev for ev in batch}.values():
        evaluator.evaluate(ev)
    compile_s = time.perf_counter() - start
    for ev in batch[:WARMUP]:
        evaluator.evaluate(ev)
    evaluate, rss = timed(evaluator.evaluate, batch, marks={*CHECKPOINTS, count})
    steps, matches = time_steps(evaluator, batch)
    peak = peak_rss_mb()
    patterns = {(t.field, t.value) for r in matrix.rules for t in tests_in(r.when)
                if t.op == "matches"}
    result = {"backend": backend, "rules": len(matrix.rules), "patterns": len(patterns),
              "events": count, "compile_s": compile_s, "evaluate": evaluate, **steps,
              "matches": matches, "rss": rss, "peak_rss": peak,
              # After the timed passes: a decision per event, hashed, to compare the backends.
              "digests": [digest(evaluator.evaluate(ev)) for ev in batch]}
    if len(matrix.triggers) == TARGET_SIZE and mean_us(result) > TARGET_US[backend]:
        result["profile"] = profile(evaluator, batch, code)
    return result


def run_child(args) -> None:
    sys.path.insert(0, args.code)
    conditions = {"load_start": os.getloadavg()[0], "calibration": calibration_us()}
    result = measure(args.child, args.rules, args.events, Path(args.code))
    import plugin
    result.update(conditions, load_end=os.getloadavg()[0],
                  code_used=str(Path(plugin.__file__).resolve().parent.parent))
    Path(args.result).write_text(json.dumps(result), encoding="utf-8")


def run_in_subprocess(version: str, code: Path, backend: str, rules_dir: Path, count: int,
                      tmp: Path, attempt: int = 0) -> dict:
    result_file = tmp / f"{version}-{backend}-{rules_dir.name}-{attempt}.json"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", backend, "--code", str(code),
               "--rules", str(rules_dir), "--events", str(count), "--result", str(result_file)]
    subprocess.run(command, check=True, cwd=code)
    result = json.loads(result_file.read_text(encoding="utf-8"))
    if Path(result["code_used"]) != code.resolve():
        raise RuntimeError(f"the child ran the plugin in {result['code_used']}, not the copy in {code}")
    result["rss"] = {int(k): v for k, v in result["rss"].items()}
    return result


# --- the code measured ----------------------------------------------------------------------

def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True).stdout


def snapshot_code(target: Path) -> dict:
    """plugin/ and rules/ of the working tree copied to `target`, with the commit, whether they
    had uncommitted changes, and a hash of the copied files."""
    for folder in SNAPSHOT:
        shutil.copytree(ROOT / folder, target / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    files = hashlib.blake2b(digest_size=6)
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        files.update(str(path.relative_to(target)).encode() + b"\0" + path.read_bytes())
    return {"path": target, "commit": git("rev-parse", "--short", "HEAD").strip(),
            "dirty": bool(git("status", "--porcelain", *SNAPSHOT).strip()), "hash": files.hexdigest()}


def export_revision(revision: str, target: Path) -> dict:
    """plugin/ and rules/ as they were at `revision`, extracted to `target`."""
    archive = subprocess.run(["git", "archive", revision, *SNAPSHOT], cwd=ROOT, capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return {"path": target, "commit": git("rev-parse", "--short", revision).strip(),
            "subject": git("log", "-1", "--format=%s", revision).strip()}


# --- report ---------------------------------------------------------------------------------

def mean_us(result: dict, step: str = "evaluate") -> float:
    return result[step]["total_s"] / result["events"] * 1e6


def cpu_us(result: dict, step: str = "evaluate") -> float:
    return result[step]["cpu_s"] / result["events"] * 1e6


def median_us(result: dict, step: str = "evaluate") -> float:
    return statistics.median(result[step]["chunk_us"])


def disagreements(a: dict, b: dict) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a["digests"], b["digests"], strict=True)) if x != y]


def row(cells) -> str:
    return "| " + " | ".join(map(str, cells)) + " |"


def backend_table(runs: dict, backend: str, sizes: list[int], count: int) -> list[str]:
    early = min(CHECKPOINTS[0], count)
    lines = ["| triggers | rules | compile ms | µs/event | median µs/event | CPU µs/event | events/s "
             "| matching µs/event | matching median µs/event | matches/event "
             f"| RSS @{early:,} MB | RSS @{count:,} MB | growth MB | peak RSS MB |",
             "|" + " ---: |" * 14]
    for n in sizes:
        r = runs[backend, n]
        lines.append(row([n, r["rules"], f"{r['compile_s'] * 1e3:.0f}", f"{mean_us(r):.1f}",
                          f"{median_us(r):.1f}", f"{cpu_us(r):.1f}", f"{1e6 / mean_us(r):,.0f}",
                          f"{mean_us(r, 'matching'):.1f}",
                          f"{median_us(r, 'matching'):.1f}", f"{r['matches'] / r['events']:.2f}",
                          f"{r['rss'][early]:.1f}", f"{r['rss'][count]:.1f}",
                          f"{r['rss'][count] - r['rss'][early]:+.1f}", f"{r['peak_rss']:.1f}"]))
    return lines


def steps_table(runs: dict, sizes: list[int]) -> list[str]:
    lines = ["| triggers | backend | field map | matching | decision | the three | evaluate |",
             "| ---: | --- |" + " ---: |" * 5]
    for n in sizes:
        for backend in BACKENDS:
            r = runs[backend, n]
            parts = [mean_us(r, step) for step in ("field_map", "matching", "decide")]
            lines.append(row([n, backend, *(f"{p:.1f}" for p in parts), f"{sum(parts):.1f}",
                              f"{mean_us(r):.1f}"]))
    return lines


def ratio(runs: dict, n: int, measure_us, step: str = "evaluate") -> str:
    return f"{measure_us(runs['durable', n], step) / measure_us(runs['python', n], step):.2f}x"


def comparison_table(runs: dict, sizes: list[int], diffs: dict) -> list[str]:
    lines = ["| triggers | text patterns | durable µs/event | python µs/event | durable / python "
             "| durable / python, medians | matching only, medians | decisions that differ |",
             "|" + " ---: |" * 8]
    for n in sizes:
        d, p = runs["durable", n], runs["python", n]
        lines.append(row([n, d["patterns"], f"{mean_us(d):.1f}", f"{mean_us(p):.1f}",
                          ratio(runs, n, mean_us), ratio(runs, n, median_us),
                          ratio(runs, n, median_us, "matching"), len(diffs[n])]))
    return lines


def before_after_table(runs: dict, before: dict, sizes: list[int]) -> list[str]:
    lines = ["| triggers | backend | before µs/event | now µs/event | speed-up | before median | now median "
             "| before CPU µs | now CPU µs | speed-up, CPU | load, before / now | decisions that differ |",
             "| ---: | --- |" + " ---: |" * 10]
    for n in sizes:
        for backend in BACKENDS:
            b, r = before[backend, n], runs[backend, n]
            lines.append(row([n, backend, f"{mean_us(b):.1f}", f"{mean_us(r):.1f}",
                              f"{mean_us(b) / mean_us(r):.2f}x", f"{median_us(b):.1f}", f"{median_us(r):.1f}",
                              f"{cpu_us(b):.1f}", f"{cpu_us(r):.1f}", f"{cpu_us(b) / cpu_us(r):.2f}x",
                              f"{b['load_start']:.1f} / {r['load_start']:.1f}", len(disagreements(b, r))]))
    return lines


def target_lines(runs: dict, sizes: list[int]) -> list[str]:
    if TARGET_SIZE not in sizes:
        return [f"- Not measured: {TARGET_SIZE} triggers is not among the sizes run."]
    lines = []
    for backend in BACKENDS:
        r = runs[backend, TARGET_SIZE]
        verdict = "met" if mean_us(r) <= TARGET_US[backend] else "NOT met"
        lines.append(f"- {backend} at {TARGET_SIZE} triggers: {mean_us(r):.1f} µs/event, target "
                     f"{TARGET_US[backend]:.0f} (median chunk {median_us(r):.1f}; CPU time "
                     f"{cpu_us(r):.1f}; matching alone {mean_us(r, 'matching'):.1f}): **{verdict}**.")
    return lines


def memory_lines(runs: dict, sizes: list[int], count: int) -> list[str]:
    early = min(CHECKPOINTS[0], count)
    growth = {key: r["rss"][count] - r["rss"][early] for key, r in runs.items()}
    worst = max(growth, key=growth.get)
    lines = [f"- Largest RSS growth between event {early:,} and event {count:,}, each on a new "
             f"ticket: {growth[worst]:+.1f} MB ({worst[0]}, {worst[1]} triggers)."]
    if count >= 10_000:
        same = all(runs["durable", n]["digests"][9_999] == runs["python", n]["digests"][9_999]
                   for n in sizes)
        rss = ", ".join(f"{b} {runs[b, max(sizes)]['rss'][10_000]:.1f} MB" for b in BACKENDS)
        lines.append(f"- 10,000th distinct ticket (SUP-10000): evaluated by both backends at every "
                     f"size, {'identical' if same else 'DIFFERENT'} decisions; RSS at that point "
                     f"with {max(sizes)} triggers: {rss}. durable_rules allows 1,024 live sessions "
                     "per ruleset; evaluation is stateless, so distinct tickets do not add up.")
    return lines


def agreement_lines(runs: dict, before: dict, diffs: dict) -> list[str]:
    total = sum(len(d) for d in diffs.values())
    line = ("- Decisions that differ between the backends (`Decision.as_dict()`, every event at "
            f"every size): **{total}**.")
    if total:
        first = [f"SUP-{i + 1} at {n} triggers" for n, found in diffs.items() for i in found[:3]]
        line += f" First: {', '.join(first)}."
    lines = [line]
    if before:
        changed = sum(len(disagreements(before[key], runs[key])) for key in runs)
        lines.append("- Decisions that differ between the code before and now (every event, both "
                     f"backends, every size): **{changed}**.")
    return lines


def profile_lines(runs: dict) -> list[str]:
    lines = []
    for backend in BACKENDS:
        rows = runs.get((backend, TARGET_SIZE), {}).get("profile")
        if not rows:
            continue
        lines += [f"### {backend} at {TARGET_SIZE} triggers", "",
                  f"cProfile of {PROFILED_EVENTS:,} evaluations, functions by own time (the profiler "
                  "slows small functions most, so shares matter, not times).", "",
                  "| function | calls/event | own time | with callees |", "| --- | ---: | ---: | ---: |"]
        lines += [row([f"`{r['function']}`", f"{r['calls']:.2f}", f"{r['own']:.1%}", f"{r['cumulative']:.1%}"])
                  for r in rows]
        lines.append("")
    return (["## Where the time goes, for a target not met", "", *lines]) if lines else []


def repeat_lines(runs: dict, before: dict, sizes: list[int], repeat: int) -> list[str]:
    if repeat == 1:
        return []
    def means(r):
        return ", ".join(f"{us:.1f}" for us in r["all_runs_us"])
    lines = [f"- Each configuration ran {repeat} times, each in a fresh process, the versions taking turns; "
             "the tables show the run with the lowest mean, as other load on the machine only ever adds "
             "time. Means of every run, µs/event:"]
    for n in sizes:
        for backend in BACKENDS:
            line = f"  - {n} triggers, {backend}: {means(runs[backend, n])}"
            if before:
                line += f" (before: {means(before[backend, n])})"
            lines.append(line)
    return lines


def calibration_us() -> float:
    """`sum(range(1000))` on this machine, to compare figures with another machine or run."""
    return min(timeit.repeat("sum(range(1000))", number=2_000, repeat=5)) / 2_000 * 1e6


def machine_lines(count: int, conditions: dict, versions: dict) -> list[str]:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.machine())
    (load_start, load_end), (calib_start, calib_end) = conditions["load"], conditions["calibration"]
    now = versions["now"]
    lines = [
        f"- Machine: {os.cpu_count()} CPUs (`nproc`: {len(os.sched_getaffinity(0))}), {cpu}, "
        f"{platform.system()}",
        f"- Python {platform.python_version()}, "
        f"durable_rules {importlib.metadata.version('durable_rules')}",
        f"- Load average {load_start:.2f} at start, {load_end:.2f} at end; `sum(range(1000))` took "
        f"{calib_start:.1f} µs at start and {calib_end:.1f} µs at end",
        f"- Code: commit {now['commit']}"
        + (" with uncommitted changes in plugin/ or rules/" if now["dirty"] else "")
        + f", files hash {now['hash']} (a copy taken at the start)",
    ]
    if "before" in versions:
        before = versions["before"]
        lines.append(f"- Before: commit {before['commit']} (\"{before['subject']}\"), measured in the "
                     "same run, each configuration right after the current code's")
    lines += [f"- Date: {datetime.date.today().isoformat()}",
              f"- {count:,} generated events per run, each on its own ticket; {WARMUP} warm-up events; "
              f"seed {SEED}"]
    return lines


def intro(runs: dict, sizes: list[int]) -> str:
    shipped = runs["python", sizes[0]]["rules"] - sizes[0]
    return (
        f"Speed and memory of both rule backends on generated matrices with "
        f"{', '.join(map(str, sizes))} triggers, plus the {shipped} shipped exceptions and timer "
        "stops. About a quarter of the triggers test a text pattern; the rest mix customer tier, "
        "region, product area, labels, event kind and priority under all/any nesting. Each "
        "backend and size ran in a fresh process, so peak RSS belongs to that configuration "
        "alone. `µs/event` is the mean wall time (perf_counter) of `Evaluator.evaluate` (field "
        "map, matching, decision) over all events; the median of "
        f"{CHUNK:,}-event chunks is less sensitive to other load on the machine, and `CPU µs/event` "
        "(process_time) leaves out the time other processes had the CPU. `matching` is "
        "`backend.matching` alone. `compile ms` is `Evaluator(matrix, backend)` plus one "
        "evaluation of each kind of event, as the python backend compiles a kind on its first event.")


def report(runs: dict, before: dict, sizes: list[int], count: int, conditions: dict, versions: dict,
           repeat: int = 1) -> str:
    diffs = {n: disagreements(runs["durable", n], runs["python", n]) for n in sizes}
    targets = ", ".join(f"{b} ≤ {TARGET_US[b]:.0f} µs" for b in BACKENDS)
    parts = [
        "# Rule engine benchmark: durable vs python", "", intro(runs, sizes), "",
        *machine_lines(count, conditions, versions), *repeat_lines(runs, before, sizes, repeat), "",
        "## Target", "",
        f"Per event at {TARGET_SIZE} triggers: {targets}; memory flat in the number of distinct "
        "tickets.", "",
        *target_lines(runs, sizes), *memory_lines(runs, sizes, count), *agreement_lines(runs, before, diffs), "",
        "Figures come from one run; compare the load average and the `sum(range(1000))` time "
        "before comparing them with another run.", "",
    ]
    if before:
        parts += ["## Before and after", "",
                  f"The code at commit {versions['before']['commit']} and the code measured here, "
                  "each backend and size in its own process, one after the other in this run.", "",
                  *before_after_table(runs, before, sizes), ""]
    parts += ["## Steps alone, µs/event", "",
              "Each step timed on its own over all events: the field map (`Evaluator.prepare`), "
              "`backend.matching` on mapped events, and `decide` given the rules that matched. "
              "Their sum can differ from a whole evaluation, which runs them one after the other.", "",
              *steps_table(runs, sizes), ""]
    for backend in BACKENDS:
        parts += [f"## {backend}", "", *backend_table(runs, backend, sizes, count), ""]
    parts += ["## durable / python", "", *comparison_table(runs, sizes, diffs), ""]
    parts += profile_lines(runs)
    parts += ["## Reproduce", "", "```", "make bench", "# or, with options:",
              ".venv/bin/python bench/engine.py --events 20000 --sizes 10,50,100,200 "
              + (f"--baseline {versions['before']['commit']} " if before else "")
              + (f"--repeat {repeat} " if repeat > 1 else "")
              + "--out bench/results/engine.md", "```", ""]
    return "\n".join(parts)


# --- entry point ----------------------------------------------------------------------------

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per run (default 20000)")
    parser.add_argument("--sizes", default="10,50,100,200", help="trigger counts, comma-separated")
    parser.add_argument("--baseline", help="a git revision to measure alongside, as the code before")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each configuration, each in a fresh process; the report keeps the "
                             "fastest, since other load on the machine only ever adds time (default 1)")
    parser.add_argument("--out", type=Path, help=f"report file (default {DEFAULT_OUT})")
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    parser.add_argument("--rules", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    load, calibration = os.getloadavg()[0], calibration_us()
    measured: dict[str, dict] = {"now": {}, "before": {}}
    with tempfile.TemporaryDirectory(prefix="escalator-bench-") as tmp:
        tmp = Path(tmp)
        versions = {"now": snapshot_code(tmp / "now")}
        if args.baseline:
            versions["before"] = export_revision(args.baseline, tmp / "before")
        for n in sizes:
            for backend in BACKENDS:
                for attempt in range(args.repeat):
                    for version, code in versions.items():
                        rules_dir = tmp / f"rules-{version}-{n}"
                        if not rules_dir.exists():
                            write_rules(code["path"] / "rules", rules_dir, n)
                        result = run_in_subprocess(version, code["path"], backend, rules_dir, args.events, tmp,
                                                   attempt)
                        print(f"{version:6} {backend:8} {n:4} triggers: {mean_us(result):7.1f} µs/event",
                              file=sys.stderr)
                        kept = measured[version].setdefault((backend, n), result)
                        kept.setdefault("all_runs_us", [])
                        if mean_us(result) < mean_us(kept):
                            result["all_runs_us"] = kept["all_runs_us"]
                            measured[version][backend, n] = kept = result
                        kept["all_runs_us"].append(mean_us(result))
    conditions = {"load": (load, os.getloadavg()[0]),
                  "calibration": (calibration, calibration_us())}
    out = args.out or ROOT / DEFAULT_OUT
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report(measured["now"], measured["before"], sizes, args.events, conditions, versions,
                          args.repeat), encoding="utf-8")
    print(f"wrote {args.out or DEFAULT_OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
