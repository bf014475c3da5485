"""The in-memory store behind the same port as SQL, for replays that run months of escalations in
seconds. Single-threaded: a replay has one processor, so a batch can never conflict."""
from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from .port import DECIDED, IGNORED, RECEIVED, Batch, Conflict, DueTimer, NewDelivery, Received, TicketRecord, TicketRef
from .rows import record_of, ticket_values, timer_of, timer_values


class MemoryStore:
    def __init__(self):
        self.deliveries: dict[int, dict] = {}
        self.dedupe: set[tuple[str, str]] = set()
        self.waiting: dict[int, dict] = {}          # received, not yet decided, in arrival order
        self.tickets: dict[TicketRef, dict] = {}
        self.log: list[dict] = []
        self.log_by_ticket: dict[TicketRef, list[dict]] = {}
        self.timers: dict[int, dict] = {}
        self.timers_by_ticket: dict[TicketRef, dict[str, int]] = {}
        self.outbox: list[dict] = []
        self.matrices: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._schedule: list[tuple[datetime, int]] = []     # (next_at, timer id); stale entries are skipped

    # -- the storage port ----------------------------------------------------------------------

    def receive(self, delivery: NewDelivery) -> int | None:
        if (delivery.platform, delivery.dedupe_key) in self.dedupe:
            return None
        self.dedupe.add((delivery.platform, delivery.dedupe_key))
        row = {**vars(delivery), "id": next(self._ids), "decided_at": None}
        self.deliveries[row["id"]] = row
        if delivery.status == RECEIVED:
            self.waiting[row["id"]] = row
        return row["id"]

    def pending(self, limit: int) -> list[Received]:
        rows = itertools.islice(self.waiting.values(), limit)
        return [Received(r["id"], r["platform"], r["ticket_key"], r["received_at"], r["body"], r["headers"])
                for r in rows]

    def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        due = []
        while self._schedule and self._schedule[0][0] <= now and len(due) < limit:
            at, timer_id = heapq.heappop(self._schedule)
            if self.timers[timer_id]["next_at"] == at and (not due or due[-1].id != timer_id):
                due.append(self._due(self.timers[timer_id]))
        for item in due:        # a read takes nothing away: the write that fires them moves them on
            heapq.heappush(self._schedule, (item.at, item.id))
        return due

    def next_timer_at(self) -> datetime | None:
        while self._schedule and self.timers[self._schedule[0][1]]["next_at"] != self._schedule[0][0]:
            heapq.heappop(self._schedule)
        return self._schedule[0][0] if self._schedule else None

    def load(self, refs: Iterable[TicketRef]) -> dict[TicketRef, TicketRecord]:
        found = {}
        for ref in refs:
            if ref in self.tickets:
                clocks = {name: timer_of(self.timers[i]) for name, i in self.timers_by_ticket.get(ref, {}).items()}
                found[ref] = record_of(self.tickets[ref], clocks)
        return found

    def timeline(self, platform: str, key: str) -> list[dict]:
        return list(self.log_by_ticket.get((platform, key), ()))

    def write(self, batch: Batch) -> None:
        self._check(batch)
        for delivery_id in batch.decided:
            self._decide(delivery_id, DECIDED, "", batch.now)
        for delivery_id, reason in batch.ignored:
            self._decide(delivery_id, IGNORED, reason, batch.now)
        for record, _ in batch.tickets:
            row = self.tickets.setdefault((record.platform, record.key), {
                "platform": record.platform, "key": record.key, "created_at": batch.now})
            row.update(ticket_values(record, batch.now))
        for write in batch.timers:
            self._write_timer(write)
        for entry in batch.log:
            self._append(entry, batch.now)

    def backlog(self, now: datetime) -> tuple[int, float]:
        oldest = next(iter(self.waiting.values()), None)
        return len(self.waiting), (now - oldest["received_at"]).total_seconds() if oldest else 0.0

    @contextmanager
    def transaction(self) -> Iterator[MemoryStore]:
        yield self

    reading = transaction

    def ping(self) -> None:
        pass

    def dispose(self) -> None:
        pass

    # -- reads the simulator's reports and the matrices use ------------------------------------

    def timers_of(self, platform: str, key: str) -> list[dict]:
        return [self.timers[i] for i in self.timers_by_ticket.get((platform, key), {}).values()]

    def remember_matrix(self, version: str, files: dict, now: datetime) -> None:
        self.matrices.setdefault(version, {"files": files})["activated_at"] = now

    def matrix_files(self, version: str) -> dict | None:
        return self.matrices.get(version, {}).get("files")

    def last_good_matrix(self) -> str | None:
        return max(self.matrices, key=lambda v: self.matrices[v]["activated_at"], default=None)

    # -- internals ------------------------------------------------------------------------------

    def _check(self, batch: Batch) -> None:
        claimed = batch.decided + [i for i, _ in batch.ignored]
        if any(i not in self.waiting for i in claimed):
            raise Conflict("a delivery of this batch was already decided")
        for record, read in batch.tickets:
            row = self.tickets.get((record.platform, record.key))
            if (row["version"] if row else 0) != read:
                raise Conflict(f"ticket {record.platform}/{record.key} changed since it was read")

    def _decide(self, delivery_id: int, status: str, reason: str, now: datetime) -> None:
        row = self.waiting.pop(delivery_id)
        row.update(status=status, decided_at=now, **({"reason": reason} if reason else {}))

    def _write_timer(self, write) -> None:
        ref = (write.platform, write.key)
        timer_id = write.timer.id or self.timers_by_ticket.get(ref, {}).get(write.timer.name) or next(self._ids)
        self.timers[timer_id] = {**timer_values(write), "id": timer_id}
        if write.next_at is not None:
            heapq.heappush(self._schedule, (write.next_at, timer_id))
        self.timers_by_ticket.setdefault(ref, {})[write.timer.name] = timer_id

    def _append(self, entry, now: datetime) -> None:
        row = {name: getattr(entry, name) for name in ("platform", "key", "at", "delivery_id", "event_kind", "actor",
                                                        "changes", "decision", "matrix_version", "communications")}
        row["id"] = next(self._ids)
        self.log.append(row)
        self.log_by_ticket.setdefault((entry.platform, entry.key), []).append(row)
        self.outbox += [{"id": next(self._ids), "platform": o.platform, "key": o.key, "kind": o.kind, "data": o.data,
                         "request": o.request, "status": o.status, "created_at": now, "log_id": row["id"],
                         "delivery_id": o.delivery_id} for o in entry.outbox]

    @staticmethod
    def _due(row: dict) -> DueTimer:
        return DueTimer(row["id"], row["platform"], row["key"], row["name"], row["next_at"])
