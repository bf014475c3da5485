"""The in-memory store behind the same port as SQL, for replays that run months of escalations in
seconds. Single-threaded: a replay has one processor, so a batch can never conflict.

`lean` keeps what reports of a month of incidents read and drops the rest as it goes: log entries
that changed nothing on the ticket and stopped no clock (most are the update cadence's reminders), rendered texts,
requests and the values behind each rule trace, so memory follows tickets, not events.
"""
from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime

from .drafts_memory import MemoryDrafts
from .port import (
    RECEIVED,
    Batch,
    Conflict,
    DueTimer,
    NewDelivery,
    Received,
    TicketRecord,
    TicketRef,
    TimerWrite,
)
from .reviews_memory import MemoryReviews
from .rows import record_of, ticket_values, timer_values


class MemoryStore(MemoryReviews, MemoryDrafts):
    def __init__(self, *, lean: bool = False):
        self.lean = lean
        self._init_reviews()
        self._init_drafts()
        self.dedupe: set[tuple[str, str]] = set()
        self.waiting: dict[int, dict] = {}          # received, not yet decided, in arrival order
        self.tickets: dict[TicketRef, dict] = {}
        self.log: list[dict] = []
        self.log_by_ticket: dict[TicketRef, list[dict]] = {}
        self.clocks: dict[int, TimerWrite] = {}     # by timer id, as last written
        self.timers_by_ticket: dict[TicketRef, dict[str, int]] = {}
        self.outbox: list[dict] = []                # empty when lean: `writes` counts them
        self.writes: Counter = Counter()            # outbox rows by "platform:kind"
        self.matrices: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._schedule: list[tuple[datetime, int]] = []     # (next_at, timer id); stale entries are skipped

    # -- the storage port ----------------------------------------------------------------------

    def receive(self, delivery: NewDelivery) -> int | None:
        if (delivery.platform, delivery.dedupe_key) in self.dedupe:
            return None
        self.dedupe.add((delivery.platform, delivery.dedupe_key))
        delivery_id = next(self._ids)
        if delivery.status == RECEIVED:     # a decided delivery's body is not kept: reports never read it
            self.waiting[delivery_id] = {**vars(delivery), "id": delivery_id}
        return delivery_id

    def pending(self, limit: int) -> list[Received]:
        rows = itertools.islice(self.waiting.values(), limit)
        return [Received(r["id"], r["platform"], r["ticket_key"], r["received_at"], r["body"], r["headers"],
                         r["authenticated_by"]) for r in rows]

    def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        due = []
        while self._schedule and self._schedule[0][0] <= now and len(due) < limit:
            at, timer_id = heapq.heappop(self._schedule)
            if self.clocks[timer_id].next_at == at and (not due or due[-1].id != timer_id):
                due.append(self._due(timer_id))
        for item in due:        # a read takes nothing away: the write that fires them moves them on
            heapq.heappush(self._schedule, (item.at, item.id))
        return due

    def next_timer_at(self) -> datetime | None:
        while self._schedule and self.clocks[self._schedule[0][1]].next_at != self._schedule[0][0]:
            heapq.heappop(self._schedule)
        timer = self._schedule[0][0] if self._schedule else None
        draft = self.next_draft_at()
        return min((at for at in (timer, draft) if at is not None), default=None)

    def load(self, refs: Iterable[TicketRef]) -> dict[TicketRef, TicketRecord]:
        found = {}
        for ref in refs:
            if ref in self.tickets:
                clocks = {name: self.clocks[i].timer for name, i in self.timers_by_ticket.get(ref, {}).items()}
                found[ref] = record_of(self.tickets[ref], clocks)
        return found

    def timeline(self, platform: str, key: str) -> list[dict]:
        return list(self.log_by_ticket.get((platform, key), ()))

    def write(self, batch: Batch) -> None:
        self._check(batch)
        for delivery_id in batch.decided + [i for i, _ in batch.ignored + batch.failed]:
            del self.waiting[delivery_id]     # decided: its body is no longer needed
        for record, _ in batch.tickets:
            row = self.tickets.setdefault((record.platform, record.key), {
                "platform": record.platform, "key": record.key, "created_at": batch.now})
            row.update(ticket_values(record, batch.now))
        for write in batch.timers:
            self._write_timer(write)
        for entry in batch.log:
            self._write_drafts(entry, batch.now)
            self._append(entry, batch.now)
        self._write_reviews(batch)

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

    @property
    def timers(self) -> dict[int, dict]:
        """Every timer as a row, like the SQL table's, for reports."""
        return {timer_id: {**timer_values(write), "id": timer_id} for timer_id, write in self.clocks.items()}

    def timers_of(self, platform: str, key: str) -> list[dict]:
        ids = self.timers_by_ticket.get((platform, key), {}).values()
        return [{**timer_values(self.clocks[i]), "id": i} for i in ids]

    def remember_matrix(self, version: str, files: dict, now: datetime) -> None:
        self.matrices.setdefault(version, {"files": files})["activated_at"] = now

    def matrix_files(self, version: str) -> dict | None:
        return self.matrices.get(version, {}).get("files")

    def last_good_matrix(self) -> str | None:
        return max(self.matrices, key=lambda v: self.matrices[v]["activated_at"], default=None)

    # -- internals ------------------------------------------------------------------------------

    def _check(self, batch: Batch) -> None:
        claimed = batch.decided + [i for i, _ in batch.ignored + batch.failed]
        if any(i not in self.waiting for i in claimed):
            raise Conflict("a delivery of this batch was already decided")
        for record, read in batch.tickets:
            row = self.tickets.get((record.platform, record.key))
            if (row["version"] if row else 0) != read:
                raise Conflict(f"ticket {record.platform}/{record.key} changed since it was read")

    def _write_timer(self, write: TimerWrite) -> None:
        ref = (write.platform, write.key)
        timer_id = write.timer.id or self.timers_by_ticket.get(ref, {}).get(write.timer.name) or next(self._ids)
        if write.timer.id != timer_id:      # a new timer takes its id
            write = TimerWrite(write.platform, write.key, replace(write.timer, id=timer_id), write.next_at)
        self.clocks[timer_id] = write
        if write.next_at is not None:
            heapq.heappush(self._schedule, (write.next_at, timer_id))
        self.timers_by_ticket.setdefault(ref, {})[write.timer.name] = timer_id

    def _append(self, entry, now: datetime) -> None:
        self.writes.update(f"{o.platform}:{o.kind}" for o in entry.outbox)
        if self.lean and not entry.changes and entry.event_kind != "resolved" and not entry.decision.get("stop_timers"):
            return      # reports and reviews read what changed, when a clock stopped, and when a ticket was resolved
        row = {name: getattr(entry, name) for name in ("platform", "key", "at", "delivery_id", "event_kind", "actor",
                                                        "changes", "decision", "matrix_version", "communications")}
        row["id"] = next(self._ids)
        if self.lean:
            row.update(decision=_lean_decision(entry.decision), communications=_lean(entry.communications))
        self.log.append(row)
        self.log_by_ticket.setdefault((entry.platform, entry.key), []).append(row)
        if not self.lean:
            self.outbox += [{"id": next(self._ids), "platform": o.platform, "key": o.key, "kind": o.kind,
                             "data": o.data, "request": o.request, "status": o.status, "created_at": now,
                             "log_id": row["id"], "delivery_id": o.delivery_id} for o in entry.outbox]

    def _due(self, timer_id: int) -> DueTimer:
        write = self.clocks[timer_id]
        return DueTimer(timer_id, write.platform, write.key, write.timer.name, write.next_at)


def _lean_decision(decision: dict) -> dict:
    """The rules that matched, without the field values they matched on, and the clocks they stopped."""
    return {"trace": [{"rule": f["rule"], "kind": f["kind"]} for f in decision.get("trace", ())],
            "stop_timers": list(decision.get("stop_timers", ()))}


def _lean(communications: list[dict]) -> list[dict]:
    """Who was told what on which channel, without the text."""
    return [{**c, "sent": [{"to": m["to"]} for m in c["sent"]]} for c in communications]
