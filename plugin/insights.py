"""The team lead's figures for a period: volume, escalation rate, MTTA, MTTR, SLA attainment, dwell,
CSAT by escalation path and bottlenecks, each with its definition and what it left out.

Pure: plain facts in (read by `store.insights_sql`), JSON-ready dicts out. A period holds the tickets
opened in it; each is followed until `now`, so a ticket opened late in the period still counts
once it is resolved. Acknowledged = the `ack` timer stopped; resolved = the first `resolved` entry.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from math import fsum
from statistics import median

from .domain.errors import EscalatorError
from .domain.timers import STOPPED, Timer
from .platforms import parse

MET, MISSED = "met", "missed"
UNKNOWN = "unknown"
NONE = "none"
FIRST_LEVEL = "L1"                   # the shipped matrix's entry level; a matrix may name its own
DAILY_UP_TO = timedelta(days=62)     # longer periods are drawn week by week
TOP = 5                              # bottlenecks listed
RATINGS_REMEMBERED = 200_000         # parsed ratings kept by body digest (some 30 MB at most)
_RATED: dict[tuple[str, bytes], bool | None] = {}

DEFINITIONS = {
    "volume": ("Tickets opened in the period, by the severity they have now.", "none"),
    "escalation_rate": ("Share of tickets that reached L2 or above at any time, by product area.",
                        "tickets the matrix never gave a level"),
    "mtta": ("Mean time from the ack timer's start to its stop (the ticket acknowledged), by severity.",
             "tickets never acknowledged (no ack timer, or one still running or breached unanswered)"),
    "mttr": ("Mean time from opening to the first resolution, by severity.", "tickets not resolved yet"),
    "sla": ("Deadline timers met (stopped in time) or missed (stopped late, or running past the deadline), "
            "by timer and the level the ticket was at when the timer started.",
            "timers still running within their deadline, paused timers and update cadences"),
    "dwell": ("Mean time a ticket stays at a level before it moves or is resolved; a ticket still there "
              "counts until now.", "none"),
    "csat": ("Share of good ratings (good, or 4-5 of 5) given after the ticket was resolved, by the levels "
             "the ticket went through.", "ratings given before the ticket was resolved"),
    "bottlenecks": ("Owners and product areas whose tickets wait longest: mean time a ticket stays with an "
                    "owner, and mean dwell per level in an area.", "none"),
}


@dataclass(frozen=True)
class Period:
    """Tickets opened from `since` (included) to `until` (excluded)."""
    since: datetime
    until: datetime

    def previous(self) -> Period:
        return Period(self.since - (self.until - self.since), self.since)

    def __post_init__(self):
        if self.until <= self.since:
            raise ValueError("a period ends after it starts")


@dataclass(frozen=True)
class TicketFact:
    platform: str
    key: str
    severity: str
    level: str
    owner: str
    area: str
    created_at: datetime


@dataclass(frozen=True)
class LogFact:
    """One log entry as the figures read it: what it changed of level and owner (None: unchanged)."""
    platform: str
    key: str
    at: datetime
    event_kind: str
    level: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class RatingFact:
    platform: str
    key: str
    at: datetime
    good: bool


@dataclass(frozen=True)
class Facts:
    tickets: Sequence[TicketFact]
    log: Sequence[LogFact] = ()                       # in time order per ticket
    timers: Sequence[tuple[str, str, Timer]] = ()    # (platform, key, timer)
    ratings: Sequence[RatingFact] = ()
    cadences: int = 0                                # recurring timers not listed in `timers`, only counted


@dataclass
class _Story:
    """One ticket's history as the figures need it."""
    ticket: TicketFact
    levels: list[tuple[datetime, str]] = field(default_factory=list)     # (since, level)
    level_spans: list[tuple[str, float]] = field(default_factory=list)   # (level, seconds)
    owner_spans: list[tuple[str, float]] = field(default_factory=list)   # (owner, seconds)
    resolved_at: datetime | None = None

    @property
    def path(self) -> str:
        visited = [level for _, level in self.levels if level]
        return " → ".join(level for i, level in enumerate(visited) if i == 0 or visited[i - 1] != level) or NONE

    def escalated(self, first_level: str) -> bool:
        """Whether the ticket was ever at a level beyond the first."""
        return any(level not in ("", first_level) for _, level in self.levels) or \
            self.ticket.level not in ("", first_level)

    def level_at(self, at: datetime) -> str:
        current = self.levels[0][1] if self.levels else self.ticket.level
        for since, level in self.levels:
            if since > at:
                break
            current = level
        return current or NONE


