"""The matrix page's read: how many tickets each matrix version decides, and how many of them are still open."""
from __future__ import annotations

from sqlalchemy import case, func, select
from sqlalchemy.engine import Connection

from .live_sql import OPEN_STATES
from .schema import tickets, timers


def tickets_by_version(conn: Connection) -> dict[str, tuple[int, int]]:
    """Per matrix version, (tickets pinned to it, those with a clock still counting); simulated ones left out."""
    # One probe of the timers' (platform, key, name) index per ticket: faster than joining a distinct set.
    live = (select(timers.c.id).where(timers.c.platform == tickets.c.platform, timers.c.key == tickets.c.key,
                                      timers.c.state.in_(OPEN_STATES)).exists())
    query = (select(tickets.c.matrix_version, func.count(), func.count(case((live, 1))))
             .where(tickets.c.simulated.is_(False)).group_by(tickets.c.matrix_version))
    return {version: (total, open_) for version, total, open_ in conn.execute(query)}
