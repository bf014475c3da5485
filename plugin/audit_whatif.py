"""What if: replay recorded deliveries through the matrix in force and through a candidate, on the
simulator's in-memory pipeline (virtual clock, nothing sent), and list what each ticket would have
ended with differently.

A candidate is a pasted or uploaded matrix.yaml; it uses the templates of the rules directory in
force. A broken one comes back as its problems with line numbers, never as an exception.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from simulator.cli import COMPARED, compare
from simulator.generator import Delivery, generate
from simulator.replay import replay
from simulator.report import per_ticket

from .domain.errors import Problem
from .engine.limits import engine_problems
from .matrix.lint import lint
from .matrix.loader import MATRIX_FILE, TEMPLATES_DIR, read_matrix

MAX_DELIVERIES = 1000               # a replay of both matrices stays within seconds
MAX_MATRIX_BYTES = 256 * 1024
GENERATED_INCIDENTS = 40            # a sample when nothing was recorded (a demo database holds no deliveries)
GENERATED_SEED = 1
SHOWN = "matrix.yaml"               # the candidate's name in messages, wherever it was written


def what_if(candidate: str, rules_dir: str | Path, rows: Sequence[dict], total: int, *,
            engine: str = "durable") -> dict:
    """The candidate's problems if it is broken; otherwise both replays' per-ticket differences."""
    with tempfile.TemporaryDirectory(prefix="escalator-what-if-") as scratch:
        folder = _candidate_folder(candidate, Path(rules_dir), Path(scratch))
        problems = _too_big(candidate) or _aliases(candidate)
        matrix, source = (None, None) if problems else read_matrix(folder)
        if source is not None:
            problems = list(source.problems)
        if matrix is None:
            return {"valid": False, "problems": [_problem(p) for p in problems]}
        findings = [_problem(p) for p in lint(matrix, source) + engine_problems(matrix, engine)]
        if any(f["severity"] == "error" for f in findings):
            return {"valid": False, "problems": findings}
        result = {"valid": True, "candidate_version": matrix.version, "findings": findings,
                  "deliveries": len(rows), "total": total, "limit": MAX_DELIVERIES, "compared": list(COMPARED)}
        if not rows:
            return {**result, "tickets": 0, "changed": [], "totals": {}}
        return {**result, **differences(rows, Path(rules_dir), folder, engine)}


def generated_rows(since: datetime, until: datetime) -> list[dict]:
    """Deliveries of GENERATED_INCIDENTS simulated incidents in [since, until), as recorded rows look."""
    days = max(1, round((until - since) / timedelta(days=1)))
    generated = generate(seed=GENERATED_SEED, incidents=GENERATED_INCIDENTS, days=days, start=since)
    return [{"received_at": d.at, "platform": d.platform, "headers": d.headers, "body": d.body}
            for d in generated[:MAX_DELIVERIES]]


def differences(rows: Sequence[dict], current: Path, candidate: Path, engine: str) -> dict:
    """Replay `rows` through both rules directories; what each ticket ended with, where they differ."""
    deliveries = [Delivery(r["received_at"], r["platform"], dict(r["headers"] or {}), bytes(r["body"])) for r in rows]
    before = replay(list(deliveries), current, engine=engine, lean=True)
    after = replay(list(deliveries), candidate, engine=engine, lean=True)
    old, new = per_ticket(before.store, before.ended), per_ticket(after.store, after.ended)
    diff = compare(old, new)
    changed = [{"ticket": ticket, "fields": {f: {"current": a, "candidate": b} for f, (a, b) in fields.items()}}
               for ticket, fields in diff["changed"].items()]
    return {"tickets": diff["tickets"], "changed": changed, "current_version": before.matrix.matrix.version, "totals": {
        "breaches": [_breaches(old), _breaches(new)], "escalated": [_escalated(old), _escalated(new)]}}


def _breaches(tickets: dict) -> int:
    return sum(len(t["breaches"]) for t in tickets.values())


def _escalated(tickets: dict) -> int:
    return sum(t["level"] not in ("", "L1") for t in tickets.values())


def _candidate_folder(text: str, rules_dir: Path, scratch: Path) -> Path:
    """A rules directory holding the candidate and the templates in force (not the matrix's own tests)."""
    templates = rules_dir / TEMPLATES_DIR
    if templates.is_dir():
        shutil.copytree(templates, scratch / TEMPLATES_DIR)
    (scratch / MATRIX_FILE).write_text(text, encoding="utf-8")
    return scratch


def _too_big(text: str) -> list[Problem]:
    size = len(text.encode("utf-8"))
    if size <= MAX_MATRIX_BYTES:
        return []
    return [Problem(f"the matrix is {size:,} bytes; at most {MAX_MATRIX_BYTES:,} are accepted", file=SHOWN,
                    fix="paste only matrix.yaml; its templates come from the rules directory in force")]


def _aliases(text: str) -> list[Problem]:
    """YAML aliases can make a few lines expand into millions of values: a pasted matrix may not use them."""
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, yaml.AliasToken):
                return [Problem(f"YAML alias *{token.value} is not accepted in a pasted matrix", file=SHOWN,
                                line=token.start_mark.line + 1, fix="write the value out where it is used")]
    except yaml.YAMLError:
        return []           # read_matrix reports the syntax error with its line
    return []


def _problem(p: Problem) -> dict:
    return {"severity": p.severity, "message": p.message, "path": p.path, "line": p.line, "fix": p.fix,
            "file": SHOWN if not p.file or p.file.endswith(MATRIX_FILE) else Path(p.file).name}
