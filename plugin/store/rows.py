"""Rows as the SQL tables and the in-memory store keep them, to and from the port's values."""
from __future__ import annotations

from datetime import datetime

from ..domain.review import ActionItem, Review
from ..domain.ticket import TicketState
from ..domain.timers import Timer
from .port import NewReview, TicketRecord, TimerWrite

_TIMER_COLUMNS = ("name", "seconds", "calendar", "recurring", "warn_fraction", "state", "started_at",
                  "segment_start", "due_at", "warn_at", "spent_seconds", "stopped_at", "warned", "fired_at", "id")


def timer_of(row) -> Timer:
    return Timer(**{name: row[name] for name in _TIMER_COLUMNS})


def record_of(row, clocks: dict[str, Timer]) -> TicketRecord:
    state = TicketState(severity=row["severity"], level=row["level"], owner=row["owner"],
                        matrix_version=row["matrix_version"], labels=tuple(row["labels"]), priority=row["priority"],
                        assignee=row["assignee"], human_severity=row["human_severity"])
    return TicketRecord(row["platform"], row["key"], state, row["snapshot"] or {}, clocks, row["version"],
                        row["created_at"], row.get("review_id") is not None)


def ticket_values(record: TicketRecord, now: datetime) -> dict:
    s = record.state
    return dict(severity=s.severity, level=s.level, owner=s.owner, assignee=s.assignee, priority=s.priority,
                labels=list(s.labels), matrix_version=s.matrix_version, human_severity=s.human_severity,
                snapshot=record.snapshot, version=record.version, updated_at=now)


def timer_values(write: TimerWrite) -> dict:
    t = write.timer
    values = {name: getattr(t, name) for name in _TIMER_COLUMNS if name != "id"}
    return {**values, "platform": write.platform, "key": write.key, "next_at": write.next_at}


_REVIEW_COLUMNS = ("id", "platform", "key", "status", "created_at", "updated_at", "trigger", "matrix_version",
                   "sections", "frozen", "final_at")
_ACTION_COLUMNS = ("number", "title", "owner", "due_at", "status", "link", "created_at", "closed_at",
                   "last_reminded_at")


def new_review_values(new: NewReview) -> dict:
    return dict(platform=new.platform, key=new.key, status="draft", trigger=new.trigger,
                matrix_version=new.matrix_version, sections={}, frozen=None, created_at=new.at, updated_at=new.at,
                final_at=None)


def review_of(row, actions=()) -> Review:
    # `simulated` comes from the ticket, read alongside (SQLite answers the EXISTS with 0 or 1).
    return Review(**{name: row[name] for name in _REVIEW_COLUMNS}, actions=tuple(actions),
                  simulated=bool(row.get("simulated", False)))


def review_values(review: Review) -> dict:
    """What a change may write: never the ticket or the creation."""
    return dict(status=review.status, sections=dict(review.sections), frozen=review.frozen,
                updated_at=review.updated_at, final_at=review.final_at)


def action_of(row) -> ActionItem:
    return ActionItem(**{name: row[name] for name in _ACTION_COLUMNS})


def action_values(item: ActionItem) -> dict:
    return {name: getattr(item, name) for name in _ACTION_COLUMNS}
