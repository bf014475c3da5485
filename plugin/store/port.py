"""The storage port: what intake and the processor need from a store, as plain values.

Three adapters implement it: SQLite and PostgreSQL (`SqlStore`) and the simulator's `MemoryStore`;
one contract test suite runs against all three.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..domain.errors import EscalatorError
from ..domain.review import ActionItem, Review
from ..domain.ticket import TicketState
from ..domain.timers import Timer

RECEIVED, DECIDED, IGNORED, FAILED = "received", "decided", "ignored", "failed"     # a delivery's life
TicketRef = tuple[str, str]     # (platform, key)


class Conflict(EscalatorError):
    """Another processor decided some of this batch first; nothing of it was written."""


@dataclass(frozen=True)
class NewDelivery:
    platform: str
    dedupe_key: str
    received_at: datetime
    body: bytes
    headers: dict = field(default_factory=dict)
    status: str = RECEIVED              # or IGNORED: nothing to decide
    reason: str = ""
    event_kind: str = ""
    ticket_key: str = ""
    authenticated_by: str = ""


@dataclass(frozen=True)
class Received:
    """A delivery stored and waiting for its decision."""
    id: int
    platform: str
    ticket_key: str
    received_at: datetime
    body: bytes
    headers: dict
    authenticated_by: str = ""          # DRAFT_ACTION: a person's action on a draft, not a webhook


@dataclass(frozen=True)
class DueTimer:
    id: int
    platform: str
    key: str
    name: str
    at: datetime


@dataclass(frozen=True)
class TicketRecord:
    """Everything the decision for one ticket reads: state, the ticket as last seen, timers."""
    platform: str
    key: str
    state: TicketState = TicketState()
    snapshot: dict = field(default_factory=dict)
    timers: dict[str, Timer] = field(default_factory=dict)
    version: int = 0                    # 0: not stored yet; every write adds one
    created_at: datetime | None = None
    reviewed: bool = False              # has its after-action review (as loaded; the processor tracks a pass)

    def with_timer(self, timer: Timer) -> TicketRecord:
        """The same record with `timer` in place of its namesake (direct: this runs per timer event)."""
        return TicketRecord(self.platform, self.key, self.state, self.snapshot, {**self.timers, timer.name: timer},
                            self.version, self.created_at, self.reviewed)


@dataclass(frozen=True)
class OutboxRow:
    platform: str
    key: str
    kind: str
    data: dict
    request: list
    status: str                         # pending | dry_run
    delivery_id: int | None = None


@dataclass(frozen=True)
class LogEntry:
    platform: str
    key: str
    at: datetime
    delivery_id: int | None
    event_kind: str
    actor: str
    changes: dict
    decision: dict
    matrix_version: str
    communications: list = field(default_factory=list)
    outbox: tuple[OutboxRow, ...] = ()
    drafts: tuple[NewDraft, ...] = ()           # messages this decision drafted instead of sending
    draft_done: DraftDone | None = None         # the draft this event sent or discarded


@dataclass(frozen=True)
class NewDraft:
    """A message drafted for a person to tailor, written with the decision that drafted it."""
    platform: str
    key: str
    situation: str
    channel: str
    template: str
    mode: str
    owner: str
    level: str
    template_text: str
    variables: dict
    outbound: list
    recipients: list
    send_at: datetime | None


@dataclass(frozen=True)
class DraftDone:
    """What became of a pending draft; written only if it is still pending (acted on once)."""
    id: int
    status: str                         # sent | auto_sent | discarded
    text: str
    acted_by: str
    acted_at: datetime
    reason: str = ""


@dataclass(frozen=True)
class TimerWrite:
    platform: str
    key: str
    timer: Timer
    next_at: datetime | None            # when the processor must fire it next; None: never


@dataclass(frozen=True)
class NewReview:
    """An after-action review to create, written with the decision that made the ticket significant."""
    platform: str
    key: str
    at: datetime
    trigger: str
    matrix_version: str


@dataclass
class Batch:
    """What one processing pass writes, in one transaction."""
    now: datetime
    tickets: list[tuple[TicketRecord, int]] = field(default_factory=list)    # (new record, version read)
    timers: list[TimerWrite] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    decided: list[int] = field(default_factory=list)                         # delivery ids
    ignored: list[tuple[int, str]] = field(default_factory=list)             # (delivery id, reason)
    failed: list[tuple[int, str]] = field(default_factory=list)              # (delivery id, the error)
    reviews: list[NewReview] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tickets or self.timers or self.log or self.decided or self.ignored or self.failed)

    def add(self, other: Batch) -> None:
        """Take in what one ticket's events wrote."""
        for name in ("tickets", "timers", "log", "decided", "ignored", "failed", "reviews"):
            getattr(self, name).extend(getattr(other, name))


