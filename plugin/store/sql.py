"""The SQL store: one code path for embedded SQLite (WAL) and PostgreSQL."""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import bindparam, create_engine, event, func, insert, select, text, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from .claims import lock_tickets, refs_of, unlock_tickets
from .drafts_sql import NEXT_DRAFT, SqlDrafts, write_drafts
from .intake_writer import IntakeWriter
from .migrate import prepare_schema
from .outbox_sql import SENDERS, OutboxClaims
from .port import (
    DECIDED,
    FAILED,
    IGNORED,
    RECEIVED,
    Batch,
    Conflict,
    DueTimer,
    NewDelivery,
    Received,
    TicketRecord,
    TicketRef,
)
from .reviews_sql import SqlReviews, outbox_values, write_reviews
from .rows import record_of, ticket_values, timer_of, timer_values
from .schema import deliveries, escalation_log, matrices, outbox, reviews, tickets, timers

_READ = "escalator_read"        # execution option: a read-only transaction, which takes no write lock


class SqlStore(SqlReviews, SqlDrafts):
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url, **_engine_options(url))
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        prepare_schema(self.engine, upgrade=url.startswith("sqlite"))
        self.intake = IntakeWriter(self.engine)
        self._senders: list[Connection] = []       # connections holding live outbox senders' locks

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """A write transaction (on SQLite it takes the write lock at once)."""
        with self.engine.begin() as conn:
            yield Transaction(conn)

    @contextmanager
    def reading(self) -> Iterator[Transaction]:
        """A read transaction: a consistent snapshot that never waits for the writer."""
        with self.engine.connect().execution_options(**{_READ: True}) as conn, conn.begin():
            yield Transaction(conn)

    # -- the storage port ----------------------------------------------------------------------

    def receive(self, delivery: NewDelivery) -> int | None:
        return self.intake.receive(delivery)    # deliveries arriving together share one commit

    def pending(self, limit: int) -> list[Received]:
        with self.reading() as tx:
            rows = tx.conn.execute(_PENDING, {"b_limit": limit}).all()
        return [Received(*row) for row in rows]

    def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        with self.reading() as tx:
            rows = tx.conn.execute(_DUE_TIMERS, {"b_now": now, "b_limit": limit}).all()
        return [DueTimer(*row) for row in rows]

    @contextmanager
    def claimed(self, now: datetime, limit: int) -> Iterator[tuple[list[Received], list[DueTimer]]]:
        """Pending deliveries and due timers of tickets no other processor holds, held for the pass.

        On PostgreSQL each ticket is claimed with a session advisory lock, taken without waiting, so
        processors on several hosts split the tickets and a ticket's work is decided in order by one
        of them. SQLite runs one elected processor, which needs no claim.
        """
        received, due = self.pending(limit), self.due_timers(now, limit)
        if self.sqlite or not (received or due):
            yield received, due
            return
        with self.engine.connect() as conn:
            try:
                held, refused = set(), set()
                for _ in range(2):      # a second look past the tickets other processors hold
                    wanted = set(refs_of(received, due)) - held - refused
                    got = lock_tickets(conn, wanted)
                    held, refused = held | got, refused | (wanted - got)
                    if not wanted - got:
                        break
                    received, due = self._work(now, limit, refused)
                # Read again under the locks: another processor may have decided some meanwhile.
                received, due = self._work(now, limit, refused)
                yield ([d for d in received if (d.platform, d.ticket_key) in held],
                       [t for t in due if (t.platform, t.key) in held])
            finally:
                unlock_tickets(conn)

    def _work(self, now: datetime, limit: int, skip: set[TicketRef]) -> tuple[list[Received], list[DueTimer]]:
        """Pending deliveries and due timers, leaving out the tickets in `skip`."""
        pending, due = _PENDING, _DUE_TIMERS
        if skip:
            pending = pending.where(tuple_(deliveries.c.platform, deliveries.c.ticket_key).not_in(list(skip)))
            due = due.where(tuple_(timers.c.platform, timers.c.key).not_in(list(skip)))
        with self.reading() as tx:
            received = [Received(*row) for row in tx.conn.execute(pending, {"b_limit": limit}).all()]
            fired = [DueTimer(*row) for row in tx.conn.execute(due, {"b_now": now, "b_limit": limit}).all()]
        return received, fired

    def next_timer_at(self) -> datetime | None:
        """When the next timer is due, or the next draft goes out as rendered."""
        with self.reading() as tx:
            due = tx.conn.execute(_NEXT_DUE).one()      # one round trip: an idle processor asks often
        return min((at for at in due if at is not None), default=None)

    def load(self, refs: Iterable[TicketRef]) -> dict[TicketRef, TicketRecord]:
        refs = list(dict.fromkeys(refs))
        if not refs:
            return {}
        with self.reading() as tx:
            found = tx.conn.execute(_TICKETS.where(tuple_(tickets.c.platform, tickets.c.key).in_(refs))
                                    ).mappings().all()
            clocks = tx.conn.execute(select(timers).where(tuple_(timers.c.platform, timers.c.key).in_(refs))
                                     .order_by(timers.c.id)).mappings().all()
        by_ticket: dict[TicketRef, dict] = {}
        for row in clocks:
            by_ticket.setdefault((row["platform"], row["key"]), {})[row["name"]] = timer_of(row)
        return {(r["platform"], r["key"]): record_of(r, by_ticket.get((r["platform"], r["key"]), {})) for r in found}

    def timeline(self, platform: str, key: str) -> list[dict]:
        with self.reading() as tx:
            return tx.timeline(platform, key)

    def write(self, batch: Batch) -> None:
        with self.engine.begin() as conn:
            _claim_deliveries(conn, batch)
            _write_tickets(conn, batch, self.sqlite)
            _write_timers(conn, batch)
            _write_log(conn, batch)
            write_reviews(conn, batch, self.sqlite)

    def backlog(self, now: datetime) -> tuple[int, float]:
        with self.reading() as tx:
            count, oldest = tx.conn.execute(_BACKLOG).one()
        return count, max((now - _aware(oldest)).total_seconds(), 0.0) if oldest else 0.0

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def register_sender(self) -> int | None:
        """PostgreSQL: an id for an outbox sender, alive as long as this store (its advisory lock is held on a
        connection of its own); its `sending` rows are freed the moment it dies. None on SQLite, which
        has one sender at a time (see `OutboxWorker.take_over`)."""
        if self.sqlite:
            return None
        conn = self.engine.connect()
        while True:
            sender = secrets.randbelow(2**31 - 1) + 1
            if conn.execute(text("SELECT pg_try_advisory_lock(:namespace, :sender)"),
                            {"namespace": SENDERS, "sender": sender}).scalar():
                conn.commit()
                self._senders.append(conn)
                return sender

    def dispose(self) -> None:
        for conn in self._senders:
            conn.close()
        self._senders.clear()
        self.engine.dispose()


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Several threads (web requests, the processor, the outbox worker) share the file; WAL lets readers run.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    # A commit is on the server's disk before it returns, whatever the server's default says: a 202
    # and a sent write-back's record must survive a database crash.
    return {"pool_pre_ping": True, "connect_args": {"options": "-c synchronous_commit=on"}}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs (a rolled-back outer transaction kept
    # the savepoint's insert); take transactions over, as SQLAlchemy's docs recommend.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a 202 means the delivery is on disk. WAL with NORMAL may roll back the last commits on a
    # power loss; FULL syncs the log at each commit, which intake's group commits share.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock up front: two writers never deadlock upgrading read locks.
    # Reads begin DEFERRED, so a reader sees a snapshot and never waits for a writer (WAL).
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ) else "BEGIN IMMEDIATE")


