"""What a replay did, as the numbers a support lead reads: volume, escalation rate, MTTA, MTTR,
SLA attainment, dwell time per level, load per owner."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from statistics import mean

from plugin.domain.timers import Timer
from plugin.insights import MET, MISSED, acknowledged_after, judged
from plugin.store.memory import MemoryStore
from plugin.store.rows import timer_of


def summarize(store: MemoryStore, ended: datetime) -> dict:
    tickets = list(store.tickets.values())
    return {
        "tickets": len(tickets),
        "volume_by_severity": dict(sorted(Counter(t["severity"] or "none" for t in tickets).items())),
        "escalation_rate_by_area": _escalation_rate(tickets),
        "mtta_minutes": _minutes(_ack_times(store)),
        "mttr_hours": _hours(_resolution_times(store)),
        "sla_attainment": _attainment(store, ended),
        "dwell_hours_by_level": _dwell(store, ended),
        "load_by_owner": dict(Counter(t["owner"] or "unowned" for t in tickets).most_common()),
        "writes": dict(sorted(store.writes.items())),
    }


def per_ticket(store: MemoryStore, ended: datetime) -> dict[str, dict]:
    """What each ticket ended with, and when it was first paged beyond L1: what a rule change moves."""
    out = {}
    for (platform, key), row in sorted(store.tickets.items()):
        log = store.log_by_ticket.get((platform, key), [])
        paged = next((e["at"] for e in log if e["changes"].get("level", ["", ""])[1] not in ("", "L1")), None)
        breaches = sorted(t["name"] for t in store.timers_of(platform, key) if _missed(timer_of(t), ended))
        out[f"{platform}/{key}"] = {"severity": row["severity"], "level": row["level"], "owner": row["owner"],
                                    "first_page": paged.isoformat() if paged else None, "breaches": breaches}
    return out


def _escalation_rate(tickets) -> dict[str, float]:
    by_area = defaultdict(list)
    for t in tickets:
        by_area[t["snapshot"].get("product_area") or "unknown"].append(t["level"] not in ("", "L1"))
    return {area: round(sum(flags) / len(flags), 3) for area, flags in sorted(by_area.items())}


def _ack_times(store: MemoryStore) -> list[float]:
    times = (acknowledged_after(timer_of(row)) for row in store.timers.values())
    return [seconds for seconds in times if seconds is not None]


def _resolution_times(store: MemoryStore) -> list[float]:
    times = []
    for (platform, key), log in store.log_by_ticket.items():
        resolved = next((e["at"] for e in log if e["event_kind"] == "resolved"), None)
        if resolved is not None:
            times.append((resolved - store.tickets[(platform, key)]["created_at"]).total_seconds())
    return times


def _missed(timer: Timer, ended: datetime) -> bool:
    return judged(timer, ended) == MISSED


def _attainment(store: MemoryStore, ended: datetime) -> dict[str, dict]:
    """Met and missed deadlines by timer, judged as the dashboard's insights judge them."""
    met, missed = Counter(), Counter()
    for row in store.timers.values():
        timer = timer_of(row)
        verdict = judged(timer, ended)
        if verdict == MISSED:
            missed[timer.name] += 1
        elif verdict == MET:
            met[timer.name] += 1
    return {name: {"met": met[name], "missed": missed[name],
                   "rate": round(met[name] / (met[name] + missed[name]), 3)}
            for name in sorted(set(met) | set(missed))}


def _dwell(store: MemoryStore, ended: datetime) -> dict[str, float]:
    spent = defaultdict(list)
    for log in store.log_by_ticket.values():
        level, since = None, None
        for entry in log:
            change = entry["changes"].get("level")
            if change:
                if level and since:
                    spent[level].append((entry["at"] - since).total_seconds())
                level, since = change[1], entry["at"]
            if entry["event_kind"] == "resolved" and level and since:
                spent[level].append((entry["at"] - since).total_seconds())
                level = None
        if level and since:
            spent[level].append((ended - since).total_seconds())
    return {level: round(mean(values) / 3600, 2) for level, values in sorted(spent.items())}


def _minutes(seconds: list[float]) -> float | None:
    return round(mean(seconds) / 60, 1) if seconds else None


def _hours(seconds: list[float]) -> float | None:
    return round(mean(seconds) / 3600, 2) if seconds else None
