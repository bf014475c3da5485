"""Simulation and replay reports kept in the main database, for the dashboard's /simulations page."""
from __future__ import annotations

from sqlalchemy import JSON, Column, Index, Integer, String, Table, Text

from .schema import UtcDateTime, metadata

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
