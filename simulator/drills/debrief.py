"""The debrief of a finished drill, from `DrillRun.to_json()`: the score, every expectation with its
reason, the trainees' timeline beside the matrix's, time to respond, strengths, areas for improvement
and corrective actions; as a plain dict, as Markdown, and as one self-contained HTML page that can be
shared with someone who has no login. Ticket and trainee text is untrusted in both renderings."""
from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from plugin.domain.durations import format_duration

from ..scenarios import parse_offset

TEMPLATES = Path(__file__).parent / "templates"
STRONG = 0.8            # an objective with at least this share of its points earned is a strength
OBJECTIVE_NAMES = {
    "severity": "Severity", "routing": "Routing (level and owner)", "exceptions": "Exceptions",
    "communication": "Communication", "response_time": "Response time", "update_cadence": "Update cadence",
    "documentation": "Documentation",
}
ROLE_NAMES = {"incident_owner": "incident owner", "communications": "communications", "scribe": "scribe",
              "solo": "every role"}
# One recommendation per weak objective; {targets} is filled from what was missed and who says so.
ADVICE = {
    "severity": "Classify first, from the matrix's severity rules rather than the customer's wording or the "
                "priority they ask for: {targets}.",
    "routing": "Each time the matrix moves the ticket, set the level and owner it names at once and hand the "
               "ticket to that owner: {targets}.",
    "exceptions": "Check every exception's conditions against the ticket and record the decision either way "
                  "(apply or refuse) with your reason: {targets}.",
    "communication": "For each situation send exactly what the matrix's communications table names, on that "
                     "channel with that template, within the grace period, and hold back what it withholds: "
                     "{targets}.",
    "response_time": "Act on the ticket before its clocks run out: {targets}.",
    "update_cadence": "When you send a customer update, note when the next one is due and post it before then, "
                      "even with no news: {targets}.",
    "documentation": "Write a note or a handover in the decision log each time the level changes, saying why: "
                     "{targets}.",
}
GENERIC_ADVICE = "Review what the matrix expected here and why: {targets}."
# Response-time advice per timer, with `{target}` as "the critical ack target is 15m (24x7 calendar)".
TIMER_ADVICE = {
    "ack": "Take the ticket the moment it arrives: acknowledging = assigning it to yourself; {target}.",
    "plan": "Post the remediation plan as soon as you know the first step, even if it will change; {target}, "
            "and missing it escalates.",
    "rca": "Record the root cause (trigger, fix, follow-ups) on the ticket; {target}.",
}
TIMER_SOURCE = re.compile(r"timers\.(?P<severity>[\w-]+)\.(?P<name>[\w-]+) \((?P<target>[^,]+), (?P<calendar>[^)]+)\)")
CADENCE_SOURCE = re.compile(r"timers\.(?P<name>[\w-]+) \(every (?P<target>[^)]+)\)")
MAX_TARGETS = 3
ACTION_VERBS = {
    "acknowledge": "acknowledged: took the ticket", "update": "posted a status update",
    "plan": "posted the remediation plan", "note": "wrote a note", "resolve": "resolved the ticket",
    "root_cause": "recorded the root cause",
}


def debrief(run_json: dict) -> dict:
    """The debrief's content, derived from a finished run's JSON."""
    expectations = [{**e, "result": "pass" if e["passed"] else "fail"} for e in run_json.get("expectations", [])]
    objectives = run_json.get("objectives", {})
    return {
        "title": f"Drill debrief: {run_json['scenario']}",
        "scenario": run_json["scenario"], "file": run_json.get("file", ""),
        "trainees": [{"name": name, "role": ROLE_NAMES.get(role, role)}
                     for name, role in run_json.get("trainees", {}).items()],
        "score": run_json["score"], "threshold": round(100 * STRONG),
        "summary": _summary(expectations),
        "roles": [{"role": ROLE_NAMES.get(role, role), "trainee": r["trainee"], "score": r["score"]}
                  for role, r in run_json.get("roles", {}).items()],
        "expectations": _grouped(expectations),
        "timeline": timeline(run_json),
        "response_times": _response_times(run_json.get("response_times", [])),
        "timers": [e for e in expectations if e["kind"] in ("timer", "cadence")],
        "strengths": [_strength(o, v, expectations) for o, v in objectives.items() if _strong(v)],
        "improvements": [_improvement(o, v, expectations) for o, v in objectives.items() if not _strong(v)],
        "corrective_actions": [{"objective": o, "name": _name(o), "advice": advice(o, _missed(o, expectations))}
                               for o, v in objectives.items() if not _strong(v)],
        "drafts": [_draft(d) for d in run_json.get("drafts", [])],
    }


def _summary(expectations: list[dict]) -> dict:
    return {"expectations": len(expectations), "passed": sum(e["passed"] for e in expectations),
            "failed": sum(not e["passed"] for e in expectations),
            "earned": sum(e["weight"] for e in expectations if e["passed"]),
            "possible": sum(e["weight"] for e in expectations)}


