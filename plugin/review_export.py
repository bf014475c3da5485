"""A review as Markdown: the debrief a team lead shares, pastes into a wiki or attaches to the ticket."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .domain.durations import format_duration
from .domain.review import Review, overdue
from .reviews import sections_json


def markdown(review: Review, facts: Mapping, now: datetime) -> str:
    """The whole review: status, figures, sections, action items, then the timeline it was built from."""
    parts = [_heading(review, facts), _figures(facts), _sections(review, facts), _actions(review, now),
             _levels(facts), _timers(facts), _timeline(facts), _messages(facts)]
    return "\n\n".join(p for p in parts if p) + "\n"


def _heading(review: Review, facts: Mapping) -> str:
    state = "final, frozen " + review.final_at.strftime("%Y-%m-%d %H:%M UTC") if review.final_at else review.status
    return (f"# After-action review {review.id}: {review.platform}/{review.key}\n\n"
            f"Status: **{state}** · opened for: {review.trigger} · matrix {review.matrix_version}\n"
            f"Figures as of {_time(facts.get('as_of'))}.")


def _figures(facts: Mapping) -> str:
    rows = [("Severity / level / owner", f"{facts['severity'] or '-'} / {facts['level'] or '-'} / "
                                         f"{facts['owner'] or '-'}"),
            ("Opened", _time(facts["opened_at"])),
            ("Time to acknowledge", _duration(facts["time_to_acknowledge_seconds"], "never acknowledged")),
            ("Time to resolve", _duration(facts["time_to_resolve_seconds"], "not resolved")),
            ("CSAT", ", ".join(str(r["rating"]) for r in facts["csat"]) or "not rated")]
    return "| figure | value |\n| --- | --- |\n" + "\n".join(f"| {name} | {_cell(value)} |" for name, value in rows)


def _sections(review: Review, facts: Mapping) -> str:
    blocks = []
    for section in sections_json(review, facts):
        note = " _(pre-filled from the log)_" if section["prefilled"] else ""
        blocks.append(f"## {section['title']}{note}\n\n{section['text'].strip() or '_' + section['prompt'] + '_'}")
    return "\n\n".join(blocks)


def _actions(review: Review, now: datetime) -> str:
    if not review.actions:
        return "## Action items\n\nNone yet."
    rows = [f"| {a.number} | {_cell(a.title)} | {a.owner} | {a.due_at:%Y-%m-%d %H:%M} | "
            f"{a.status}{' (overdue)' if overdue(a, now) else ''} | {_cell(a.link) or '-'} |" for a in review.actions]
    return _table("Action items", ("#", "what", "owner", "due (UTC)", "status", "link"), rows)


def _levels(facts: Mapping) -> str:
    if not facts["levels"]:
        return ""
    rows = [f"| {s['level']} | {_time(s['entered_at'])} | {_time(s['left_at']) if s['left_at'] else 'ongoing'} | "
            f"{_duration(s['dwell_seconds'], '-')} | {_cell(s['by'])} |" for s in facts["levels"]]
    return _table("Levels and dwell time", ("level", "entered", "left", "dwell", "entered by"), rows)


def _timers(facts: Mapping) -> str:
    if not facts["timers"]:
        return ""
    rows = [f"| {t['name']} | {_duration(t['target_seconds'], '-')} | {_time(t['due_at'])} | {t['outcome']} |"
            for t in facts["timers"]]
    return _table("Timers", ("timer", "target", "due", "outcome"), rows)


def _timeline(facts: Mapping) -> str:
    lines = []
    for e in facts["timeline"]:
        changes = ", ".join(f"{k} {_shown(v[0])} → {_shown(v[1])}" for k, v in e["changes"].items())
        why = f" — {'; '.join(e['rules'])}" if e["rules"] else ""
        lines.append(f"- {_time(e['at'])} **{e['event']}**{': ' + changes if changes else ''}{why}")
    return "## Timeline (the escalation log)\n\n" + ("\n".join(lines) or "Nothing logged.")


def _messages(facts: Mapping) -> str:
    lines = []
    for m in facts["messages"]:
        to = "; ".join(", ".join(s.get("to", ())) for s in m["sent"]) or "nobody"
        lines.append(f"- {_time(m['at'])} {m['situation']} via {m['channel']} ({m['template']}) to {to}"
                     + (f"; withheld: {'; '.join(map(str, m['withheld']))}" if m["withheld"] else ""))
    return "## Messages\n\n" + "\n".join(lines) if lines else ""


def _table(title: str, header: tuple[str, ...], rows: list[str]) -> str:
    return (f"## {title}\n\n| {' | '.join(header)} |\n|{' --- |' * len(header)}\n" + "\n".join(rows))


def _time(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M:%S UTC") if iso else "-"


def _duration(seconds: int | None, missing: str) -> str:
    return format_duration(timedelta(seconds=seconds)) if seconds is not None else missing


def _shown(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value) if value not in ("", None) else "-"


def _cell(text: str) -> str:
    """Table cells hold one line, and a pipe would end the cell."""
    return " ".join(str(text).split()).replace("|", "\\|")
