"""Writes a simulated month (`escalator simulate --into-db`) into the SQL database in one transaction.

A run replaces the simulated tickets of an earlier run with the same key prefix (and their log,
timers, rating deliveries, reviews and review action items), so loading the same seed twice leaves
one copy. Inserts go in chunks: one statement per chunk, never one per row, and no statement past
the drivers' limits.
"""
from __future__ import annotations

from itertools import islice
from pathlib import Path

from sqlalchemy import and_, delete, exists, func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from simulator.into_db import Loaded, SimulatedMonth

from ..domain.errors import EscalatorError
from ..settings import Settings, mask_password
from .schema import deliveries, escalation_log, review_actions, reviews, tickets, timers
from .sql import SqlStore

CHUNK = 1000
SIMULATED = "simulated"         # deliveries.authenticated_by of a simulated rating


class MonthNotLoaded(EscalatorError):
    """The database could not take the month; the message is one line saying why."""


def load_into(month: SimulatedMonth, settings: Settings | None = None) -> Loaded:
    """Open the configured database (creating the embedded one), load the month, close."""
    settings = settings or Settings.from_env()
    if not settings.database_url:
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    try:
        store = SqlStore(settings.database)
        try:
            return load_month(store, month)
        finally:
            store.dispose()
    except SQLAlchemyError as exc:
        raise MonthNotLoaded(f"cannot load into {mask_password(settings.database)} ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0]}); check ESCALATOR_DATABASE_URL") from None


def load_month(store: SqlStore, month: SimulatedMonth) -> Loaded:
    with store.engine.begin() as conn:
        replaced = _forget(conn, month.prefix)
        _insert(conn, tickets, month.tickets)
        _insert(conn, timers, month.timers)
        _insert(conn, escalation_log, month.log)
        _insert_ratings(conn, month.ratings)
        _insert_reviews(conn, month.reviews)
        total = conn.execute(select(func.count()).select_from(tickets).where(tickets.c.simulated.is_(True)))
        return Loaded(len(month.tickets), replaced, total.scalar_one(), len(month.reviews))


def _forget(conn: Connection, prefix: str) -> int:
    """Remove an earlier load with this prefix: only simulated tickets, never a real one."""
    pattern = prefix + "%"
    ours = and_(tickets.c.simulated.is_(True), tickets.c.key.like(pattern))
    reviewed = exists().where(ours, tickets.c.platform == reviews.c.platform, tickets.c.key == reviews.c.key)
    earlier = select(reviews.c.id).where(reviews.c.key.like(pattern), reviewed)
    conn.execute(delete(review_actions).where(review_actions.c.review_id.in_(earlier)))
    for table in (escalation_log, timers, reviews):
        owned = exists().where(ours, tickets.c.platform == table.c.platform, tickets.c.key == table.c.key)
        conn.execute(delete(table).where(table.c.key.like(pattern), owned))
    conn.execute(delete(deliveries).where(deliveries.c.dedupe_key.like(pattern),
                                          deliveries.c.authenticated_by == SIMULATED))
    return conn.execute(delete(tickets).where(ours)).rowcount


def _insert(conn: Connection, table, rows: list[dict]) -> None:
    for chunk in _chunks(rows):
        conn.execute(insert(table), chunk)


def _insert_ratings(conn: Connection, ratings: list[dict]) -> None:
    """Each rating as the decided delivery it came in and the log entry that points at it."""
    for chunk in _chunks(ratings):
        ids = conn.execute(insert(deliveries).returning(deliveries.c.id, sort_by_parameter_order=True), [
            {"platform": r["platform"], "dedupe_key": r["dedupe_key"], "received_at": r["at"], "status": "decided",
             "reason": "", "event_kind": "satisfaction_rated", "ticket_key": r["key"],
             "authenticated_by": SIMULATED, "headers": r["headers"], "body": r["body"], "decided_at": r["at"]}
            for r in chunk]).scalars().all()
        conn.execute(insert(escalation_log), [
            {"platform": r["platform"], "key": r["key"], "at": r["at"], "delivery_id": delivery_id,
             "event_kind": "satisfaction_rated", "actor": "", "changes": {}, "decision": {},
             "matrix_version": "", "communications": []}
            for r, delivery_id in zip(chunk, ids, strict=True)])


def _insert_reviews(conn: Connection, rows: list[dict]) -> None:
    """Each review, then its action items under the id the database gave it."""
    for chunk in _chunks(rows):
        ids = conn.execute(insert(reviews).returning(reviews.c.id, sort_by_parameter_order=True),
                           [{k: v for k, v in r.items() if k != "actions"} for r in chunk]).scalars().all()
        items = [{**item, "review_id": review_id} for r, review_id in zip(chunk, ids, strict=True)
                 for item in r["actions"]]
        _insert(conn, review_actions, items)


def _chunks(rows: list[dict]):
    it = iter(rows)
    while chunk := list(islice(it, CHUNK)):
        yield chunk