def _aware(value: datetime) -> datetime:
    return deliveries.c.received_at.type.process_result_value(value, None) if value.tzinfo is None else value


# Statements built once: building one per call cost SQLAlchemy more than SQLite took to run it.
_INSERT = {table.name: insert(table) for table in (deliveries, tickets, timers, outbox)}
_INSERT_LOG = insert(escalation_log).returning(escalation_log.c.id, sort_by_parameter_order=True)
_PENDING = (select(deliveries.c.id, deliveries.c.platform, deliveries.c.ticket_key, deliveries.c.received_at,
                   deliveries.c.body, deliveries.c.headers, deliveries.c.authenticated_by)
            .where(deliveries.c.status == RECEIVED).order_by(deliveries.c.id).limit(bindparam("b_limit")))
_DUE_TIMERS = (select(timers.c.id, timers.c.platform, timers.c.key, timers.c.name, timers.c.next_at)
               .where(timers.c.next_at <= bindparam("b_now")).order_by(timers.c.next_at, timers.c.id)
               .limit(bindparam("b_limit")))
_NEXT_TIMER = select(func.min(timers.c.next_at))
_NEXT_DUE = select(_NEXT_TIMER.scalar_subquery(), NEXT_DRAFT.scalar_subquery())
_BACKLOG = select(func.count(), func.min(deliveries.c.received_at)).where(deliveries.c.status == RECEIVED)
_TICKET = (tickets.c.platform == bindparam("b_platform")) & (tickets.c.key == bindparam("b_key"))
_UPDATE_TICKET = update(tickets).where(_TICKET, tickets.c.version == bindparam("b_version"))
_UPDATE_TIMER = update(timers).where(timers.c.id == bindparam("b_id"))
# A ticket with whether it has its review: the processor creates one only for a ticket without.
_TICKETS = select(tickets, reviews.c.id.label("review_id")).select_from(
    tickets.outerjoin(reviews, (reviews.c.platform == tickets.c.platform) & (reviews.c.key == tickets.c.key)))
