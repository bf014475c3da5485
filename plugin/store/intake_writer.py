"""Group commit for intake: deliveries arriving together are inserted in one transaction.

Each delivery is still its own insert, and no request is answered before its delivery is
committed; what concurrent requests share is the commit, which costs far more than the insert
(a WAL append on SQLite, a flush to disk on PostgreSQL). The first request to arrive writes for
everyone waiting; when it is done, the next waiting request takes over.
"""
from __future__ import annotations

import threading

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from .port import IGNORED, NewDelivery
from .schema import deliveries


class _Slot:
    __slots__ = ("delivery", "ready", "lead", "result", "error")

    def __init__(self, delivery: NewDelivery):
        self.delivery, self.ready, self.lead = delivery, threading.Event(), False
        self.result: int | None = None
        self.error: BaseException | None = None


class IntakeWriter:
    def __init__(self, engine: Engine):
        self.engine = engine
        self.insert = _insert_or_skip(engine.dialect.name)
        self._lock = threading.Lock()
        self._queue: list[_Slot] = []
        self._busy = False

    def receive(self, delivery: NewDelivery) -> int | None:
        """The stored delivery's id, or None for a redelivery; returns once committed."""
        slot = _Slot(delivery)
        with self._lock:
            self._queue.append(slot)
            slot.lead, self._busy = not self._busy, True
        if not slot.lead:
            slot.ready.wait()
        if slot.lead:
            self._write_queued()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _write_queued(self) -> None:
        with self._lock:
            batch, self._queue = self._queue, []
        try:
            with self.engine.begin() as conn:
                # In dedupe-key order: two instances storing the same redeliveries then wait for each
                # other in one order, where any other order can deadlock on the unique index.
                for slot in sorted(batch, key=lambda s: (s.delivery.platform, s.delivery.dedupe_key)):
                    slot.result = self._store(conn, slot.delivery)
        except Exception as exc:      # nothing of the batch was committed: every request fails alike
            for slot in batch:
                slot.error = exc
        for slot in batch:
            slot.lead = False
            slot.ready.set()
        with self._lock:
            if self._queue:             # hand the writing over to the first request that waited
                self._queue[0].lead = True
                self._queue[0].ready.set()
            else:
                self._busy = False

    def _store(self, conn: Connection, delivery: NewDelivery) -> int | None:
        values = {**vars(delivery), "decided_at": delivery.received_at if delivery.status == IGNORED else None}
        return conn.execute(self.insert, values).scalar()


def _insert_or_skip(dialect: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: a redelivery returns no row and aborts nothing."""
    insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[dialect]
    return insert(deliveries).on_conflict_do_nothing(index_elements=["platform", "dedupe_key"]) \
        .returning(deliveries.c.id)
