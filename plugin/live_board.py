"""The live board: open escalations grouped by level, each with its clocks, most urgent first.

Pure: rows in, a board out, at an injected `now`; the dashboard renders it and the tests read it.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

FILTERS = ("severity", "product_area", "owner", "region")
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "normal": 2, "low": 3}


@dataclass(frozen=True)
class Clock:
    name: str
    state: str                  # breached | warning | running | paused
    seconds_left: float | None  # negative once breached; None while paused
    due_at: datetime | None
    recurring: bool


@dataclass(frozen=True)
class Escalation:
    platform: str
    key: str
    summary: str
    severity: str
    level: str
    owner: str
    assignee: str
    product_area: str
    region: str
    customer: str
    updated_at: datetime
    simulated: bool
    clocks: tuple[Clock, ...]

    @property
    def urgency(self) -> tuple:
        """Breached first, then the nearest deadline, then the most severe."""
        lefts = [c.seconds_left for c in self.clocks if c.seconds_left is not None and not c.recurring]
        return (min(lefts) if lefts else float("inf"), SEVERITY_ORDER.get(self.severity, 9))

    @property
    def worst(self) -> str:
        states = {c.state for c in self.clocks}
        return next((s for s in ("breached", "warning", "running", "paused") if s in states), "running")


@dataclass
class Board:
    now: datetime
    levels: dict[str, list[Escalation]] = field(default_factory=dict)
    choices: dict[str, list[str]] = field(default_factory=dict)    # filter -> values seen, for the pickers
    total: int = 0
    shown: int = 0
    breached: int = 0


def board(tickets: list[dict], timers: list[dict], now: datetime, filters: dict[str, str]) -> Board:
    by_ticket = defaultdict(list)
    for t in timers:
        by_ticket[(t["platform"], t["key"])].append(_clock(t, now))
    escalations = [_escalation(row, by_ticket[(row["platform"], row["key"])]) for row in tickets]
    result = Board(now=now, total=len(escalations), choices=_choices(escalations))
    shown = sorted((e for e in escalations if _matches(e, filters)), key=lambda e: e.urgency)
    for e in shown:
        result.levels.setdefault(e.level or "unassigned", []).append(e)
    result.levels = dict(sorted(result.levels.items(), key=lambda item: _level_order(item[0])))
    result.shown, result.breached = len(shown), sum(e.worst == "breached" for e in shown)
    return result


def _clock(t: dict, now: datetime) -> Clock:
    if t["state"] == "paused" or t["due_at"] is None:
        return Clock(t["name"], "paused", None, None, t["recurring"])
    left = (t["due_at"] - now).total_seconds()
    if left <= 0 or t["state"] == "breached":
        state = "running" if t["recurring"] else "breached"    # a cadence that lapsed restarts; it is logged
    elif t["warn_at"] is not None and t["warn_at"] <= now:
        state = "warning"
    else:
        state = "running"
    return Clock(t["name"], state, left, t["due_at"], t["recurring"])


def _escalation(row: dict, clocks: list[Clock]) -> Escalation:
    snap = row.get("snapshot") or {}
    return Escalation(row["platform"], row["key"], str(snap.get("summary") or ""), row["severity"], row["level"],
                      row["owner"], row["assignee"], str(snap.get("product_area") or ""),
                      str(snap.get("customer_region") or ""), str(snap.get("organization") or ""),
                      row["updated_at"], bool(row.get("simulated")),
                      tuple(sorted(clocks, key=lambda c: (c.recurring, c.seconds_left if c.seconds_left is not None
                                                          else float("inf")))))


def _value(e: Escalation, name: str) -> str:
    return {"severity": e.severity, "product_area": e.product_area, "owner": e.owner, "region": e.region}[name]


def _matches(e: Escalation, filters: dict[str, str]) -> bool:
    return all(not filters.get(name) or _value(e, name) == filters[name] for name in FILTERS)


def _choices(escalations: list[Escalation]) -> dict[str, list[str]]:
    return {name: sorted({_value(e, name) for e in escalations} - {""}) for name in FILTERS}


def _level_order(level: str) -> tuple:
    return (level == "unassigned", level)
