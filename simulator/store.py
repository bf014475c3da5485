"""An in-memory store with the SQL store's transaction interface, for replays that run months of
escalations in seconds. Single-threaded: a replay has one writer and no rollbacks to honour."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import datetime

from plugin.domain.actions import Action
from plugin.domain.ticket import TicketState


class MemoryStore:
    def __init__(self):
        self.deliveries: dict[tuple[str, str], int] = {}
        self.tickets: dict[tuple[str, str], dict] = {}
        self.log: list[dict] = []
        self.log_by_ticket: dict[tuple[str, str], list[dict]] = {}
        self.timers: dict[int, dict] = {}
        self.timer_ids: dict[tuple[str, str, str], int] = {}
        self.timers_by_ticket: dict[tuple[str, str], dict[str, int]] = {}   # keeps timers_of O(timers of one ticket)
        self.outbox: list[dict] = []
        self.matrices: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self.tx = MemoryTransaction(self)

    @contextmanager
    def transaction(self):
        yield self.tx

    def ping(self) -> None:
        pass

    def dispose(self) -> None:
        pass


class MemoryTransaction:
    def __init__(self, store: MemoryStore):
        self.s = store

    # deliveries
    def record_delivery(self, *, platform, dedupe_key, **_ignored) -> int | None:
        if (platform, dedupe_key) in self.s.deliveries:
            return None
        self.s.deliveries[(platform, dedupe_key)] = next(self.s._ids)
        return self.s.deliveries[(platform, dedupe_key)]

    def update_delivery(self, delivery_id, **values) -> None:
        pass

    # tickets
    def ticket_state(self, platform, key) -> TicketState:
        row = self.s.tickets.get((platform, key))
        if row is None:
            return TicketState()
        return TicketState(severity=row["severity"], level=row["level"], owner=row["owner"],
                           matrix_version=row["matrix_version"], labels=tuple(row["labels"]),
                           priority=row["priority"], assignee=row["assignee"], human_severity=row["human_severity"])

    def ticket(self, platform, key) -> dict | None:
        return self.s.tickets.get((platform, key))

    def save_ticket(self, platform, key, state: TicketState, now: datetime, snapshot: dict | None = None) -> None:
        row = self.s.tickets.setdefault((platform, key), {"platform": platform, "key": key, "created_at": now,
                                                          "snapshot": {}})
        row.update(severity=state.severity, level=state.level, owner=state.owner, assignee=state.assignee,
                   priority=state.priority, labels=list(state.labels), matrix_version=state.matrix_version,
                   human_severity=state.human_severity, updated_at=now)
        if snapshot is not None:
            row["snapshot"] = snapshot

    # escalation log
    def append_log(self, *, platform, key, at, delivery_id, event_kind, actor, changes, decision,
                   matrix_version) -> int:
        entry = {"id": next(self.s._ids), "platform": platform, "key": key, "at": at, "delivery_id": delivery_id,
                 "event_kind": event_kind, "actor": actor, "changes": changes, "decision": decision,
                 "matrix_version": matrix_version, "communications": []}
        self.s.log.append(entry)
        self.s.log_by_ticket.setdefault((platform, key), []).append(entry)
        return entry["id"]

    def set_log_communications(self, log_id, communications) -> None:
        next(e for e in reversed(self.s.log) if e["id"] == log_id)["communications"] = communications

    def timeline(self, platform, key) -> list[dict]:
        return list(self.s.log_by_ticket.get((platform, key), ()))

    # timers
    def timer_named(self, platform, key, name) -> dict | None:
        timer_id = self.s.timer_ids.get((platform, key, name))
        return self.s.timers[timer_id] if timer_id is not None else None

    def timer(self, timer_id) -> dict | None:
        return self.s.timers.get(timer_id)

    def arm_timer(self, *, platform, key, name, seconds, calendar, recurring, warn_fraction, now, due_at,
                  warn_at, timer_id=None) -> int:
        timer_id = self.s.timer_ids.get((platform, key, name)) or next(self.s._ids)
        self.s.timer_ids[(platform, key, name)] = timer_id
        self.s.timers_by_ticket.setdefault((platform, key), {})[name] = timer_id
        self.s.timers[timer_id] = {
            "id": timer_id, "platform": platform, "key": key, "name": name, "seconds": seconds, "calendar": calendar,
            "recurring": recurring, "state": "running", "started_at": now, "stopped_at": None, "segment_start": now,
            "spent_seconds": 0, "due_at": due_at, "warn_at": warn_at, "warned": False, "fired_at": None,
            "warn_fraction": warn_fraction}
        return timer_id

    def update_timer(self, timer_id, **values) -> None:
        self.s.timers[timer_id].update(values)

    def timers_of(self, platform, key) -> list[dict]:
        return [self.s.timers[i] for i in self.s.timers_by_ticket.get((platform, key), {}).values()]

    def due_timer_ids(self, now, limit=500) -> list[int]:
        due = [t for t in self.s.timers.values() if t["state"] == "running" and (
            (t["due_at"] is not None and t["due_at"] <= now)
            or (t["warn_at"] is not None and not t["warned"] and t["warn_at"] <= now))]
        return [t["id"] for t in sorted(due, key=lambda t: t["due_at"])][:limit]

    # outbox: writes are recorded, never sent
    def enqueue(self, action: Action, *, request, status, now, delivery_id, log_id) -> int:
        row = {"id": next(self.s._ids), "platform": action.platform, "key": action.key, "kind": action.kind,
               "data": action.data, "request": request, "status": status, "created_at": now, "log_id": log_id}
        self.s.outbox.append(row)
        return row["id"]

    def outbox_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.s.outbox:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts

    # matrices
    def remember_matrix(self, version, files, now) -> None:
        self.s.matrices.setdefault(version, {"files": files})["activated_at"] = now

    def matrix_files(self, version):
        return self.s.matrices.get(version, {}).get("files")

    def last_good_matrix(self):
        return max(self.s.matrices, key=lambda v: self.s.matrices[v]["activated_at"], default=None)
