"""A review's pre-fill, computed from the ticket's whole escalation log, its timers and its ratings.

Computed on every read, so it always matches the log, and frozen into the review when it becomes
final. The result is JSON-ready (ISO times, whole seconds), so a frozen copy reads like a live one.
Every figure says what it measures in `DEFINITIONS`, and what it leaves out.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from .durations import format_duration

DEFINITIONS = {
    "time_to_acknowledge": "from the first logged event to the first one whose stop rules stop the ack timer "
                           "(an agent's public reply, an assignment); a resolution does not count; null when never "
                           "acknowledged",
    "time_to_resolve": "from the first logged event to the last resolution not followed by a reopening; null while "
                       "open",
    "levels": "dwell at each level, from the decision that entered it to the one that left it or the resolution; "
              "an ongoing level counts up to as_of",
    "timers": "each timer's latest cycle: met when stopped before its deadline, breached when stopped late, fired "
              "or overdue; a reopened ticket's earlier cycles show in the timeline as sla_breached events",
    "messages": "as logged when decided: sent means rendered and queued for its channel (the ticket's outbox "
                "says whether it arrived); withheld lists what the sensitivity policy or a missing address kept back",
    "csat": "ratings the customer gave, from the deliveries the log was decided from",
}
_CLOSING = ("resolved", "deleted")


def prefill(platform: str, key: str, log: Sequence[Mapping], timers: Sequence[Mapping],
            ratings: Sequence[Mapping], now: datetime) -> dict:
    """The review's facts from the log (oldest entry first) and the timers as they stand at `now`."""
    opened = log[0]["at"] if log else None
    acknowledged, resolved = _acknowledged(log), _resolved(log)
    latest = log[-1]["decision"] if log else {}
    facts = {
        "platform": platform, "key": key, "as_of": _iso(now),
        "severity": latest.get("severity", ""), "level": latest.get("level", ""), "owner": latest.get("owner", ""),
        "opened_at": _iso(opened), "acknowledged_at": _iso(acknowledged), "resolved_at": _iso(resolved),
        "time_to_acknowledge_seconds": _seconds(opened, acknowledged),
        "time_to_resolve_seconds": _seconds(opened, resolved),
        "timeline": [_entry(e) for e in log],
        "levels": _levels(log, resolved, now),
        "timers": [_timer(t, now) for t in timers],
        "communication_stalls": sum(e["event_kind"] == "communication_stalled" for e in log),
        "messages": [m for e in log for m in _messages(e)],
        "csat": [{**r, "at": _iso(r["at"])} for r in ratings],
        "definitions": DEFINITIONS,
    }
    facts["summary"] = summary(facts)
    return facts


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _seconds(start: datetime | None, end: datetime | None) -> int | None:
    return None if start is None or end is None else int((end - start).total_seconds())


def _acknowledged(log: Sequence[Mapping]) -> datetime | None:
    return next((e["at"] for e in log if "ack" in e["decision"].get("stop_timers", ())
                 and e["event_kind"] not in _CLOSING), None)


def _resolved(log: Sequence[Mapping]) -> datetime | None:
    last = next((e for e in reversed(log) if e["event_kind"] in ("resolved", "reopened")), None)
    return last["at"] if last is not None and last["event_kind"] == "resolved" else None


def _rules(entry: Mapping) -> list[str]:
    return [f["rule"] for f in entry["decision"].get("trace", ())]


def _entry(e: Mapping) -> dict:
    return {"id": e.get("id"), "at": _iso(e["at"]), "event": e["event_kind"], "actor": e.get("actor", ""),
            "changes": dict(e["changes"]), "rules": _rules(e), "trace": list(e["decision"].get("trace", ())),
            "stopped_timers": list(e["decision"].get("stop_timers", ())),
            "messages": sum(len(c.get("sent", ())) for c in e.get("communications", ()))}


def _levels(log: Sequence[Mapping], resolved: datetime | None, now: datetime) -> list[dict]:
    segments: list[dict] = []
    for e in log:
        if "level" not in e["changes"]:
            continue
        if segments:
            segments[-1]["left_at"] = e["at"]
        reason = e["decision"].get("reasons", {}).get("level", "")
        segments.append({"level": e["changes"]["level"][1], "entered_at": e["at"], "left_at": None,
                         "by": reason.removeprefix("rule:")})
    if segments and resolved is not None and resolved >= segments[-1]["entered_at"]:
        segments[-1]["left_at"] = resolved
    return [{**s, "entered_at": _iso(s["entered_at"]), "left_at": _iso(s["left_at"]),
             "dwell_seconds": _seconds(s["entered_at"], s["left_at"] or now), "ongoing": s["left_at"] is None}
            for s in segments]


