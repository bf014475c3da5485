"""Claims of tickets on PostgreSQL: which processor decides a ticket's work in this pass.

A claim is a session advisory lock, taken without waiting, so processors split the tickets instead
of queueing behind each other; it is released after the pass's write, or with the session if the
host dies.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .port import DueTimer, Received, TicketRef

# A ticket's claim: a PostgreSQL advisory lock in Escalator's namespace, keyed by a hash of the ticket.
# Two tickets sharing a hash only take turns; a lock dies with its session, so a crashed host frees its tickets.
_LOCK_NAMESPACE = 0x45534331
_TRY_LOCKS = text("SELECT t.platform, t.key FROM unnest(CAST(:platforms AS text[]), CAST(:keys AS text[])) "
                  "AS t(platform, key) WHERE pg_try_advisory_lock(:namespace, hashtext(t.platform || '/' || t.key))")


def refs_of(received: list[Received], due: list[DueTimer]) -> list[TicketRef]:
    return [(d.platform, d.ticket_key) for d in received] + [(t.platform, t.key) for t in due]


def lock_tickets(conn: Connection, wanted: set[TicketRef]) -> set[TicketRef]:
    """The tickets this session could lock now; those another processor holds are skipped."""
    if not wanted:
        return set()
    refs = sorted(wanted)
    held = conn.execute(_TRY_LOCKS, {"platforms": [p for p, _ in refs], "keys": [k for _, k in refs],
                                     "namespace": _LOCK_NAMESPACE}).all()
    conn.commit()       # the locks belong to the session: no transaction stays open through the pass
    return {(platform, key) for platform, key in held}


def unlock_tickets(conn: Connection) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock_all()"))
        conn.commit()
    except Exception:       # a broken connection: closing it is what frees its locks
        conn.invalidate()
        raise


