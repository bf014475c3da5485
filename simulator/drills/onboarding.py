"""The onboarding path: which scenario a trainee should play next, and how they are doing.

Pure functions over a trainee's history, one row per finished drill:
`{"scenario": file name, "score": 0-100, "objectives": {objective: {"earned", "possible"}},
"finished_at": datetime or ISO text, "role": role}`. Recent drills count more than old ones, so a
trainee who has learnt something stops being sent to practise it.
"""
from __future__ import annotations

from datetime import datetime

from ..scenarios import Scenario
from .actions import SOLO
from .scoring import OBJECTIVES

DIFFICULTIES = ("beginner", "intermediate", "advanced")
DEFAULT_DIFFICULTY = "intermediate"         # the scenario schema's default
RECENCY = 0.7       # each newer drill makes an older one count this much less
UNKNOWN = 0.5       # the mastery assumed of an objective never assessed: neither strong nor weak
TREND_FLAT = 0.05   # a change in an objective's share smaller than this is no trend


def history_row(result: dict, trainee: str, finished_at: datetime | str) -> dict:
    """A trainee's row from a finished drill's `DrillRun.to_json()`: with several trainees, only the
    expectations of the trainee's own role count."""
    role = result.get("trainees", {}).get(trainee, SOLO)
    mine = [e for e in result.get("expectations", []) if role == SOLO or e.get("role") == role]
    objectives: dict[str, dict] = {}
    for e in mine:
        tally = objectives.setdefault(e["objective"], {"earned": 0, "possible": 0})
        tally["possible"] += e["weight"]
        tally["earned"] += e["weight"] if e["passed"] else 0
    score = result.get("roles", {}).get(role, {}).get("score", result.get("score", 0.0))
    if role == SOLO or not mine:
        objectives = objectives or dict(result.get("objectives", {}))
    return {"scenario": result.get("file", ""), "score": score, "role": role,
            "objectives": {k: objectives[k] for k in _ordered(objectives)}, "finished_at": finished_at}


def mastery(history: list[dict]) -> dict[str, float]:
    """Per objective assessed, earned/possible over the history, each drill weighted by its recency."""
    earned: dict[str, float] = {}
    possible: dict[str, float] = {}
    for age, row in enumerate(reversed(_by_time(history))):
        weight = RECENCY ** age
        for objective, tally in row.get("objectives", {}).items():
            if tally.get("possible"):
                earned[objective] = earned.get(objective, 0.0) + weight * tally["earned"]
                possible[objective] = possible.get(objective, 0.0) + weight * tally["possible"]
    return {objective: earned[objective] / possible[objective] for objective in _ordered(possible)}


def pick_next(history: list[dict], scenarios: list[Scenario]) -> Scenario:
    """The scenario that trains what the trainee missed most; among equals the one played least,
    then the easiest, then by file name. A new trainee gets the easiest unplayed scenario."""
    if not scenarios:
        raise ValueError("there are no scenarios to choose from")
    known = mastery(history)
    played: dict[str, int] = {}
    for row in history:
        played[row["scenario"]] = played.get(row["scenario"], 0) + 1

    def need(scenario: Scenario) -> float:
        trained = objectives_of(scenario, history)
        if not trained:
            return 1 - UNKNOWN
        return sum(1 - known.get(objective, UNKNOWN) for objective in trained) / len(trained)

    return min(scenarios, key=lambda s: (-round(need(s), 9), played.get(s.path.name, 0),
                                         DIFFICULTIES.index(difficulty(s)), s.path.name))


def difficulty(scenario: Scenario) -> str:
    return scenario.drill.get("difficulty", DEFAULT_DIFFICULTY)


def objectives_of(scenario: Scenario, history: list[dict] = ()) -> list[str]:
    """What a scenario trains: as it declares, else what its drills were scored on so far."""
    declared = scenario.drill.get("objectives")
    if declared:
        return list(declared)
    seen = {o for row in history if row["scenario"] == scenario.path.name for o in row.get("objectives", {})}
    return _ordered(seen)


def progress(history: list[dict]) -> dict:
    """Drills played, the score over time, and per objective earned/possible (recency-weighted
    mastery too) with its trend: the latest drill's share against the ones before it."""
    rows = _by_time(history)
    known = mastery(rows)
    objectives = {}
    for objective in known:
        shares = [_share(row, objective) for row in rows if _share(row, objective) is not None]
        earned = sum(row["objectives"][objective]["earned"] for row in rows if objective in row["objectives"])
        possible = sum(row["objectives"][objective]["possible"] for row in rows if objective in row["objectives"])
        objectives[objective] = {"earned": earned, "possible": possible, "mastery": round(known[objective], 3),
                                 "drills": len(shares), **_trend(shares)}
    scores = [row["score"] for row in rows]
    return {
        "drills": len(rows),
        "scores": [{"finished_at": _text(row["finished_at"]), "scenario": row["scenario"], "score": row["score"],
                    "role": row.get("role", SOLO)} for row in rows],
        "average": round(sum(scores) / len(scores), 1) if scores else None,
        "latest": scores[-1] if scores else None,
        "objectives": objectives,
        "weakest": sorted(known, key=lambda o: (known[o], _ordered(known).index(o)))[:3],
    }


def _trend(shares: list[float]) -> dict:
    if len(shares) < 2:
        return {"trend": None, "direction": "new"}
    delta = shares[-1] - sum(shares[:-1]) / len(shares[:-1])
    direction = "flat" if abs(delta) < TREND_FLAT else ("up" if delta > 0 else "down")
    return {"trend": round(delta, 3), "direction": direction}


def _share(row: dict, objective: str) -> float | None:
    tally = row.get("objectives", {}).get(objective)
    return tally["earned"] / tally["possible"] if tally and tally.get("possible") else None


def _by_time(history: list[dict]) -> list[dict]:
    return sorted(history, key=lambda row: _when(row["finished_at"]))     # stable: equal times keep their order


def _when(value: datetime | str) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _text(value: datetime | str) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _ordered(objectives) -> list[str]:
    """Objectives in the scoring's order, any unknown one after them by name."""
    return sorted(objectives, key=lambda o: (OBJECTIVES.index(o) if o in OBJECTIVES else len(OBJECTIVES), o))
