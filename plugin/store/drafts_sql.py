"""Drafted customer messages in SQL: written with the decisions that draft and act on them, read by the
dashboard, the API and the sweep that sends the untouched ones on time."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import String, bindparam, cast, exists, func, insert, literal, select, update
from sqlalchemy.engine import Connection

from ..domain.drafts import ACTION_KEY, PENDING, Draft
from .port import Conflict, LogEntry
from .schema import deliveries, drafts, tickets

_FIELDS = tuple(c.name for c in drafts.columns if c.name not in ("log_id",))
_ACT = (update(drafts).where(drafts.c.id == bindparam("b_id"), drafts.c.status == PENDING)
        .values(status=bindparam("b_status"), text=bindparam("b_text"), acted_by=bindparam("b_by"),
                acted_at=bindparam("b_at"), reason=bindparam("b_reason")))


class SqlDrafts:
    """The drafts half of the SQL store (mixed into SqlStore, which provides `reading`)."""

    def draft(self, draft_id: int) -> Draft | None:
        with self.reading() as tx:
            row = tx.conn.execute(_SELECT.where(drafts.c.id == draft_id)).mappings().first()
        return draft_of(row) if row else None

    def drafts(self, *, pending: bool = True, limit: int = 100, simulated: bool = False) -> list[Draft]:
        """Pending drafts, the soonest to go out first; or the latest acted on."""
        query = _SELECT.where(drafts.c.status == PENDING) if pending else _SELECT.where(drafts.c.status != PENDING)
        if not simulated:
            query = query.where(tickets.c.simulated.isnot(True))
        order = (drafts.c.send_at.is_(None), drafts.c.send_at, drafts.c.id) if pending else (drafts.c.id.desc(),)
        with self.reading() as tx:
            rows = tx.conn.execute(query.order_by(*order).limit(limit)).mappings().all()
        return [draft_of(r) for r in rows]

    def drafts_of(self, platform: str, key: str) -> list[Draft]:
        with self.reading() as tx:
            rows = tx.conn.execute(_SELECT.where(drafts.c.platform == platform, drafts.c.key == key)
                                   .order_by(drafts.c.id)).mappings().all()
        return [draft_of(r) for r in rows]

    def drafts_due(self, now: datetime, limit: int = 100) -> list[Draft]:
        """Pending draft_then_auto drafts whose time came with no action queued for them yet."""
        with self.reading() as tx:
            rows = tx.conn.execute(_SELECT.where(_UNANSWERED, drafts.c.send_at <= now)
                                   .order_by(drafts.c.send_at).limit(limit)).mappings().all()
        return [draft_of(r) for r in rows]


def write_drafts(conn: Connection, entries: Sequence[LogEntry], log_ids: Sequence[int], now: datetime) -> None:
    """The drafts a pass created, and the ones it acted on (each only while still pending)."""
    new = [{**vars(d), "log_id": log_id, "created_at": now, "status": PENDING, "text": "", "acted_by": "",
            "reason": ""}
           for entry, log_id in zip(entries, log_ids, strict=True) for d in entry.drafts]
    if new:
        conn.execute(insert(drafts), new)
    for entry in entries:
        done = entry.draft_done
        if done is not None and conn.execute(_ACT, {
                "b_id": done.id, "b_status": done.status, "b_text": done.text, "b_by": done.acted_by,
                "b_at": done.acted_at, "b_reason": done.reason}).rowcount != 1:
            raise Conflict(f"draft {done.id} was acted on by another processor first")


def draft_of(row) -> Draft:
    return Draft(**{name: row[name] for name in _FIELDS}, simulated=bool(row.get("simulated")))


_SELECT = select(drafts, tickets.c.simulated).select_from(
    drafts.outerjoin(tickets, (tickets.c.platform == drafts.c.platform) & (tickets.c.key == drafts.c.key)))
# Pending with no action queued: once a person's or the clock's action is stored, the draft waits for
# the processor, not for its time (an action the processor set aside must not be re-sent forever).
_UNANSWERED = (drafts.c.status == PENDING) & ~exists().where(
    deliveries.c.platform == drafts.c.platform,
    deliveries.c.dedupe_key == literal(ACTION_KEY).concat(cast(drafts.c.id, String)))
NEXT_DRAFT = select(func.min(drafts.c.send_at)).where(_UNANSWERED)