def _grouped(expectations: list[dict]) -> list[dict]:
    """Per ticket (in order of first mention), per moment the matrix decided, the expectations."""
    tickets: dict[str, dict[str, list[dict]]] = {}
    for e in sorted(expectations, key=lambda e: parse_offset(e["at"])):
        tickets.setdefault(e["ticket"], {}).setdefault(e["at"], []).append(e)
    return [{"ticket": ticket, "moments": [{"at": at, "expectations": found} for at, found in moments.items()]}
            for ticket, moments in tickets.items()]


# -- the two timelines --------------------------------------------------------------------------

def timeline(run_json: dict) -> list[dict]:
    """One chronological list: at each moment and ticket, what the trainees were shown, what the matrix
    did and what the trainees did. The matrix's own reminders are on its side, not repeated as shown."""
    rows: dict[tuple[str, str], dict] = {}

    def row(at: str, ticket: str) -> dict:
        return rows.setdefault((at, ticket), {"at": at, "ticket": ticket, "shown": [], "matrix": [], "trainees": []})

    for s in run_json.get("seen", []):
        if s["source"] != "escalator":
            row(s["at"], s["ticket"])["shown"].append({"from": s["source"], "text": s["text"]})
    for entry in run_json.get("matrix_timeline", []):
        row(entry["at"], entry["ticket"])["matrix"].append({"event": _event(entry["event"]), "did": _matrix_did(entry)})
    for action in run_json.get("actions", []):
        row(action["at"], action.get("ticket", ""))["trainees"].append(
            {"by": action.get("by", ""), "did": _trainee_did(action), "text": action.get("text", ""),
             "rationale": action.get("rationale", "")})
    order = list(dict.fromkeys(ticket for _, ticket in rows))
    return sorted(rows.values(), key=lambda r: (parse_offset(r["at"]), order.index(r["ticket"])))


def _event(kind: str) -> str:
    return kind.replace("sla_", "SLA ").replace("_", " ")


def _matrix_did(entry: dict) -> str:
    parts = [", ".join(f"{field} {value}" for field, value in entry.get("changes", {}).items())]
    if entry.get("rules"):
        parts.append("by rule " + ", ".join(repr(rule) for rule in entry["rules"]))
    if entry.get("messages"):
        parts.append("sent " + ", ".join(dict.fromkeys(entry["messages"])))
    return "; ".join(p for p in parts if p)


def _trainee_did(action: dict) -> str:
    do = action["do"]
    if do in ("severity", "level", "owner", "status"):
        return f"set {do} {action.get('to', '')}"
    if do == "exception":
        return f"{'applied' if action.get('apply', True) else 'refused'} exception {action.get('name', '')!r}"
    if do == "message":
        return f"sent {action.get('template', '')} on {action.get('channel', '')}"
    if do == "handover":
        return f"handed over to {action.get('to', '')}"
    if do == "send_draft":
        return (f"sent draft {action.get('draft', '')} ({action.get('template', '')} on {action.get('channel', '')})"
                + ("" if action.get("text") else " as drafted"))
    if do == "discard_draft":
        return f"discarded draft {action.get('draft', '')}: {action.get('reason', '')}"
    return ACTION_VERBS.get(do, do.replace("_", " "))


# -- drafted messages ---------------------------------------------------------------------------

def _draft(d: dict) -> dict:
    """A draft with what became of it in a sentence, and its diff from the template line by line."""
    return {**d, "outcome": _outcome(d), "diff_lines": _diff_lines(d.get("diff", ""))}


def _outcome(d: dict) -> str:
    by, at = d.get("by") or "A trainee", d.get("acted_at")
    if d["status"] == "sent":
        tailored = d["text"] != d["template_text"]
        return f"{by} sent it at {at}, " + ("tailored to the customer." if tailored else
                                          "as drafted: the words were not tailored to the customer.")
    if d["status"] == "auto_sent":
        return (f"Nobody acted on it, so it went out by itself as drafted at {at}: on time, but the trainees "
                "did not tailor it to the customer.")
    if d["status"] == "discarded":
        return f"{by} discarded it at {at}. Reason: {d.get('reason', '')}"
    return "Nobody sent or discarded it: it was still waiting when the story ended."


def _diff_lines(diff: str) -> list[dict]:
    """The unified diff without its two file headers, each line marked added, removed, a hunk or kept."""
    kinds = {"+": "added", "-": "removed", "@": "hunk"}
    return [{"kind": kinds.get(line[:1], "kept"), "text": line} for line in diff.splitlines()[2:]]


# -- time to respond ----------------------------------------------------------------------------

def _response_times(rows: list[dict]) -> dict:
    return {
        "definition": "From the moment the matrix moved a ticket into a level to the trainees' next action on "
                      "that ticket. A level with no action after it has no time and is counted as unanswered.",
        "rows": [{**r, "took": _took(r["seconds"])} for r in rows],
        "unanswered": sum(r["seconds"] is None for r in rows),
    }


