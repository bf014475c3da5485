"""The matrix's own test cases (`rules/tests/*.yaml`): an event, optionally the ticket's current
state, and what the matrix must decide. Run by `escalator test`."""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

from .domain.errors import EscalatorError
from .domain.ticket import Comment, EventKind, Satisfaction, TicketEvent, TicketState
from .engine import Evaluator
from .matrix.yamlsrc import YamlSyntaxError, load_yaml
from .platforms import parse

EXPECTABLE = ("severity", "level", "owner", "assignee", "priority", "labels", "matched", "start_timers",
              "stop_timers")
_EVENT_FIELDS = {f.name for f in fields(TicketEvent)}
_STATE_FIELDS = {f.name for f in fields(TicketState)}


@dataclass
class CaseResult:
    file: str
    name: str
    failures: list[tuple[str, object, object]] = field(default_factory=list)   # (what, expected, got)
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.error


def run_cases(tests_dir: Path, evaluator: Evaluator) -> list[CaseResult]:
    results = []
    for path in sorted(tests_dir.glob("*.yaml")):
        results += _run_file(path, evaluator)
    return results


def _run_file(path: Path, evaluator: Evaluator) -> list[CaseResult]:
    try:
        doc = load_yaml(path.name, path.read_text(encoding="utf-8"))
    except YamlSyntaxError as exc:
        return [CaseResult(path.name, "(file)", error=f"line {exc.line}: {exc.message}")]
    cases = (doc.data or {}).get("cases") if isinstance(doc.data, dict) else None
    if not isinstance(cases, list):
        return [CaseResult(path.name, "(file)", error="expected a top-level `cases:` list")]
    return [_run_case(path, i, case, evaluator) for i, case in enumerate(cases)]


def _run_case(path: Path, index: int, case: dict, evaluator: Evaluator) -> CaseResult:
    name = str(case.get("name", f"case {index + 1}")) if isinstance(case, dict) else f"case {index + 1}"
    result = CaseResult(path.name, name)
    try:
        event, state, expect = _read_case(path, case)
    except (EscalatorError, ValueError, TypeError, OSError) as exc:
        result.error = str(exc)
        return result
    decision = evaluator.evaluate(event, state).as_dict()
    decision["matched"] = [t["rule"] for t in decision["trace"]]
    decision["start_timers"] = [t["name"] for t in decision["start_timers"]]
    for key, wanted in expect.items():
        got = decision[key]
        if isinstance(wanted, list) and key != "matched":
            wanted, got = sorted(wanted), sorted(got)
        if wanted != got:
            result.failures.append((key, wanted, got))
    return result


def _read_case(path: Path, case) -> tuple[TicketEvent, TicketState, dict]:
    if not isinstance(case, dict):
        raise ValueError("each case is a mapping with name, event or payload, and expect")
    unknown = set(case) - {"name", "description", "event", "payload", "platform", "state", "expect"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}; a case has name, event or payload+platform, state, expect")
    expect = case.get("expect") or {}
    bad = set(expect) - set(EXPECTABLE)
    if bad or not expect:
        raise ValueError(f"`expect` needs some of: {', '.join(EXPECTABLE)}" + (f" (not {sorted(bad)})" if bad else ""))
    if "payload" in case:
        payload = json.loads((path.parent / case["payload"]).read_text(encoding="utf-8"))
        event = parse(case.get("platform", "jira"), payload)
        if event is None:
            raise ValueError("the payload carries nothing to evaluate")
    else:
        event = event_from_dict(case.get("event") or {})
    return event, state_from_dict(case.get("state") or {}), expect


def event_from_dict(data: dict) -> TicketEvent:
    """A TicketEvent from the plain mapping a case file or the simulator writes."""
    unknown = set(data) - _EVENT_FIELDS
    if unknown:
        raise ValueError(f"unknown event fields {sorted(unknown)}; known: {', '.join(sorted(_EVENT_FIELDS))}")
    values = dict(data)
    values.setdefault("platform", "jira")
    values.setdefault("key", "TEST-1")
    values["kind"] = EventKind(values.get("kind", "created"))
    for name in ("labels", "components"):
        values[name] = tuple(values.get(name) or ())
    if isinstance(values.get("comment"), dict):
        values["comment"] = Comment(**values["comment"])
    elif isinstance(values.get("comment"), str):
        values["comment"] = Comment(values["comment"])
    if isinstance(values.get("satisfaction"), dict):
        values["satisfaction"] = Satisfaction(**values["satisfaction"])
    return TicketEvent(**values)


def state_from_dict(data: dict) -> TicketState:
    unknown = set(data) - _STATE_FIELDS
    if unknown:
        raise ValueError(f"unknown state fields {sorted(unknown)}; known: {', '.join(sorted(_STATE_FIELDS))}")
    return TicketState(**{k: (tuple(v) if k == "labels" else v) for k, v in data.items()})