_TIMELINE = select(escalation_log).where(escalation_log.c.platform == bindparam("b_platform"),
                                         escalation_log.c.key == bindparam("b_key")).order_by(escalation_log.c.id)
def _claim_deliveries(conn: Connection, batch: Batch) -> None:
    claims = [(DECIDED, "", batch.decided)] + [(IGNORED, reason, [i]) for i, reason in batch.ignored] \
        + [(FAILED, error, [i]) for i, error in batch.failed]
    for status, reason, ids in claims:
        if not ids:
            continue
        values = {"status": status, "decided_at": batch.now, **({"reason": reason} if reason else {})}
        claimed = conn.execute(update(deliveries).where(deliveries.c.id.in_(ids), deliveries.c.status == RECEIVED)
                               .values(**values)).rowcount
        if claimed != len(ids):
            raise Conflict(f"{len(ids) - claimed} of {len(ids)} deliveries were decided by another processor")


def _write_tickets(conn: Connection, batch: Batch, sqlite: bool) -> None:
    new = [dict(platform=r.platform, key=r.key, created_at=batch.now, **ticket_values(r, batch.now))
           for r, read in batch.tickets if read == 0]
    known = [{"b_platform": r.platform, "b_key": r.key, "b_version": read, **ticket_values(r, batch.now)}
             for r, read in batch.tickets if read != 0]
    if new:
        try:
            with conn.begin_nested():
                conn.execute(_INSERT["tickets"], new)
        except IntegrityError as exc:
            raise Conflict("another processor stored one of these tickets first") from exc
    # One statement for all on SQLite (its executemany counts every row); PostgreSQL's driver
    # does not report a total for executemany, so there each row is counted on its own.
    groups = [known] if sqlite else [[row] for row in known]
    for group in filter(None, groups):
        if conn.execute(_UPDATE_TICKET, group).rowcount != len(group):
            raise Conflict("another processor changed one of these tickets first")


def _write_timers(conn: Connection, batch: Batch) -> None:
    new = [timer_values(w) for w in batch.timers if w.timer.id is None]
    known = [{"b_id": w.timer.id, **timer_values(w)} for w in batch.timers if w.timer.id is not None]
    if new:
        conn.execute(_INSERT["timers"], new)
    if known:
        conn.execute(_UPDATE_TIMER, known)


def _write_log(conn: Connection, batch: Batch) -> None:
    if not batch.log:
        return
    rows = [{name: getattr(e, name) for name in ("platform", "key", "at", "delivery_id", "event_kind", "actor",
                                                  "changes", "decision", "matrix_version", "communications")}
            for e in batch.log]
    log_ids = conn.execute(_INSERT_LOG, rows).scalars().all()
    queued = [outbox_values(o, batch.now, log_id) for entry, log_id in zip(batch.log, log_ids, strict=True)
              for o in entry.outbox]
    if queued:
        conn.execute(_INSERT["outbox"], queued)
    write_drafts(conn, batch.log, log_ids, batch.now)