def figures(facts: Facts, period: Period, now: datetime, first_level: str = FIRST_LEVEL) -> dict:
    """Every figure of the page for the tickets of `facts` (those opened in `period`); a ticket beyond
    `first_level` at any time counts as escalated."""
    stories = _stories(facts, now)
    ack = _ack_seconds(facts.timers, stories)
    return {
        "period": {"since": period.since.isoformat(), "until": period.until.isoformat(), "tickets": len(stories)},
        "volume": _volume(stories),
        "escalation_rate": _escalation_rate(stories, first_level),
        "mtta": _by_severity_over_time("mtta", stories, ack, period, 60),
        "mttr": _by_severity_over_time("mttr", stories, _resolve_seconds(stories), period, 3600),
        "sla": _sla(facts.timers, stories, now, facts.cadences),
        "dwell": _dwell(stories),
        "csat": _csat(facts.ratings, stories),
        "bottlenecks": _bottlenecks(stories),
    }


def headline(result: dict) -> dict:
    """The few numbers compared with the previous period."""
    sla_met = sum(row["met"] for row in result["sla"]["rows"])
    sla_judged = sla_met + sum(row["missed"] for row in result["sla"]["rows"])
    return {"tickets": result["volume"]["total"], "escalation_rate": result["escalation_rate"]["overall"],
            "mtta_minutes": result["mtta"]["overall"], "mttr_hours": result["mttr"]["overall"],
            "sla_attainment": _ratio(sla_met, sla_judged), "csat": result["csat"]["overall"]}


def compared(current: dict, previous: dict) -> dict:
    """Each headline now, before, and the change (None where either side has no value)."""
    now, before = headline(current), headline(previous)
    return {name: {"current": now[name], "previous": before[name],
                   "change": None if now[name] is None or before[name] is None else round(now[name] - before[name], 3)}
            for name in now}


def good_rating(platform: str, body: bytes, headers: dict) -> bool | None:
    """A satisfaction delivery read again: good (good, or 4-5 of 5), bad, or None when it holds no rating.
    A delivery never changes, so each body is parsed once per process (remembered by its digest)."""
    digest = (platform, hashlib.blake2b(body, digest_size=16).digest())
    if digest not in _RATED:
        if len(_RATED) >= RATINGS_REMEMBERED:
            _RATED.clear()
        _RATED[digest] = _parsed_rating(platform, body, headers)
    return _RATED[digest]


def _parsed_rating(platform: str, body: bytes, headers: dict) -> bool | None:
    try:
        event = parse(platform, json.loads(body), headers)
    except (EscalatorError, ValueError, RecursionError):    # a parser that changed since: no rating
        return None
    rating = event.satisfaction if event is not None else None
    if rating is None:
        return None
    return rating.score >= 4 if rating.score is not None else rating.rating == "good"


# -- stories ------------------------------------------------------------------------------------

def _stories(facts: Facts, now: datetime) -> dict[tuple[str, str], _Story]:
    stories = {(t.platform, t.key): _Story(t) for t in facts.tickets}
    entries = defaultdict(list)
    for entry in facts.log:
        if (entry.platform, entry.key) in stories:
            entries[(entry.platform, entry.key)].append(entry)
    for ref, story in stories.items():
        _follow(story, sorted(entries[ref], key=lambda e: e.at), now)
    return stories


