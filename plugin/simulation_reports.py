"""Simulation and replay reports kept in the main database, read by the dashboard's /simulations.

`escalator simulate` and `escalator replay` hand their report to `keep_report` (the simulator knows
no database); the page's own form runs a small simulation through `simulate_and_record`.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from .domain.errors import EscalatorError
from .settings import Settings, mask_password
from .store.simulation_runs import SimulationRun, SimulationRunRepository

# A report keeps this many tickets' rows (a simulation's per-ticket results, a replay's changed
# tickets); the figures are computed from all of them first. A month of 10,000 incidents would
# otherwise put megabytes in one row for a table nobody reads to the end.
KEPT_TICKETS = 2000
# What the page's form may ask for: small enough to finish in seconds on a shared machine.
MAX_FORM_INCIDENTS, MAX_FORM_DAYS = 2000, 31
DEFAULT_START = "2026-01-05"
log = logging.getLogger(__name__)


class ReportNotKept(EscalatorError):
    """The database could not take the report; the message is one line saying why."""


def open_repository(settings: Settings | None = None) -> SimulationRunRepository:
    """The reports of the main database the settings name (created or upgraded like the store's)."""
    from .store.sql import SqlStore
    settings = settings or Settings.from_env()
    if not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return SimulationRunRepository(SqlStore(settings.database).engine)


def keep_report(kind: str, params: dict, summary: dict, details: dict, *, loaded_into_db: int = 0,
                settings: Settings | None = None, now: Callable[[], datetime] | None = None) -> int:
    """Store a report from the CLI in the configured database; its id, or ReportNotKept with the reason."""
    try:
        settings = settings or Settings.from_env()
        repo = open_repository(settings)
    except EscalatorError as exc:
        raise ReportNotKept(_first_line(exc)) from exc
    except Exception as exc:    # any driver error: which database and why, never a traceback
        raise ReportNotKept(f"cannot open the database {mask_password(settings.database)} "
                            f"({type(exc).__name__}: {_first_line(exc)})") from exc
    try:
        run = report_run(kind, params, summary, details, loaded_into_db=loaded_into_db,
                         created_at=(now or _utcnow)())
        return repo.record(run).id
    except Exception as exc:
        raise ReportNotKept(f"cannot write to the database {mask_password(settings.database)} "
                            f"({type(exc).__name__}: {_first_line(exc)})") from exc
    finally:
        repo.engine.dispose()


def report_run(kind: str, params: dict, summary: dict, details: dict, *, loaded_into_db: int = 0,
               created_at: datetime) -> SimulationRun:
    """The stored form of a report: its title, its headline figures, and at most KEPT_TICKETS rows."""
    if kind == "simulate":
        tickets = details.get("tickets", {})
        summary = {**summary, "headline": headline(summary, tickets)}
        details = {"tickets": _first(tickets), "total": len(tickets)}
        version = summary.get("matrix_version", "")
    else:
        summary = _replay_summary(summary, details)
        details = {"changed": _first(details.get("changed", {})), "total": len(details.get("changed", {})),
                   "aggregate": details.get("aggregate", {})}
        version = params.get("candidate_version", "")
    return SimulationRun(kind, title(kind, params), params, summary, version, created_at, details=details,
                         loaded_into_db=loaded_into_db)


def title(kind: str, params: dict) -> str:
    if kind == "replay":
        source = (f"deliveries from {Path(params['from']).name}" if params.get("from") else
                  f"{counted(params['incidents'], 'incident')} over {counted(params['days'], 'day')}, "
                  f"seed {params['seed']}")
        return f"Rule change: {params['candidate']} against {params['baseline']} ({source})"
    return (f"Simulation: {counted(params['incidents'], 'incident')} over {counted(params['days'], 'day')}, "
            f"seed {params['seed']}")


def counted(n: int, word: str) -> str:
    """`1 day`, `7 days`, `2,000 incidents`."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# -- headline figures -----------------------------------------------------------------------------

def headline(summary: dict, tickets: dict[str, dict]) -> dict:
    """The four figures a list of runs shows, each defined as on the run's page."""
    return {"mtta_minutes": summary.get("mtta_minutes"), "mttr_hours": summary.get("mttr_hours"),
            "escalation_rate": escalation_rate(tickets), "sla_attainment": attainment(summary)}


def escalation_rate(tickets: dict[str, dict]) -> float | None:
    """Share of tickets that ended beyond L1."""
    if not tickets:
        return None
    return round(sum(t.get("level") not in ("", "L1", None) for t in tickets.values()) / len(tickets), 3)


def attainment(summary: dict) -> float | None:
    """Deadlines met over deadlines met or missed, every timer together (cadences are neither)."""
    rows = summary.get("sla_attainment", {}).values()
    met, decided = sum(r["met"] for r in rows), sum(r["met"] + r["missed"] for r in rows)
    return round(met / decided, 3) if decided else None


def _replay_summary(summaries: dict, diff: dict) -> dict:
    """Both sides' figures and what changed, counted per field over every ticket (not only the kept ones)."""
    changed = diff.get("changed", {})
    by_field: dict[str, int] = {}
    for fields in changed.values():
        for name in fields:
            by_field[name] = by_field.get(name, 0) + 1
    aggregate = diff.get("aggregate", {})
    sides = {}
    for side, index in (("baseline", 0), ("candidate", 1)):
        figures = summaries.get(side, {})
        escalated = aggregate.get("escalations", [None, None])[index]
        rate = round(escalated / diff["tickets"], 3) if escalated is not None and diff.get("tickets") else None
        sides[side] = {**figures, "headline": {"mtta_minutes": figures.get("mtta_minutes"),
                                               "mttr_hours": figures.get("mttr_hours"),
                                               "escalation_rate": rate, "sla_attainment": attainment(figures)}}
    return {**sides, "tickets": diff.get("tickets", 0), "changed": len(changed),
            "changed_by_field": dict(sorted(by_field.items())), "headline": sides["candidate"]["headline"]}


def _first(rows: dict) -> dict:
    return dict(list(rows.items())[:KEPT_TICKETS])


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _utcnow() -> datetime:
    return datetime.now(UTC)


# -- the page's own simulations ------------------------------------------------------------------

def simulate_and_record(repo: SimulationRunRepository, *, incidents: int, days: int, seed: int, rules: str,
                        engine: str, created_at: datetime, start: str = DEFAULT_START,
                        started_by: str = "") -> SimulationRun:
    """Run a small simulation as `escalator simulate` would, and keep its report."""
    from simulator.cli import simulation_summary
    from simulator.generator import generate
    from simulator.replay import replay
    from simulator.report import per_ticket

    first = datetime.fromisoformat(start).replace(tzinfo=UTC)
    deliveries = generate(seed=seed, incidents=incidents, days=days, start=first)
    result = replay(deliveries, rules, engine=engine, lean=True, consume=True)
    summary = simulation_summary(result, seed, incidents, days, start)
    params = {"seed": seed, "incidents": incidents, "days": days, "start": start, "rules": str(rules),
              "engine": engine, "started_by": started_by}
    run = report_run("simulate", params, summary, {"tickets": per_ticket(result.store, result.ended)},
                     created_at=created_at)
    return repo.record(run)


def form_problems(incidents: int | None, days: int | None, seed: int | None) -> list[str]:
    """What is wrong with a simulation asked for from the page, each in words."""
    problems = []
    if incidents is None or not 1 <= incidents <= MAX_FORM_INCIDENTS:
        problems.append(f"incidents must be a whole number from 1 to {MAX_FORM_INCIDENTS:,}")
    if days is None or not 1 <= days <= MAX_FORM_DAYS:
        problems.append(f"days must be a whole number from 1 to {MAX_FORM_DAYS}")
    if seed is None or not 0 <= seed < 2**31:
        problems.append("seed must be a whole number from 0 to 2147483647")
    return problems



class PageSimulations:
    """Simulations started from the dashboard: one at a time per process, each in a thread of its own,
    so the request that starts one answers at once and a second click cannot pile up CPU work."""

    def __init__(self, repo: SimulationRunRepository, rules: str, now: Callable[[], datetime],
                 run: Callable[..., SimulationRun] = simulate_and_record):
        self.repo, self.rules, self.now, self._run = repo, rules, now, run
        self._lock = threading.Lock()
        self.running: dict | None = None        # what is being simulated, by whom, since when
        self.last: dict | None = None           # how the last one ended: its run id, or why it failed
        self._thread: threading.Thread | None = None

    def start(self, *, incidents: int, days: int, seed: int, by: str) -> bool:
        """Start one in the background; False when one is already running here."""
        with self._lock:
            if self.running is not None:
                return False
            self.running = {"incidents": incidents, "days": days, "seed": seed, "by": by,
                            "started_at": self.now()}
            self._thread = threading.Thread(target=self._simulate, args=(dict(self.running),),
                                            name="page-simulation", daemon=True)
            self._thread.start()
        return True

    def wait(self, timeout: float | None = None) -> None:
        """Until the running simulation is done (for tests and an orderly shutdown)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _simulate(self, asked: dict) -> None:
        try:
            # The Python backend: durable_rules keeps one host per process, which the live matrix uses.
            run = self._run(self.repo, incidents=asked["incidents"], days=asked["days"], seed=asked["seed"],
                            rules=self.rules, engine="python", created_at=self.now(), started_by=asked["by"])
            outcome = {"run": run.id}
        except Exception as exc:        # a broken matrix or storage: shown on the page, logged here
            log.exception("the simulation started from the dashboard failed")
            outcome = {"error": f"{type(exc).__name__}: {_first_line(exc)}"}
        with self._lock:
            self.last = {**asked, **outcome, "finished_at": self.now()}
            self.running = None
