"""What the insights figures read for a period, in four set-based queries (never one per ticket).

Tickets are chosen by when they were opened (`ix_tickets_created_at`); their log, timers and
ratings are joined to that choice. Only the log entries the figures use are read: level or owner
changes and resolutions, with just those values pulled out of the JSON.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import String, TypeDecorator, and_, func, or_, select, type_coerce
from sqlalchemy.engine import Connection

from ..domain.timers import Timer
from ..insights import Facts, LogFact, Period, RatingFact, TicketFact
from .schema import deliveries, escalation_log, tickets, timers

# (platform, body, headers) -> True (good), False (bad), or None (not a rating)
RatingReader = Callable[[str, bytes, dict], bool | None]



class _Instant(TypeDecorator):
    """A stored UTC time read quickly: SQLite's text through `fromisoformat` (C) rather than the
    generic parser, PostgreSQL's datetime as it comes. A month is some 100,000 of them."""
    impl = String
    cache_ok = True

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value + "+00:00")     # six times faster than .replace(tzinfo=UTC)
        return value.replace(tzinfo=UTC)


def _instant(column):
    return type_coerce(column, _Instant())


_T, _L, _C = tickets.c, escalation_log.c, timers.c
_LEVEL = _L.changes[("level", 1)].as_string()
_OWNER = _L.changes[("owner", 1)].as_string()


def read_facts(conn: Connection, period: Period, *, simulated: bool, rating: RatingReader) -> Facts:
    """The facts of tickets opened in `period`; simulated ones only when `simulated` is true."""
    chosen = _chosen(period, simulated)
    return Facts(tickets=_tickets(conn, chosen), log=_log(conn, chosen), timers=_timers(conn, chosen),
                 ratings=_ratings(conn, chosen, rating), cadences=_cadences(conn, chosen))


def _chosen(period: Period, simulated: bool):
    where = and_(_T.created_at >= period.since, _T.created_at < period.until)
    return where if simulated else and_(where, _T.simulated.is_(False))


def _joined(table, chosen):
    return table.join(tickets, and_(table.c.platform == _T.platform, table.c.key == _T.key))


def _tickets(conn: Connection, chosen) -> list[TicketFact]:
    area = _T.snapshot["product_area"].as_string()
    rows = conn.execute(select(_T.platform, _T.key, _T.severity, _T.level, _T.owner, area, _instant(_T.created_at))
                        .where(chosen)).all()
    return [TicketFact(p, k, severity, level, owner, area or "", created) for p, k, severity, level, owner, area,
            created in rows]


def _log(conn: Connection, chosen) -> list[LogFact]:
    wanted = or_(_L.event_kind == "resolved", _LEVEL.is_not(None), _OWNER.is_not(None))
    rows = conn.execute(select(_L.platform, _L.key, _instant(_L.at), _L.event_kind, _LEVEL, _OWNER)
                        .select_from(_joined(escalation_log, chosen)).where(chosen, wanted)
                        .order_by(_L.platform, _L.key, _L.id)).all()
    return [LogFact(*row) for row in rows]


def _timers(conn: Connection, chosen) -> list:
    """Deadline timers with what meeting one depends on (`Timer.breached_at`); the warning point, the
    working time spent and the last firing are left empty: no figure reads them."""
    rows = conn.execute(select(_C.platform, _C.key, _C.name, _C.seconds, _C.calendar, _C.warn_fraction, _C.state,
                               _instant(_C.started_at), _instant(_C.due_at), _instant(_C.stopped_at))
                        .select_from(_joined(timers, chosen)).where(chosen, _C.recurring.is_(False))).all()
    return [(platform, key, Timer(name, seconds, calendar, False, warn, state, started, started, due,
                                  stopped_at=stopped))
            for platform, key, name, seconds, calendar, warn, state, started, due, stopped in rows]


def _cadences(conn: Connection, chosen) -> int:
    """Update cadences are no deadline: only counted, as left out of attainment."""
    return conn.execute(select(func.count()).select_from(_joined(timers, chosen))
                        .where(chosen, _C.recurring.is_(True))).scalar_one()


def _ratings(conn: Connection, chosen, rating: RatingReader) -> list[RatingFact]:
    query = (select(_L.platform, _L.key, _instant(_L.at), deliveries.c.platform, deliveries.c.body,
                    deliveries.c.headers)
             .select_from(_joined(escalation_log, chosen).join(deliveries, deliveries.c.id == _L.delivery_id))
             .where(chosen, _L.event_kind == "satisfaction_rated"))
    found = []
    for platform, key, at, source, body, headers in conn.execute(query).all():
        good = rating(source, body, headers)
        if good is not None:
            found.append(RatingFact(platform, key, at, good))
    return found


def simulated_count(conn: Connection, period: Period | None = None) -> int:
    """How many simulated tickets were opened in the period (or ever), so a page can offer to show them."""
    opened = _T.simulated.is_(True)
    if period is not None:
        opened = and_(opened, _T.created_at >= period.since, _T.created_at < period.until)
    return conn.execute(select(func.count()).select_from(tickets).where(opened)).scalar_one()


def newest_ticket(conn: Connection, simulated: bool) -> datetime | None:
    """When the newest ticket was opened: where a default period with data ends."""
    query = select(func.max(_T.created_at))
    return conn.execute(query if simulated else query.where(_T.simulated.is_(False))).scalar()
