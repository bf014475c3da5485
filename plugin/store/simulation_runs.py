"""Simulation and replay reports kept in the main database, for the dashboard's /simulations page.

A report is written once and never changed: what `escalator simulate` or `escalator replay` (or the
page's own form) measured, with the parameters that reproduce it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text, func, insert, select
from sqlalchemy.engine import Engine

from .schema import UtcDateTime, metadata

KINDS = ("simulate", "replay")

simulation_runs = Table(
    "simulation_runs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),             # simulate | replay
    Column("title", Text, nullable=False),
    Column("params", JSON, nullable=False),                 # seed, incidents, days, start, rules, engine, ...
    Column("summary", JSON, nullable=False),                # what the run measured (simulator.report)
    Column("details", JSON, nullable=False),                # per-ticket results or a rule-change diff
    Column("matrix_version", String(32), nullable=False),
    Column("loaded_into_db", Integer, nullable=False, default=0),   # tickets it wrote as simulated (--into-db)
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_simulation_runs_created_at", "created_at"),
)


@dataclass(frozen=True)
class SimulationRun:
    kind: str
    title: str
    params: dict
    summary: dict
    matrix_version: str
    created_at: datetime
    details: dict | None = field(default=None)      # None when read for a list, where it is left out
    loaded_into_db: int = 0
    id: int | None = None

    def to_json(self) -> dict:
        body = {"id": self.id, "kind": self.kind, "title": self.title, "params": self.params,
                "summary": self.summary, "matrix_version": self.matrix_version,
                "loaded_into_db": self.loaded_into_db, "created_at": self.created_at.isoformat()}
        if self.details is not None:
            body["details"] = self.details
        return body


class SimulationRunNotFound(LookupError):
    """No simulation run with that id."""


_COLUMNS = tuple(f.name for f in fields(SimulationRun) if f.name != "id")
# A list shows headlines; a replay's diff or a run's tickets can be megabytes, so they stay behind.
_LISTED = [simulation_runs.c[name] for name in ("id", *_COLUMNS) if name != "details"]


class SimulationRunRepository:
    """Simulation reports on the engine of the main store."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def record(self, run: SimulationRun) -> SimulationRun:
        if run.kind not in KINDS:
            raise ValueError(f"a simulation run is one of {', '.join(KINDS)}, not {run.kind!r}")
        values = {name: getattr(run, name) for name in _COLUMNS}
        values["details"] = values["details"] or {}
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(simulation_runs).values(values)).inserted_primary_key[0]
        return replace(run, id=new_id, details=values["details"])

    def page(self, *, limit: int = 20, offset: int = 0) -> list[SimulationRun]:
        """Runs newest first, without their details."""
        query = (select(*_LISTED).order_by(simulation_runs.c.created_at.desc(), simulation_runs.c.id.desc())
                 .limit(limit).offset(offset))
        with self.engine.connect() as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(simulation_runs)).scalar_one()

    def get(self, run_id: int) -> SimulationRun:
        with self.engine.connect() as conn:
            row = conn.execute(select(simulation_runs).where(simulation_runs.c.id == run_id)).mappings().first()
        if row is None:
            raise SimulationRunNotFound(f"no simulation run {run_id}")
        return _run(row)


def _run(row) -> SimulationRun:
    return SimulationRun(id=row["id"], **{name: row[name] for name in _COLUMNS if name in row})
