"""Drill sessions in the main database (SQLite or PostgreSQL).

A session being played keeps only what rebuilds it exactly: the scenario, the trainees, how its
virtual clock runs and the actions taken; the drill itself is replayed from those on every read.
A finished session carries its result and is the trainees' history. Drill traffic lives in this
table alone: it never touches the tickets, the escalation log or the outbox.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, insert, select, update
from sqlalchemy.engine import Engine

from .schema import UtcDateTime, metadata

PLAYING, FINISHED = "playing", "finished"
MODES = ("step", "realtime", "accelerated")

drill_sessions = Table(
    "drill_sessions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("scenario", String(200), nullable=False),        # the file name in the scenarios directory
    Column("trainees", JSON, nullable=False),               # name -> role
    Column("mode", String(16), nullable=False),             # step | realtime | accelerated
    Column("speed", Float, nullable=False),                 # virtual seconds per wall second (not in step mode)
    Column("started_at", UtcDateTime(), nullable=False),    # wall clock when the virtual clock was last set
    Column("offset_seconds", Float, nullable=False),        # the virtual time (from the story's start) then
    Column("actions", JSON, nullable=False),                # as in an answers file, `at` the virtual time
    Column("status", String(16), nullable=False),           # playing | finished
    Column("result", JSON, nullable=True),                  # DrillRun.to_json() once finished
    Column("finished_at", UtcDateTime(), nullable=True),
    # The history and the recent-sessions list read by finishing time, however many sessions pile up.
    Index("ix_drill_sessions_finished_at", "finished_at"),
)


@dataclass(frozen=True)
class DrillSession:
    scenario: str
    trainees: dict[str, str]
    mode: str
    speed: float
    started_at: datetime
    offset_seconds: float = 0.0
    actions: list[dict] = field(default_factory=list)
    status: str = PLAYING
    result: dict | None = None
    finished_at: datetime | None = None
    id: int | None = None

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    def to_json(self) -> dict:
        return {"id": self.id, "scenario": self.scenario, "trainees": self.trainees, "mode": self.mode,
                "speed": self.speed, "started_at": self.started_at.isoformat(), "status": self.status,
                "actions": len(self.actions), "score": self.result["score"] if self.result else None,
                "finished_at": self.finished_at.isoformat() if self.finished_at else None}


class DrillNotFound(LookupError):
    """No drill session with that id."""


_COLUMNS = tuple(f.name for f in fields(DrillSession) if f.name != "id")


class DrillRepository:
    """Drill sessions on the engine of the main store."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, session: DrillSession) -> DrillSession:
        with self.engine.begin() as conn:
            new_id = conn.execute(insert(drill_sessions).values(_values(session))).inserted_primary_key[0]
        return replace(session, id=new_id)

    def record(self, result: dict, trainees: dict[str, str], finished_at: datetime, *, mode: str = "step",
               speed: float = 1.0) -> int:
        """Store a drill played elsewhere (the terminal, an answers file) as finished: its trainees' history."""
        session = DrillSession(result.get("file", result.get("scenario", "")), dict(trainees), mode, speed,
                               finished_at, actions=list(result.get("actions", [])), status=FINISHED,
                               result=result, finished_at=finished_at)
        return self.create(session).id

    def get(self, session_id: int) -> DrillSession:
        with self.engine.connect() as conn:
            row = conn.execute(select(drill_sessions).where(drill_sessions.c.id == session_id)).mappings().first()
        if row is None:
            raise DrillNotFound(f"no drill session {session_id}")
        return _session(row)

    def update(self, session: DrillSession) -> DrillSession:
        with self.engine.begin() as conn:
            _write(conn, session)
        return session

    def change(self, session_id: int, change: Callable[[DrillSession], DrillSession]) -> DrillSession:
        """Read, change and write a session in one transaction, so two trainees acting at once lose nothing."""
        with self.engine.begin() as conn:
            # SQLite's store already holds the only write lock (BEGIN IMMEDIATE); PostgreSQL locks the row.
            row = conn.execute(select(drill_sessions).where(drill_sessions.c.id == session_id)
                               .with_for_update()).mappings().first()
            if row is None:
                raise DrillNotFound(f"no drill session {session_id}")
            after = change(_session(row))
            _write(conn, after)
        return after

    def recent(self, limit: int = 20) -> list[DrillSession]:
        query = select(drill_sessions).order_by(drill_sessions.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_session(row) for row in conn.execute(query).mappings()]

    def history(self, trainee: str) -> list[DrillSession]:
        """The finished sessions a trainee played, oldest first."""
        return [s for s in self._finished() if trainee in s.trainees]

    def trainees(self) -> dict[str, int]:
        """Every trainee with a finished drill, and how many they finished."""
        counts: dict[str, int] = {}
        for session in self._finished():
            for name in session.trainees:
                counts[name] = counts.get(name, 0) + 1
        return dict(sorted(counts.items()))

    def _finished(self) -> list[DrillSession]:
        # Trainees are a JSON object, filtered here rather than with a JSON operator per dialect:
        # a training history is hundreds of rows, not millions.
        query = (select(drill_sessions).where(drill_sessions.c.status == FINISHED)
                 .order_by(drill_sessions.c.finished_at, drill_sessions.c.id))
        with self.engine.connect() as conn:
            return [_session(row) for row in conn.execute(query).mappings()]


def _values(session: DrillSession) -> dict:
    return {name: getattr(session, name) for name in _COLUMNS}


def _write(conn, session: DrillSession) -> None:
    conn.execute(update(drill_sessions).where(drill_sessions.c.id == session.id).values(_values(session)))


def _session(row) -> DrillSession:
    return DrillSession(id=row["id"], **{name: row[name] for name in _COLUMNS})


# `escalator drill` reaches the history through these names; the work is in plugin.trainees, which
# also picks scenarios (the store itself knows nothing of onboarding).

def record_drill(run_json: dict, trainees: dict[str, str], finished_at: datetime) -> int:
    """Store a finished drill in its trainees' history, in the database the settings name; its id."""
    from ..trainees import record_drill as record
    return record(run_json, trainees, finished_at)


def next_scenario(trainee: str, scenarios_dir) -> Path:
    """The scenario file in `scenarios_dir` that trains what `trainee` missed most."""
    from ..trainees import next_scenario as pick
    return pick(trainee, scenarios_dir)
