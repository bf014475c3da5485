"""Trainees' drill history in the main database, and what each should practise next.

`escalator drill` calls `record_drill` when a drill ends and `next_scenario` for `--next`; the
API and `escalator trainee` read `report`.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from simulator.drills.onboarding import difficulty, history_row, mastery, objectives_of, pick_next, progress
from simulator.scenarios import Scenario, ScenarioError, load_scenario, scenario_files

from .settings import Settings
from .store.drills import DrillRepository


def open_repository(settings: Settings | None = None) -> DrillRepository:
    """The drill sessions of the main database the settings name (created or upgraded like the store's)."""
    from .store.sql import SqlStore
    settings = settings or Settings.from_env()
    if not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return DrillRepository(SqlStore(settings.database).engine)


def record_drill(run_json: dict, trainees: dict[str, str], finished_at: datetime, *,
                 settings: Settings | None = None, repo: DrillRepository | None = None) -> int:
    """Store a finished drill (`DrillRun.to_json()`) in its trainees' history; returns its id."""
    repo = repo or open_repository(settings)
    return repo.record(run_json, trainees, finished_at)


def next_scenario(trainee: str, scenarios_dir: str | Path, *, settings: Settings | None = None,
                  repo: DrillRepository | None = None) -> Path:
    """The scenario file that trains what `trainee` missed most (the easiest unplayed one for a newcomer)."""
    repo = repo or open_repository(settings)
    scenarios = loadable(scenarios_dir)
    if not scenarios:
        raise ScenarioError([f"{scenarios_dir}: no scenario loads here"])
    return pick_next(history(repo, trainee), scenarios).path


def history(repo: DrillRepository, trainee: str) -> list[dict]:
    """One row per finished drill of the trainee, oldest first, scored on the trainee's own role."""
    return [{**history_row(s.result or {}, trainee, s.finished_at.isoformat()), "session": s.id}
            for s in repo.history(trainee)]


def report(repo: DrillRepository, trainee: str, scenarios: list[Scenario]) -> dict:
    """Progress over time and the scenario to practise next, with why."""
    rows = history(repo, trainee)
    body = {"trainee": trainee, **progress(rows), "next": None}
    if scenarios:
        chosen = pick_next(rows, scenarios)
        body["next"] = {"file": chosen.path.name, "name": chosen.name, "difficulty": difficulty(chosen),
                        "objectives": objectives_of(chosen, rows), "why": _why(chosen, rows)}
    return body


def _why(chosen: Scenario, rows: list[dict]) -> str:
    trains, known = objectives_of(chosen, rows), mastery(rows)
    if not rows:
        return f"a first drill: {difficulty(chosen)}" + (f", trains {', '.join(trains)}" if trains else "")
    if not trains:
        return "not played yet"
    scored = [f"{o} {known[o]:.0%}" for o in trains if o in known]
    return f"trains {', '.join(trains)}" + (f"; mastery so far: {', '.join(scored)}" if scored else "; new to you")


def loadable(scenarios_dir: str | Path) -> list[Scenario]:
    """The scenarios of a directory that load; a broken one is left out (`escalator test` names it)."""
    found = []
    for path in scenario_files(scenarios_dir):
        try:
            found.append(load_scenario(path))
        except ScenarioError:
            continue
    return found