def _follow(story: _Story, log: list[LogFact], now: datetime) -> None:
    """Level and owner spans from the log: a span ends at the next change or at a resolution."""
    level = owner = None
    level_since = owner_since = story.ticket.created_at
    for entry in log:
        if entry.level is not None:
            if level:
                story.level_spans.append((level, _seconds(level_since, entry.at)))
            level, level_since = entry.level, entry.at
            story.levels.append((entry.at, entry.level))
        if entry.owner is not None:
            if owner:
                story.owner_spans.append((owner, _seconds(owner_since, entry.at)))
            owner, owner_since = entry.owner, entry.at
        if entry.event_kind == "resolved":
            story.resolved_at = story.resolved_at or entry.at
            if level:
                story.level_spans.append((level, _seconds(level_since, entry.at)))
            if owner:
                story.owner_spans.append((owner, _seconds(owner_since, entry.at)))
            level = owner = None
    if level:
        story.level_spans.append((level, _seconds(level_since, now)))
    if owner:
        story.owner_spans.append((owner, _seconds(owner_since, now)))


def _seconds(start: datetime, end: datetime) -> float:
    return max((end - start).total_seconds(), 0.0)


# -- the figures --------------------------------------------------------------------------------

def _figure(name: str, excluded: int, **values) -> dict:
    definition, what = DEFINITIONS[name]
    return {"definition": definition, "excluded": {"count": excluded, "what": what}, **values}


def _volume(stories) -> dict:
    counts = Counter(s.ticket.severity or NONE for s in stories.values())
    return _figure("volume", 0, total=len(stories), by_severity=dict(sorted(counts.items())))


def _escalation_rate(stories, first_level: str) -> dict:
    by_area = defaultdict(list)
    unleveled = 0
    for story in stories.values():
        if not story.levels and not story.ticket.level:
            unleveled += 1
            continue
        by_area[story.ticket.area or UNKNOWN].append(story.escalated(first_level))
    rows = {area: {"tickets": len(flags), "escalated": sum(flags), "rate": _ratio(sum(flags), len(flags))}
            for area, flags in sorted(by_area.items())}
    flags = [flag for area in by_area.values() for flag in area]
    return _figure("escalation_rate", unleveled, overall=_ratio(sum(flags), len(flags)), by_area=rows)


def _ack_seconds(timers: Iterable[tuple[str, str, Timer]], stories) -> dict[tuple[str, str], float]:
    acked = {}
    for platform, key, timer in timers:
        seconds = acknowledged_after(timer)
        if seconds is not None and (platform, key) in stories:
            acked[(platform, key)] = seconds
    return acked


def _resolve_seconds(stories) -> dict[tuple[str, str], float]:
    return {ref: _seconds(s.ticket.created_at, s.resolved_at) for ref, s in stories.items() if s.resolved_at}


def _by_severity_over_time(name: str, stories, seconds: dict, period: Period, unit: int) -> dict:
    """Mean and median per severity for the period, and the mean per day (or week) of opening."""
    step = timedelta(days=1) if period.until - period.since <= DAILY_UP_TO else timedelta(days=7)
    buckets = _buckets(period, step)
    per_severity, series = defaultdict(list), defaultdict(lambda: defaultdict(list))
    for ref, value in seconds.items():
        ticket = stories[ref].ticket
        severity = ticket.severity or NONE
        per_severity[severity].append(value)
        series[severity][int((ticket.created_at - period.since) / step)].append(value)
    all_values = [v for values in per_severity.values() for v in values]
    return _figure(name, len(stories) - len(seconds), unit="minutes" if unit == 60 else "hours",
                   overall=_mean(all_values, unit), step="day" if step.days == 1 else "week",
                   by_severity={sev: {"count": len(v), "mean": _mean(v, unit), "median": _median(v, unit)}
                                for sev, v in sorted(per_severity.items())},
                   series={sev: [[start.date().isoformat(), _mean(by_bucket.get(i, []), unit)]
                                 for i, start in enumerate(buckets)]
                           for sev, by_bucket in sorted(series.items())})


