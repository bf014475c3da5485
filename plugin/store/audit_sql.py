"""What the matrix audit reads, in five set-based queries (never one per ticket or per rule).

Rule firings are counted in the database from each decision's trace, expanded with the dialect's
JSON array function (SQLite `json_each`, PostgreSQL `json_array_elements`), so a month of log is
never shipped to Python. Simulated tickets are left out unless asked for.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, literal, or_, select, true
from sqlalchemy.engine import Connection

from ..audit import PERIOD, WINDOWS, AuditFacts, OwnerLoad, RuleCount, TimerFact
from .rows import timer_of
from .schema import deliveries, escalation_log, tickets, timers

_T, _L, _C = tickets.c, escalation_log.c, timers.c
_ENDED = ("resolved", "deleted")


def read_facts(conn: Connection, now: datetime, *, simulated: bool = False) -> AuditFacts:
    """The audit's facts for the 30 days before `now`."""
    since = now - PERIOD
    return AuditFacts(now=now, rules=_rule_counts(conn, now, since, simulated),
                      timers=_timers(conn, since, simulated), owners=_owner_loads(conn, since, simulated),
                      log_entries=_log_entries(conn, since, simulated), simulated=simulated)


def _counted(simulated: bool):
    return true() if simulated else _T.simulated.is_(False)


def _log_with_tickets():
    return escalation_log.join(tickets, and_(_L.platform == _T.platform, _L.key == _T.key))


def _elements(conn: Connection, key: str, *, text: bool = False):
    """One row per element of the decision's JSON array `key`, as a table to join (column `value`)."""
    if conn.dialect.name == "sqlite":
        return func.json_each(_L.decision, f"$.{key}").table_valued("value").alias(f"each_{key}")
    expand = func.json_array_elements_text if text else func.json_array_elements
    return expand(_L.decision[key]).table_valued("value").alias(f"each_{key}")


def _member(conn: Connection, element, field: str):
    """The text of one member of a JSON object element."""
    if conn.dialect.name == "sqlite":
        return func.json_extract(element, f"$.{field}")
    return element.op("->>")(field)


def _rule_counts(conn: Connection, now: datetime, since: datetime, simulated: bool) -> list[RuleCount]:
    each = _elements(conn, "trace")
    rule, kind, category = (_member(conn, each.c.value, f) for f in ("rule", "kind", "category"))

    def within(window):
        return func.sum(case((_L.at >= now - WINDOWS[window], 1), else_=0))
    ticket = _L.platform + literal(":") + _L.key
    query = (select(rule, func.max(kind), func.max(category), within("24h"), within("7d"), func.count(),
                    func.count(func.distinct(ticket)), func.max(_L.at))
             .select_from(_log_with_tickets().join(each, true()))
             .where(_L.at >= since, _L.at <= now, _counted(simulated)).group_by(rule))
    return [RuleCount(name, kind or "", category or "", int(day or 0), int(week or 0), month, tickets_, last)
            for name, kind, category, day, week, month, tickets_, last in conn.execute(query)]


def _log_entries(conn: Connection, since: datetime, simulated: bool) -> int:
    return conn.execute(select(func.count()).select_from(_log_with_tickets())
                        .where(_L.at >= since, _counted(simulated))).scalar_one()


def _timers(conn: Connection, since: datetime, simulated: bool) -> list[TimerFact]:
    joined = timers.join(tickets, and_(_C.platform == _T.platform, _C.key == _T.key))
    rows = conn.execute(select(timers, _T.severity.label("ticket_severity")).select_from(joined)
                        .where(_C.started_at >= since, _C.recurring.is_(False), _counted(simulated))).mappings().all()
    late = _met_after_breach(conn, since, simulated)
    return [TimerFact(row["ticket_severity"], timer_of(row), late.get((row["platform"], row["key"], row["name"])))
            for row in rows]


def _met_after_breach(conn: Connection, since: datetime, simulated: bool) -> dict[tuple[str, str, str], datetime]:
    """When a stop rule first named each breached timer after it started: the time it was met, late."""
    each = _elements(conn, "stop_timers", text=True)
    stopped = each.c.value
    query = (select(_C.platform, _C.key, _C.name, func.min(_L.at))
             .select_from(timers.join(tickets, and_(_C.platform == _T.platform, _C.key == _T.key))
                          .join(escalation_log, and_(_L.platform == _C.platform, _L.key == _C.key,
                                                     _L.at >= _C.started_at))
                          .join(each, true()))
             .where(_C.state == "breached", _C.started_at >= since, stopped == _C.name, _counted(simulated))
             .group_by(_C.platform, _C.key, _C.name))
    return {(platform, key, name): at for platform, key, name, at in conn.execute(query)}


def _owner_loads(conn: Connection, since: datetime, simulated: bool) -> list[OwnerLoad]:
    # Each ticket's newest log entry, one seek each on ix_escalation_log_ticket (platform, key, id):
    # a grouped join over the whole log took SQLite seconds on a month of tickets.
    last_kind = (select(_L.event_kind).where(_L.platform == _T.platform, _L.key == _T.key)
                 .order_by(_L.id.desc()).limit(1).correlate(tickets).scalar_subquery())
    per_ticket = (select(_T.owner.label("owner"), _T.updated_at.label("updated_at"), last_kind.label("last_kind"))
                  .where(_counted(simulated)).subquery("per_ticket"))
    is_open = or_(per_ticket.c.last_kind.is_(None), per_ticket.c.last_kind.not_in(_ENDED))
    query = select(per_ticket.c.owner, func.sum(case((per_ticket.c.updated_at >= since, 1), else_=0)),
                   func.sum(case((is_open, 1), else_=0))).group_by(per_ticket.c.owner)
    return [OwnerLoad(owner, int(recent or 0), int(open_ or 0)) for owner, recent, open_ in conn.execute(query)]


def deliveries_for_replay(conn: Connection, since: datetime, until: datetime, limit: int, *,
                          simulated: bool = False) -> tuple[list[dict], int]:
    """The first `limit` decided deliveries received in [since, until) with their bodies, and how many there were.

    A delivery about a simulated ticket is left out unless asked for; one whose ticket was never
    stored (ignored by the matrix) is kept, since a candidate matrix may decide it.
    """
    sim = select(_T.platform, _T.key).where(_T.simulated.is_(True)).subquery("simulated_tickets")
    joined = deliveries.outerjoin(sim, and_(sim.c.platform == deliveries.c.platform,
                                            sim.c.key == deliveries.c.ticket_key))
    where = and_(deliveries.c.received_at >= since, deliveries.c.received_at < until,
                 deliveries.c.status.in_(("decided", "ignored")), true() if simulated else sim.c.key.is_(None))
    total = conn.execute(select(func.count()).select_from(joined).where(where)).scalar_one()
    rows = conn.execute(select(deliveries.c.received_at, deliveries.c.platform, deliveries.c.headers,
                               deliveries.c.body).select_from(joined).where(where)
                        .order_by(deliveries.c.id).limit(limit)).mappings().all()
    return [dict(r) for r in rows], total