def _timer(t: Mapping, now: datetime) -> dict:
    ended = t.get("stopped_at") or t.get("fired_at")
    return {"name": t["name"], "target_seconds": t["seconds"], "recurring": t["recurring"],
            "started_at": _iso(t["started_at"]), "due_at": _iso(t["due_at"]), "ended_at": _iso(ended),
            "outcome": outcome(t, now)}


def outcome(t: Mapping, now: datetime) -> str:
    """met | breached | running | paused | stopped (a cadence that ended, which has no deadline to meet)."""
    state, due = t["state"], t["due_at"]
    if state == "breached":
        return "breached"
    if state == "stopped":
        if t["recurring"]:
            return "stopped"
        return "met" if due is None or t["stopped_at"] < due else "breached"
    if state == "running" and due is not None and due <= now and not t["recurring"]:
        return "breached"       # due and not fired yet: the processor is about to say so
    return state


def _messages(e: Mapping) -> list[dict]:
    return [{"at": _iso(e["at"]), "situation": c.get("situation", ""), "channel": c.get("channel", ""),
             "template": c.get("template", ""), "sent": list(c.get("sent", ())),
             "withheld": list(c.get("withheld", ())), "problems": list(c.get("problems", ()))}
            for c in e.get("communications", ())]


# -- the narrative that pre-fills "what happened" ------------------------------------------------

def summary(facts: Mapping) -> str:
    """What happened, in plain sentences, from the facts (so a frozen review keeps its own)."""
    timeline = facts["timeline"]
    if not timeline:
        return f"{facts['platform']}/{facts['key']}: nothing is logged yet."
    opened = datetime.fromisoformat(facts["opened_at"])
    lines = [_opening(facts, timeline[0], opened)]
    lines += [_change(e, opened) for e in timeline[1:] if {"severity", "level", "owner"} & set(e["changes"])]
    lines += [_acknowledgement(facts), _breaches(facts), _messages_line(facts), _resolution(facts)]
    lines += [f"The customer rated it {r['rating']}" + (f" ({r['score']})" if r.get("score") is not None else "")
              + (f": \"{r['comment']}\"" if r.get("comment") else "") + "." for r in facts["csat"]]
    return "\n".join(line for line in lines if line)


def _after(at: str, opened: datetime) -> str:
    return "+" + format_duration(datetime.fromisoformat(at) - opened)


def _opening(facts: Mapping, first: Mapping, opened: datetime) -> str:
    changes = first["changes"]
    state = ", ".join(f"{name} {changes[name][1]}" for name in ("severity", "level", "owner") if name in changes)
    why = f" by {'; '.join(first['rules'])}" if first["rules"] else ""
    return (f"{facts['platform']}/{facts['key']} was opened {opened:%Y-%m-%d %H:%M:%S} UTC ({first['event']})"
            + (f": {state}{why}." if state else "."))


def _change(e: Mapping, opened: datetime) -> str:
    moves = ", ".join(f"{name} {e['changes'][name][0] or '-'} → {e['changes'][name][1]}"
                      for name in ("severity", "level", "owner") if name in e["changes"])
    why = f" by {'; '.join(e['rules'])}" if e["rules"] else ""
    return f"{_after(e['at'], opened)}: {moves} after {e['event']}{why}."


def _acknowledgement(facts: Mapping) -> str:
    seconds = facts["time_to_acknowledge_seconds"]
    if seconds is None:
        return "It was never acknowledged."
    return f"Acknowledged after {format_duration(timedelta(seconds=seconds))}."


def _breaches(facts: Mapping) -> str:
    breached = [t["name"] for t in facts["timers"] if t["outcome"] == "breached"]
    met = [t["name"] for t in facts["timers"] if t["outcome"] == "met"]
    parts = ([f"breached: {', '.join(breached)}"] if breached else []) + ([f"met: {', '.join(met)}"] if met else [])
    stalls = facts["communication_stalls"]
    if stalls:
        parts.append(f"the update cadence lapsed {stalls} time(s)")
    return f"Timers {'; '.join(parts)}." if parts else ""


def _messages_line(facts: Mapping) -> str:
    sent = sum(len(m["sent"]) for m in facts["messages"])
    withheld = sum(len(m["withheld"]) for m in facts["messages"])
    return f"{sent} message(s) sent, {withheld} withheld." if sent or withheld else ""


def _resolution(facts: Mapping) -> str:
    seconds = facts["time_to_resolve_seconds"]
    if seconds is not None:
        return f"Resolved after {format_duration(timedelta(seconds=seconds))}."
    levels = facts["levels"]
    return f"Still open at {levels[-1]['level']}." if levels else "Still open."