def _buckets(period: Period, step: timedelta) -> list[datetime]:
    starts, at = [], period.since
    while at < period.until:
        starts.append(at)
        at += step
    return starts


def judged(timer: Timer, now: datetime) -> str | None:
    """MET: stopped by its deadline. MISSED: stopped late, or still running past it at `now`. None: running
    within its deadline, paused, or an update cadence (whose lapses are logged, not missed)."""
    if timer.recurring:
        return None
    if timer.breached_at(now):
        return MISSED
    return MET if timer.state == STOPPED else None


def acknowledged_after(timer: Timer) -> float | None:
    """Seconds from the ack timer's start to its stop; None for another timer or one never stopped."""
    if timer.name != "ack" or timer.state != STOPPED or not timer.stopped_at:
        return None
    return _seconds(timer.started_at, timer.stopped_at)


def _sla(timers, stories, now: datetime, cadences: int) -> dict:
    met, missed, left_out = Counter(), Counter(), cadences
    for platform, key, timer in timers:
        story = stories.get((platform, key))
        if story is None:
            continue
        group, verdict = (timer.name, story.level_at(timer.started_at)), judged(timer, now)
        if verdict == MISSED:
            missed[group] += 1
        elif verdict == MET:
            met[group] += 1
        else:
            left_out += 1
    rows = [{"timer": name, "level": level, "met": met[(name, level)], "missed": missed[(name, level)],
             "rate": _ratio(met[(name, level)], met[(name, level)] + missed[(name, level)])}
            for name, level in sorted(set(met) | set(missed))]
    return _figure("sla", left_out, rows=rows)


def _dwell(stories) -> dict:
    spans = defaultdict(list)
    for story in stories.values():
        for level, seconds in story.level_spans:
            spans[level].append(seconds)
    return _figure("dwell", 0, unit="hours", by_level={
        level: {"count": len(v), "mean": _mean(v, 3600), "median": _median(v, 3600)}
        for level, v in sorted(spans.items())})


def _csat(ratings: Iterable[RatingFact], stories) -> dict:
    """The last rating each ticket got after its resolution, grouped by the ticket's path."""
    last, early = {}, 0
    for rating in sorted(ratings, key=lambda r: r.at):
        story = stories.get((rating.platform, rating.key))
        if story is None:
            continue
        if story.resolved_at is None or rating.at < story.resolved_at:
            early += 1
        else:
            last[(rating.platform, rating.key)] = rating.good
    by_path = defaultdict(list)
    for ref, good in last.items():
        by_path[stories[ref].path].append(good)
    goods = list(last.values())
    return _figure("csat", early, overall=_ratio(sum(goods), len(goods)), rated=len(goods),
                   by_path={path: {"rated": len(v), "good": sum(v), "rate": _ratio(sum(v), len(v))}
                            for path, v in sorted(by_path.items())})


def _bottlenecks(stories) -> dict:
    owners, areas = defaultdict(list), defaultdict(list)
    for story in stories.values():
        for owner, seconds in story.owner_spans:
            owners[owner or "unowned"].append(seconds)
        for _level, seconds in story.level_spans:
            areas[story.ticket.area or UNKNOWN].append(seconds)
    return _figure("bottlenecks", 0, unit="hours", owners=_longest(owners), areas=_longest(areas))


def _longest(spans: dict[str, list[float]]) -> list[dict]:
    rows = [{"name": name, "count": len(v), "mean": _mean(v, 3600)} for name, v in spans.items()]
    return sorted(rows, key=lambda row: (-row["mean"], row["name"]))[:TOP]


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _mean(values: list[float], unit: int) -> float | None:
    return round(fsum(values) / len(values) / unit, 2) if values else None     # statistics.mean is exact, and slow


def _median(values: list[float], unit: int) -> float | None:
    return round(median(values) / unit, 2) if values else None