def _took(seconds: int | None) -> str:
    return "no action" if seconds is None else format_duration(timedelta(seconds=seconds))


# -- strengths, areas for improvement, corrective actions ---------------------------------------

def _strong(points: dict) -> bool:
    return not points["possible"] or points["earned"] >= STRONG * points["possible"]


def _name(objective: str) -> str:
    return OBJECTIVE_NAMES.get(objective, objective.replace("_", " ").capitalize())


def _percent(points: dict) -> int:
    return round(100 * points["earned"] / points["possible"]) if points["possible"] else 100


def _missed(objective: str, expectations: list[dict]) -> list[dict]:
    return [e for e in expectations if e["objective"] == objective and not e["passed"]]


def _strength(objective: str, points: dict, expectations: list[dict]) -> dict:
    passed = [e["expected"] for e in expectations if e["objective"] == objective and e["passed"]]
    return {"objective": objective, "name": _name(objective), **points, "percent": _percent(points),
            "passed": list(dict.fromkeys(passed))}


def _improvement(objective: str, points: dict, expectations: list[dict]) -> dict:
    """What was missed, once per expectation and source, with how often and when."""
    missed: dict[tuple[str, str], dict] = {}
    for e in _missed(objective, expectations):
        item = missed.setdefault((e["expected"], e["source"]), {"expected": e["expected"], "source": e["source"],
                                                                "times": 0, "at": [], "reason": e["reason"]})
        item["times"] += 1
        item["at"].append(e["at"])
    return {"objective": objective, "name": _name(objective), **points, "percent": _percent(points),
            "missed": list(missed.values())}


def advice(objective: str, missed: list[dict]) -> str:
    """One concrete recommendation for a weak objective, naming the targets it missed."""
    timers = [e for e in missed if e["kind"] == "timer"]
    others = [e for e in missed if e["kind"] != "timer"]
    sentences = [ADVICE.get(objective, GENERIC_ADVICE).format(targets=_targets(others))] if others else []
    sentences += _timer_advice(timers)
    return " ".join(sentences) or ADVICE.get(objective, GENERIC_ADVICE).format(targets="see what was missed above")


def _timer_advice(timers: list[dict]) -> list[str]:
    """One sentence per timer name, with every tier's target it missed."""
    targets: dict[str, list[str]] = {}
    for e in timers:
        targets.setdefault(e["expected"].split(" within ")[0], []).append(_target(e))
    return [TIMER_ADVICE.get(name, "Stop the {name} clock before it runs out; {target}.").format(
        name=name, target="; ".join(dict.fromkeys(said))) for name, said in targets.items()]


def _targets(missed: list[dict]) -> str:
    targets = list(dict.fromkeys(_target(e) for e in missed))
    shown = "; ".join(targets[:MAX_TARGETS])
    return shown + (f"; and {len(targets) - MAX_TARGETS} more" if len(targets) > MAX_TARGETS else "")


def _target(e: dict) -> str:
    if e["kind"] == "cadence" and (found := CADENCE_SOURCE.fullmatch(e["source"])):
        return f"the {found['name']} cadence on {e['ticket']} is every {found['target']}"
    if e["kind"] == "timer" and (found := TIMER_SOURCE.fullmatch(e["source"])):
        return (f"the {found['severity']} {found['name']} target is {found['target']} "
                f"({found['calendar']} calendar)")
    return f"{e['expected']} ({e['source']})"


# -- rendering ----------------------------------------------------------------------------------

_INLINE = re.compile(r"([\\`*_\[\]|~])")
# What would open a block if the value starts a list item: a heading, a list marker, a rule.
_BLOCK_START = re.compile(r"^(#|[-+=](?=[\s=-]|$)|\d+(?=[.)](?:\s|$)))")


def markdown_text(value: object) -> str:
    """Text safe inside a Markdown table cell or list item: one line, no markup, no raw HTML."""
    text = " ".join(str("" if value is None else value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _INLINE.sub(r"\\\1", text)
    if found := _BLOCK_START.match(text):
        cut = found.end() if found[0][0].isdigit() else 0
        text = text[:cut] + "\\" + text[cut:]
    return text


_common = {"loader": FileSystemLoader(TEMPLATES), "undefined": StrictUndefined, "trim_blocks": True,
           "lstrip_blocks": True, "keep_trailing_newline": True}
_html_env = Environment(autoescape=True, **_common)
# Every `{{ }}` in the Markdown template goes through markdown_text, as autoescape does for HTML.
_markdown_env = Environment(autoescape=False, finalize=markdown_text, **_common)


def markdown(run_json: dict) -> str:
    """The debrief as Markdown, every value neutralised."""
    return _markdown_env.get_template("debrief.md.j2").render(d=debrief(run_json))


def html(run_json: dict) -> str:
    """The debrief as one self-contained HTML page: inline CSS, no scripts, no external requests."""
    return _html_env.get_template("debrief.html.j2").render(d=debrief(run_json))
