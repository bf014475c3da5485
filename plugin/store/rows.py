"""Rows as the SQL tables and the in-memory store keep them, to and from the port's values."""
from __future__ import annotations

from datetime import datetime

from ..domain.ticket import TicketState
from ..domain.timers import Timer
from .port import TicketRecord, TimerWrite

_TIMER_COLUMNS = ("name", "seconds", "calendar", "recurring", "warn_fraction", "state", "started_at",
                  "segment_start", "due_at", "warn_at", "spent_seconds", "stopped_at", "warned", "fired_at", "id")


def timer_of(row) -> Timer:
    return Timer(**{name: row[name] for name in _TIMER_COLUMNS})


def record_of(row, clocks: dict[str, Timer]) -> TicketRecord:
    state = TicketState(severity=row["severity"], level=row["level"], owner=row["owner"],
                        matrix_version=row["matrix_version"], labels=tuple(row["labels"]), priority=row["priority"],
                        assignee=row["assignee"], human_severity=row["human_severity"])
    return TicketRecord(row["platform"], row["key"], state, row["snapshot"] or {}, clocks, row["version"],
                        row["created_at"])


def ticket_values(record: TicketRecord, now: datetime) -> dict:
    s = record.state
    return dict(severity=s.severity, level=s.level, owner=s.owner, assignee=s.assignee, priority=s.priority,
                labels=list(s.labels), matrix_version=s.matrix_version, human_severity=s.human_severity,
                snapshot=record.snapshot, version=record.version, updated_at=now)


def timer_values(write: TimerWrite) -> dict:
    t = write.timer
    values = {name: getattr(t, name) for name in _TIMER_COLUMNS if name != "id"}
    return {**values, "platform": write.platform, "key": write.key, "next_at": write.next_at}
