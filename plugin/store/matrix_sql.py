"""The matrix page's read: how many tickets each matrix version decides, and how many of them are still open."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from .live_sql import OPEN_STATES
from .schema import tickets, timers


def tickets_by_version(conn: Connection) -> dict[str, tuple[int, int]]:
    """Per matrix version, (tickets pinned to it, those with a clock still counting); simulated ones left out."""
    live = (select(timers.c.platform, timers.c.key).where(timers.c.state.in_(OPEN_STATES)).distinct().subquery())
    # COUNT of a column counts the rows where it is not NULL: the tickets the outer join found a clock for.
    query = (select(tickets.c.matrix_version, func.count(), func.count(live.c.key))
             .join(live, (live.c.platform == tickets.c.platform) & (live.c.key == tickets.c.key), isouter=True)
             .where(tickets.c.simulated.is_(False))
             .group_by(tickets.c.matrix_version))
    return {version: (total, open_) for version, total, open_ in conn.execute(query)}
