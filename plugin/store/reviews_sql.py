"""After-action reviews in SQL (SQLite and PostgreSQL): the `ReviewStore` half of `SqlStore`.

Every change reads the review with `FOR UPDATE` (SQLite's writer already holds the only write
lock), applies the caller's pure function and writes the result in the same transaction.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import exists, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from ..domain.review import OPEN, ActionItem, Review, ReviewNotFound
from .port import Batch, OutboxRow, ReviewChange, ReviewSources
from .rows import action_of, action_values, new_review_values, review_of, review_values
from .schema import deliveries, outbox, review_actions, tickets
from .schema import reviews as review_table

_ACTIONS = review_actions.c
# A review of a ticket `simulate --into-db` loaded: read with every review, listed only when asked, never reminded.
_SIMULATED = exists().where(tickets.c.simulated.is_(True), tickets.c.platform == review_table.c.platform,
                            tickets.c.key == review_table.c.key)
_READ = select(review_table, _SIMULATED.label("simulated"))


class SqlReviews:
    """Mixed into SqlStore, whose engine and read transactions it uses."""

    def reviews(self, status: str | None = None, limit: int = 100, simulated: bool = False) -> list[Review]:
        query = _READ.order_by(review_table.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(review_table.c.status == status)
        if not simulated:
            query = query.where(~_SIMULATED)
        with self.reading() as tx:
            return _with_actions(tx.conn, tx.conn.execute(query).mappings().all())

    def review(self, review_id: int) -> Review | None:
        return self._one(review_table.c.id == review_id)

    def review_of(self, platform: str, key: str) -> Review | None:
        return self._one((review_table.c.platform == platform) & (review_table.c.key == key))

    def _one(self, where) -> Review | None:
        with self.reading() as tx:
            found = _with_actions(tx.conn, tx.conn.execute(_READ.where(where)).mappings().all())
        return found[0] if found else None

    def review_sources(self, platform: str, key: str) -> ReviewSources:
        with self.reading() as tx:
            log, timers = tx.timeline(platform, key), tx.timers_of(platform, key)
            rated = {e["delivery_id"]: e["at"] for e in log if e["event_kind"] == "satisfaction_rated"
                     and e["delivery_id"] is not None}
            rows = tx.conn.execute(select(deliveries.c.id, deliveries.c.platform, deliveries.c.body,
                                          deliveries.c.headers).where(deliveries.c.id.in_(rated))
                                   .order_by(deliveries.c.id)).mappings().all() if rated else []
        ratings = [{"at": rated[r["id"]], "platform": r["platform"], "body": r["body"], "headers": r["headers"]}
                   for r in rows]
        return ReviewSources(log, timers, ratings)

    def change_review(self, review_id: int, change: ReviewChange) -> Review:
        with self.engine.begin() as conn:
            after = change(_locked(conn, review_id))
            conn.execute(update(review_table).where(review_table.c.id == review_id).values(**review_values(after)))
        return after

    def add_action(self, review_id: int, make: Callable[[Review, int], ActionItem]) -> ActionItem:
        with self.engine.begin() as conn:
            review = _locked(conn, review_id)
            item = make(review, max((a.number for a in review.actions), default=0) + 1)
            conn.execute(insert(review_actions).values(review_id=review_id, **action_values(item)))
        return item

    def change_action(self, review_id: int, number: int, change: Callable[[ActionItem], ActionItem]) -> ActionItem:
        with self.engine.begin() as conn:
            item = change(_locked(conn, review_id).action(number))
            conn.execute(update(review_actions).where(_ACTIONS.review_id == review_id, _ACTIONS.number == number)
                         .values(**action_values(item)))
        return item

    def reminders_due(self, now: datetime, every_before: datetime, limit: int) -> list[tuple[Review, ActionItem]]:
        # A simulated review's items are nobody's work: their owners are never reminded.
        query = (select(review_actions).join(review_table, review_table.c.id == _ACTIONS.review_id)
                 .where(_ACTIONS.status == OPEN, _ACTIONS.due_at <= now, ~_SIMULATED,
                        or_(_ACTIONS.last_reminded_at.is_(None), _ACTIONS.last_reminded_at <= every_before))
                 .order_by(_ACTIONS.due_at, _ACTIONS.review_id, _ACTIONS.number).limit(limit))
        with self.reading() as tx:
            items = tx.conn.execute(query).mappings().all()
            ids = {row["review_id"] for row in items}
            query = _READ.where(review_table.c.id.in_(ids))
            found = tx.conn.execute(query).mappings().all() if ids else []
        by_id = {row["id"]: review_of(row) for row in found}
        return [(by_id[row["review_id"]], action_of(row)) for row in items]

    def remind(self, review_id: int, number: int, last: datetime | None, now: datetime,
               messages: Sequence[OutboxRow]) -> bool:
        reminded = _ACTIONS.last_reminded_at.is_(None) if last is None else _ACTIONS.last_reminded_at == last
        with self.engine.begin() as conn:
            claimed = conn.execute(update(review_actions).where(_ACTIONS.review_id == review_id,
                                                                _ACTIONS.number == number, _ACTIONS.status == OPEN,
                                                                reminded)
                                   .values(last_reminded_at=now)).rowcount
            if claimed != 1:
                return False
            if messages:
                conn.execute(insert(outbox), [outbox_values(m, now) for m in messages])
        return True


def write_reviews(conn: Connection, batch: Batch, sqlite: bool) -> None:
    """The batch's new reviews; a ticket that has one already keeps it (one review per ticket)."""
    if not batch.reviews:
        return
    statement = (sqlite_insert if sqlite else pg_insert)(review_table).on_conflict_do_nothing(
        index_elements=["platform", "key"])
    conn.execute(statement, [new_review_values(r) for r in batch.reviews])


def outbox_values(row: OutboxRow, now: datetime, log_id: int | None = None) -> dict:
    return dict(platform=row.platform, key=row.key, kind=row.kind, data=row.data, request=row.request,
                status=row.status, attempts=0, next_attempt_at=now, last_error="", created_at=now,
                delivery_id=row.delivery_id, log_id=log_id, finished_at=None)


def _locked(conn: Connection, review_id: int) -> Review:
    row = conn.execute(_READ.where(review_table.c.id == review_id).with_for_update(of=review_table)).mappings().first()
    if row is None:
        raise ReviewNotFound(f"no review {review_id}; `escalator review list` shows them")
    return _with_actions(conn, [row])[0]


def _with_actions(conn: Connection, rows: Iterable) -> list[Review]:
    rows = list(rows)
    if not rows:
        return []
    items = conn.execute(select(review_actions).where(_ACTIONS.review_id.in_([r["id"] for r in rows]))
                         .order_by(_ACTIONS.review_id, _ACTIONS.number)).mappings().all()
    by_review: dict[int, list[ActionItem]] = {}
    for item in items:
        by_review.setdefault(item["review_id"], []).append(action_of(item))
    return [review_of(r, by_review.get(r["id"], ())) for r in rows]