class Transaction(OutboxClaims):
    """Reads for the API and the worker, and the outbox's and the matrices' own writes."""

    def __init__(self, conn: Connection):
        self.conn = conn

    # -- deliveries ---------------------------------------------------------------------------

    def recent_deliveries(self, limit: int) -> list[dict]:
        rows = self.conn.execute(select(deliveries.c.id, deliveries.c.platform, deliveries.c.dedupe_key,
                                        deliveries.c.received_at, deliveries.c.decided_at, deliveries.c.status,
                                        deliveries.c.reason, deliveries.c.event_kind, deliveries.c.ticket_key,
                                        deliveries.c.authenticated_by)
                                 .order_by(deliveries.c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def pending_of(self, platform: str, key: str) -> list[dict]:
        """The ticket's deliveries still waiting for their decision."""
        rows = self.conn.execute(select(deliveries.c.id, deliveries.c.received_at, deliveries.c.event_kind)
                                 .where(deliveries.c.status == RECEIVED, deliveries.c.platform == platform,
                                        deliveries.c.ticket_key == key).order_by(deliveries.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def deliveries_between(self, since: datetime, until: datetime | None = None) -> list[dict]:
        """Decided deliveries with their bodies, oldest first (for `escalator export`)."""
        query = select(deliveries).where(deliveries.c.received_at >= since,
                                         deliveries.c.status.in_((DECIDED, RECEIVED)))
        if until is not None:
            query = query.where(deliveries.c.received_at < until)
        return [dict(r) for r in self.conn.execute(query.order_by(deliveries.c.id)).mappings().all()]

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        rows = self.conn.execute(select(deliveries.c.platform, deliveries.c.status, func.count())
                                 .group_by(deliveries.c.platform, deliveries.c.status)).all()
        return {(platform, status): count for platform, status, count in rows}

    # -- tickets, log, timers -------------------------------------------------------------------

    def ticket(self, platform: str, key: str) -> dict | None:
        row = self.conn.execute(select(tickets).where(_TICKET), {"b_platform": platform, "b_key": key}
                                ).mappings().first()
        return dict(row) if row is not None else None

    def timeline(self, platform: str, key: str) -> list[dict]:
        rows = self.conn.execute(_TIMELINE, {"b_platform": platform, "b_key": key}).mappings().all()
        return [dict(r) for r in rows]

    def timers_of(self, platform: str, key: str) -> list[dict]:
        rows = self.conn.execute(select(timers).where(timers.c.platform == platform, timers.c.key == key)
                                 .order_by(timers.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def running_timer_count(self) -> int:
        return self.conn.execute(select(func.count()).select_from(timers).where(timers.c.state == "running")
                                 ).scalar_one()

    # -- matrices -------------------------------------------------------------------------------

    def remember_matrix(self, version: str, files: dict[str, str], now: datetime) -> None:
        """Keep a matrix's source, so tickets pinned to it can be evaluated after a restart. One statement:
        processes starting together on a new matrix each insert it, and the later ones only touch it."""
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        self.conn.execute(dialect.insert(matrices)
                          .values(version=version, files=files, created_at=now, activated_at=now)
                          .on_conflict_do_update(index_elements=[matrices.c.version], set_={"activated_at": now}))

    def matrix_files(self, version: str) -> dict[str, str] | None:
        return self.conn.execute(select(matrices.c.files).where(matrices.c.version == version)).scalar()

    def matrix_versions(self) -> list[dict]:
        """Every stored matrix (version, created_at, activated_at), the last activated first."""
        rows = self.conn.execute(select(matrices.c.version, matrices.c.created_at, matrices.c.activated_at)
                                 .order_by(matrices.c.activated_at.desc(), matrices.c.created_at.desc())
                                 ).mappings().all()
        return [dict(r) for r in rows]

    def last_good_matrix(self) -> str | None:
        return self.conn.execute(select(matrices.c.version).order_by(matrices.c.activated_at.desc()).limit(1)
                                 ).scalar()

    # -- outbox ---------------------------------------------------------------------------------

    def outbox_rows(self, *, key: str | None = None, delivery_id: int | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict]:
        query = select(outbox).order_by(outbox.c.id).limit(limit)
        if key is not None:
            query = query.where(outbox.c.key == key)
        if delivery_id is not None:
            query = query.where(outbox.c.delivery_id == delivery_id)
        if status is not None:
            query = query.where(outbox.c.status == status)
        return [dict(r) for r in self.conn.execute(query).mappings().all()]

    def outbox_counts(self) -> dict[str, int]:
        rows = self.conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status)).all()
        return dict(rows)

    def finish(self, outbox_id: int, *, status: str, now: datetime, error: str = "",
               retry_at: datetime | None = None, attempt: bool = True) -> None:
        """A row sent, refused or dead; or, with `retry_at`, back to pending until then (`attempt=False`: it was
        held back unsent, so the claim's attempt is given back)."""
        values = {"status": status, "last_error": error}
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        else:
            values["finished_at"] = now
        if not attempt:
            values["attempts"] = outbox.c.attempts - 1
        self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))

    def release_stuck(self, older_than: datetime) -> int:
        """Rows a crashed worker left in `sending` go back to `pending` (the sweep)."""
        return self.conn.execute(update(outbox).where(outbox.c.status == "sending",
                                                      outbox.c.next_attempt_at < older_than)
                                 .values(status="pending")).rowcount
