"""The live board's read: tickets with a clock still counting, and those clocks, in two queries."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from .schema import tickets, timers

OPEN_STATES = ("running", "paused", "breached")     # a resolved ticket's timers are all stopped
LIMIT = 2000


def open_escalations(conn: Connection, *, simulated: bool = False) -> tuple[list[dict], list[dict]]:
    """(tickets, their timers not stopped), at most LIMIT tickets, most recently updated first."""
    keys = (select(timers.c.platform, timers.c.key).where(timers.c.state.in_(OPEN_STATES)).distinct().subquery())
    query = (select(tickets.c.platform, tickets.c.key, tickets.c.severity, tickets.c.level, tickets.c.owner,
                    tickets.c.assignee, tickets.c.snapshot, tickets.c.created_at, tickets.c.updated_at,
                    tickets.c.simulated)
             .join(keys, (keys.c.platform == tickets.c.platform) & (keys.c.key == tickets.c.key))
             .order_by(tickets.c.updated_at.desc()).limit(LIMIT))
    if not simulated:
        query = query.where(tickets.c.simulated.is_(False))
    rows = [dict(r) for r in conn.execute(query).mappings()]
    wanted = {(r["platform"], r["key"]) for r in rows}
    clocks = conn.execute(select(timers).where(timers.c.state.in_(OPEN_STATES))).mappings()
    return rows, [dict(t) for t in clocks if (t["platform"], t["key"]) in wanted]