class StoragePort(Protocol):
    def receive(self, delivery: NewDelivery) -> int | None:
        """Store a delivery in one write; its id, or None when the platform already delivered it."""

    def pending(self, limit: int) -> list[Received]:
        """Received deliveries not yet decided, oldest first."""

    def due_timers(self, now: datetime, limit: int) -> list[DueTimer]:
        """Timers whose next point has passed, earliest first."""

    def next_timer_at(self) -> datetime | None:
        """The earliest point at which some timer needs firing."""

    def load(self, tickets: Iterable[TicketRef]) -> dict[TicketRef, TicketRecord]:
        """The records of these tickets (new tickets are absent), in one or two reads."""

    def timeline(self, platform: str, key: str) -> list[dict]:
        """The ticket's escalation log, oldest first."""

    def write(self, batch: Batch) -> None:
        """Write the batch in one transaction; raise Conflict (writing nothing) when another
        processor changed one of its tickets or decided one of its deliveries first."""

    def backlog(self, now: datetime) -> tuple[int, float]:
        """Deliveries waiting for a decision, and how long the oldest has waited (seconds)."""

    def transaction(self) -> AbstractContextManager: ...


@dataclass(frozen=True)
class ReviewSources:
    """What a review's pre-fill is computed from, read together."""
    log: list[dict]                     # the ticket's escalation log, oldest first
    timers: list[dict]                  # its timers as rows
    ratings: list[dict]                 # satisfaction deliveries: {"at", "platform", "body", "headers"}


ReviewChange = Callable[[Review], Review]
ActionChange = Callable[[ActionItem], ActionItem]


class ReviewStore(Protocol):
    """After-action reviews. Each change is a pure function applied to the review as stored, in one
    transaction that holds the review, so two team leads never overwrite each other."""

    def reviews(self, status: str | None = None, limit: int = 100, simulated: bool = False) -> list[Review]:
        """Newest first, with their action items; reviews of simulated tickets only when `simulated`."""

    def review(self, review_id: int) -> Review | None: ...

    def review_of(self, platform: str, key: str) -> Review | None: ...

    def review_sources(self, platform: str, key: str) -> ReviewSources: ...

    def change_review(self, review_id: int, change: ReviewChange) -> Review:
        """Store `change(review)`'s status, sections, frozen pre-fill and times; ReviewNotFound if absent."""

    def add_action(self, review_id: int, make: Callable[[Review, int], ActionItem]) -> ActionItem:
        """Store `make(review, next number)`."""

    def change_action(self, review_id: int, number: int, change: ActionChange) -> ActionItem: ...

    def reminders_due(self, now: datetime, every_before: datetime, limit: int) -> list[tuple[Review, ActionItem]]:
        """Open items due by `now` never reminded, or last reminded by `every_before`, oldest due first; never
        an item of a simulated ticket's review."""

    def remind(self, review_id: int, number: int, last: datetime | None, now: datetime,
               messages: Sequence[OutboxRow]) -> bool:
        """Record a reminder at `now` and queue its messages, if the item is still open and was last reminded
        at `last` (else another worker did it: False)."""


def ticket_refs(items: Sequence) -> Iterator[TicketRef]:
    for item in items:
        yield (item.platform, item.ticket_key if isinstance(item, Received) else item.key)
