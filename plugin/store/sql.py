"""The SQL store: one code path for embedded SQLite (WAL) and PostgreSQL."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import bindparam, create_engine, event, func, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from ..domain.actions import Action
from ..domain.ticket import TicketState
from .schema import deliveries, escalation_log, matrices, metadata, outbox, tickets, timers


class Store:
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url, **_engine_options(url))
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
        metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self.engine.begin() as conn:
            yield Transaction(conn)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))

    def dispose(self) -> None:
        self.engine.dispose()


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Several threads (web requests, the outbox worker) share the file; WAL lets readers run.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    return {"pool_pre_ping": True}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINTs (a rolled-back outer transaction kept
    # the savepoint's insert); take transactions over, as SQLAlchemy's docs recommend.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(conn) -> None:
    # IMMEDIATE takes the write lock up front: two writers never deadlock upgrading read locks.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


# The statements of the webhook path, built once: building one per call (`.values(...)`, literal
# `where` values) cost SQLAlchemy more than SQLite took to run it.
_INSERT = {table.name: insert(table) for table in (deliveries, tickets, escalation_log, timers, outbox)}
_UPDATE_BY_ID = {table.name: update(table).where(table.c.id == bindparam("b_id"))
                 for table in (deliveries, timers, escalation_log)}
_TICKET = (tickets.c.platform == bindparam("b_platform")) & (tickets.c.key == bindparam("b_key"))
_UPDATE_TICKET = update(tickets).where(_TICKET)
_SELECT_TICKET = select(tickets).where(_TICKET)
_TIMERS_OF = select(timers).where(timers.c.platform == bindparam("b_platform"),
                                  timers.c.key == bindparam("b_key")).order_by(timers.c.id)
_TIMELINE = select(escalation_log).where(escalation_log.c.platform == bindparam("b_platform"),
                                         escalation_log.c.key == bindparam("b_key")).order_by(escalation_log.c.id)


class Transaction:
    """Everything one delivery writes, committed together or not at all."""

    def __init__(self, conn: Connection):
        self.conn = conn

    # -- deliveries ---------------------------------------------------------------------------

    def record_delivery(self, *, platform: str, dedupe_key: str, received_at: datetime, headers: dict,
                        body: bytes, status: str = "accepted", authenticated_by: str = "") -> int | None:
        """The new delivery's id, or None when this platform already delivered `dedupe_key`."""
        values = dict(platform=platform, dedupe_key=dedupe_key, received_at=received_at, status=status, reason="",
                      event_kind="", ticket_key="", authenticated_by=authenticated_by, headers=headers, body=body)
        try:
            with self.conn.begin_nested():
                return self.conn.execute(_INSERT["deliveries"], values).inserted_primary_key[0]
        except IntegrityError:
            return None

    def update_delivery(self, delivery_id: int, **values) -> None:
        self.conn.execute(_UPDATE_BY_ID["deliveries"], {"b_id": delivery_id, **values})

    def recent_deliveries(self, limit: int) -> list[dict]:
        rows = self.conn.execute(select(deliveries.c.id, deliveries.c.platform, deliveries.c.dedupe_key,
                                        deliveries.c.received_at, deliveries.c.status, deliveries.c.reason,
                                        deliveries.c.event_kind, deliveries.c.ticket_key,
                                        deliveries.c.authenticated_by)
                                 .order_by(deliveries.c.id.desc()).limit(limit)).mappings().all()
        return [dict(r) for r in rows]

    def deliveries_between(self, since: datetime, until: datetime | None = None) -> list[dict]:
        """Accepted deliveries with their bodies, oldest first (for `escalator export`)."""
        query = select(deliveries).where(deliveries.c.received_at >= since, deliveries.c.status == "accepted")
        if until is not None:
            query = query.where(deliveries.c.received_at < until)
        return [dict(r) for r in self.conn.execute(query.order_by(deliveries.c.id)).mappings().all()]

    def delivery_counts(self) -> dict[tuple[str, str], int]:
        rows = self.conn.execute(select(deliveries.c.platform, deliveries.c.status, func.count())
                                 .group_by(deliveries.c.platform, deliveries.c.status)).all()
        return {(platform, status): count for platform, status, count in rows}

    # -- tickets --------------------------------------------------------------------------------

    def ticket_state(self, platform: str, key: str) -> TicketState:
        row = self._ticket_row(platform, key)
        if row is None:
            return TicketState()
        return TicketState(severity=row["severity"], level=row["level"], owner=row["owner"],
                           matrix_version=row["matrix_version"], labels=tuple(row["labels"]),
                           priority=row["priority"], assignee=row["assignee"], human_severity=row["human_severity"])

    def ticket(self, platform: str, key: str) -> dict | None:
        row = self._ticket_row(platform, key)
        return dict(row) if row is not None else None

    def _ticket_row(self, platform, key):
        return self.conn.execute(_SELECT_TICKET, {"b_platform": platform, "b_key": key}).mappings().first()

    def save_ticket(self, platform: str, key: str, state: TicketState, now: datetime,
                    snapshot: dict | None = None) -> None:
        values = dict(severity=state.severity, level=state.level, owner=state.owner, assignee=state.assignee,
                      priority=state.priority, labels=list(state.labels), matrix_version=state.matrix_version,
                      human_severity=state.human_severity, updated_at=now)
        if snapshot is not None:
            values["snapshot"] = snapshot
        changed = self.conn.execute(_UPDATE_TICKET, {"b_platform": platform, "b_key": key, **values}).rowcount
        if not changed:
            values.setdefault("snapshot", {})
            self.conn.execute(_INSERT["tickets"], dict(platform=platform, key=key, created_at=now, **values))

    # -- escalation log -------------------------------------------------------------------------

    def append_log(self, *, platform: str, key: str, at: datetime, delivery_id: int | None, event_kind: str,
                   actor: str, changes: dict, decision: dict, matrix_version: str) -> int:
        return self.conn.execute(_INSERT["escalation_log"], dict(
            platform=platform, key=key, at=at, delivery_id=delivery_id, event_kind=event_kind, actor=actor,
            changes=changes, decision=decision, matrix_version=matrix_version, communications=[])
        ).inserted_primary_key[0]

    def set_log_communications(self, log_id: int, communications: list[dict]) -> None:
        self.conn.execute(_UPDATE_BY_ID["escalation_log"], {"b_id": log_id, "communications": communications})

    def timeline(self, platform: str, key: str) -> list[dict]:
        rows = self.conn.execute(_TIMELINE, {"b_platform": platform, "b_key": key}).mappings().all()
        return [dict(r) for r in rows]

    # -- timers ---------------------------------------------------------------------------------

    def timer_named(self, platform: str, key: str, name: str) -> dict | None:
        return next((t for t in self.timers_of(platform, key) if t["name"] == name), None)

    def timer(self, timer_id: int) -> dict | None:
        row = self.conn.execute(select(timers).where(timers.c.id == timer_id)).mappings().first()
        return dict(row) if row is not None else None

    def arm_timer(self, *, platform, key, name, seconds, calendar, recurring, warn_fraction, now, due_at,
                  warn_at, timer_id: int | None = None) -> int:
        """Start (or restart, given its id) a timer from `now`; returns its id."""
        values = dict(seconds=seconds, calendar=calendar, recurring=recurring, state="running", started_at=now,
                      stopped_at=None, segment_start=now, spent_seconds=0, due_at=due_at, warn_at=warn_at,
                      warned=False, fired_at=None, warn_fraction=warn_fraction)
        if timer_id is None:
            timer_id = (self.timer_named(platform, key, name) or {}).get("id")
        if timer_id is not None:
            self.update_timer(timer_id, **values)
            return timer_id
        return self.conn.execute(_INSERT["timers"], dict(platform=platform, key=key, name=name, **values)
                                 ).inserted_primary_key[0]

    def update_timer(self, timer_id: int, **values) -> None:
        self.conn.execute(_UPDATE_BY_ID["timers"], {"b_id": timer_id, **values})

    def timers_of(self, platform: str, key: str) -> list[dict]:
        rows = self.conn.execute(_TIMERS_OF, {"b_platform": platform, "b_key": key}).mappings().all()
        return [dict(r) for r in rows]

    def due_timer_ids(self, now: datetime, limit: int = 500) -> list[int]:
        """Running timers whose warning or deadline has passed."""
        due = (timers.c.due_at <= now) | ((timers.c.warn_at <= now) & (timers.c.warned.is_(False)))
        return list(self.conn.execute(select(timers.c.id).where(timers.c.state == "running", due)
                                      .order_by(timers.c.due_at).limit(limit)).scalars())

    def running_timer_count(self) -> int:
        return self.conn.execute(select(func.count()).select_from(timers).where(timers.c.state == "running")
                                 ).scalar_one()

    # -- matrices -------------------------------------------------------------------------------

    def remember_matrix(self, version: str, files: dict[str, str], now: datetime) -> None:
        """Keep a matrix's source, so tickets pinned to it can be evaluated after a restart."""
        if self.conn.execute(update(matrices).where(matrices.c.version == version)
                             .values(activated_at=now)).rowcount == 0:
            self.conn.execute(insert(matrices).values(version=version, files=files, created_at=now,
                                                      activated_at=now))

    def matrix_files(self, version: str) -> dict[str, str] | None:
        return self.conn.execute(select(matrices.c.files).where(matrices.c.version == version)).scalar()

    def last_good_matrix(self) -> str | None:
        return self.conn.execute(select(matrices.c.version).order_by(matrices.c.activated_at.desc()).limit(1)
                                 ).scalar()

    # -- outbox ---------------------------------------------------------------------------------

    def enqueue(self, action: Action, *, request: list[dict], status: str, now: datetime,
                delivery_id: int | None, log_id: int | None) -> int:
        return self.conn.execute(_INSERT["outbox"], dict(
            platform=action.platform, key=action.key, kind=action.kind, data=action.data, request=request,
            status=status, attempts=0, next_attempt_at=now, last_error="", created_at=now,
            delivery_id=delivery_id, log_id=log_id, finished_at=None)).inserted_primary_key[0]

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

    def due_outbox_ids(self, now: datetime, limit: int) -> list[int]:
        return list(self.conn.execute(select(outbox.c.id).where(outbox.c.status == "pending",
                                                                outbox.c.next_attempt_at <= now)
                                      .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit)).scalars())

    def claim(self, outbox_id: int, now: datetime) -> dict | None:
        """Take one due row for sending; None if another worker took it first."""
        taken = self.conn.execute(update(outbox).where(outbox.c.id == outbox_id, outbox.c.status == "pending")
                                  .values(status="sending", attempts=outbox.c.attempts + 1,
                                          next_attempt_at=now)).rowcount
        if not taken:
            return None
        return dict(self.conn.execute(select(outbox).where(outbox.c.id == outbox_id)).mappings().one())

    def finish(self, outbox_id: int, *, status: str, now: datetime, error: str = "",
               retry_at: datetime | None = None) -> None:
        values = {"status": status, "last_error": error}
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        else:
            values["finished_at"] = now
        self.conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))

    def release_stuck(self, older_than: datetime) -> int:
        """Rows a crashed worker left in `sending` go back to `pending` (the sweep)."""
        return self.conn.execute(update(outbox).where(outbox.c.status == "sending",
                                                      outbox.c.next_attempt_at < older_than)
                                 .values(status="pending")).rowcount
