"""The tables. Times are stored as timezone-aware UTC; JSON columns hold decisions and requests."""
from __future__ import annotations

from datetime import UTC

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (no time zones) and PostgreSQL alike."""
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),          # received | decided | ignored
    Column("reason", Text, nullable=False, default=""),
    Column("event_kind", String(32), nullable=False, default=""),
    Column("ticket_key", String(64), nullable=False, default=""),
    Column("authenticated_by", String(32), nullable=False, default=""),
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=True),
    UniqueConstraint("platform", "dedupe_key", name="uq_delivery_dedupe"),
    # The processor's inbox: a small index of what is waiting, whatever the size of the history.
    Index("ix_deliveries_received", "id", sqlite_where=text("status = 'received'"),
          postgresql_where=text("status = 'received'")),
)

tickets = Table(
    "tickets", metadata,
    Column("platform", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("severity", String(32), nullable=False, default=""),
    Column("level", String(32), nullable=False, default=""),
    Column("owner", String(64), nullable=False, default=""),
    Column("assignee", String(128), nullable=False, default=""),
    Column("priority", String(32), nullable=False, default=""),
    Column("labels", JSON, nullable=False),
    Column("matrix_version", String(32), nullable=False, default=""),
    Column("human_severity", String(32), nullable=False, default=""),
    Column("snapshot", JSON, nullable=False, default=dict),  # the ticket as last seen, for timer events
    Column("version", Integer, nullable=False, server_default="0"),  # every write adds one: optimistic locking
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Loaded by `escalator simulate --into-db`: shown on the dashboard, left out of real figures.
    Column("simulated", Boolean, nullable=False, server_default=text("false")),
    # The dashboard's figures read a period of tickets by when they were opened.
    Index("ix_tickets_created_at", "created_at"),
)

escalation_log = Table(
    "escalation_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("delivery_id", Integer, nullable=True),
    Column("event_kind", String(32), nullable=False),
    Column("actor", String(128), nullable=False, default=""),
    Column("changes", JSON, nullable=False),                # field -> [before, after]
    Column("decision", JSON, nullable=False),               # Decision.as_dict(), with its trace
    Column("matrix_version", String(32), nullable=False),
    Column("communications", JSON, nullable=False, default=list),  # rendered messages, sent or withheld
    # One index on the pair: with one per column SQLite read a platform's whole log per timeline.
    Index("ix_escalation_log_ticket", "platform", "key", "id"),
    # The matrix audit counts rule firings over the last 24 h, 7 d and 30 d.
    Index("ix_escalation_log_at", "at"),
)

timers = Table(
    "timers", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("name", String(64), nullable=False),
    Column("seconds", Integer, nullable=False),
    Column("calendar", String(64), nullable=False),
    Column("recurring", Boolean, nullable=False, default=False),
    Column("state", String(16), nullable=False),            # running | paused | stopped | breached
    Column("started_at", UtcDateTime(), nullable=False),
    Column("stopped_at", UtcDateTime(), nullable=True),
    Column("segment_start", UtcDateTime(), nullable=False),  # when the clock last (re)started counting
    Column("spent_seconds", Integer, nullable=False, default=0),  # working time used before segment_start
    Column("due_at", UtcDateTime(), nullable=True, index=True),   # None while paused
    Column("warn_at", UtcDateTime(), nullable=True),
    Column("warned", Boolean, nullable=False, default=False),
    Column("fired_at", UtcDateTime(), nullable=True),
    Column("warn_fraction", Float, nullable=False, default=0.8),
    # When the processor must fire this timer next: only points the matrix reacts to; NULL for never.
    Column("next_at", UtcDateTime(), nullable=True, index=True),
    UniqueConstraint("platform", "key", "name", name="uq_timer"),
)

matrices = Table(
    "matrices", metadata,
    Column("version", String(32), primary_key=True),
    Column("files", JSON, nullable=False),                  # relative path -> text: matrix.yaml and templates
    Column("created_at", UtcDateTime(), nullable=False),
    Column("activated_at", UtcDateTime(), nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("data", JSON, nullable=False),
    Column("request", JSON, nullable=False),                # the exact request(s), without credentials
    Column("status", String(16), nullable=False),   # pending | sending | sent | skipped | dry_run | dead
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("last_error", Text, nullable=False, default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    Column("delivery_id", Integer, nullable=True),
    Column("log_id", Integer, nullable=True),
    # PostgreSQL: the sender that claimed a `sending` row (its advisory lock lives as long as it does).
    Column("claimed_by", Integer, nullable=True),
    # The worker walks due rows in order; and each claim, and each write's pacing of the ticket's next
    # rows, looks at one ticket's unfinished rows. Without these a backlog made every claim read it all.
    Index("ix_outbox_due", "status", "next_attempt_at", "id"),
    Index("ix_outbox_ticket", "key", "platform", "status", "next_attempt_at"),
)

# After-action reviews: one per ticket at most, created in the processor's write that made the
# ticket significant. `sections` holds only what people wrote; the pre-fill is computed from the
# log on every read, and copied into `frozen` when the review becomes final.
reviews = Table(
    "reviews", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("status", String(16), nullable=False, index=True),     # draft | in_review | final
    Column("trigger", Text, nullable=False),
    Column("matrix_version", String(32), nullable=False),
    Column("sections", JSON, nullable=False),
    Column("frozen", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("final_at", UtcDateTime(), nullable=True),
    UniqueConstraint("platform", "key", name="uq_review_ticket"),
)

review_actions = Table(
    "review_actions", metadata,
    Column("review_id", Integer, primary_key=True),
    Column("number", Integer, primary_key=True),              # 1, 2, ... within the review
    Column("title", Text, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("due_at", UtcDateTime(), nullable=False),
    Column("status", String(16), nullable=False),             # open | done | wont_do
    Column("link", String(500), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    # When the owner was last reminded: kept, so a restart neither repeats nor loses a reminder.
    Column("last_reminded_at", UtcDateTime(), nullable=True),
    # The reminder sweep reads open items by due time, however many closed ones pile up.
    Index("ix_review_actions_open_due", "due_at", sqlite_where=text("status = 'open'"),
          postgresql_where=text("status = 'open'")),
)

# Customer messages drafted for a person to tailor (communications with `send: draft...`). Created
# in the processor's write with the decision that drafted them; acted on once, by the processor,
# when a person's send or discard (or the sweep's automatic send) arrives as a delivery.
drafts = Table(
    "drafts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("platform", String(16), nullable=False),
    Column("key", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("log_id", Integer, nullable=True),                # the decision that drafted it
    Column("situation", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("template", String(200), nullable=False),
    Column("mode", String(16), nullable=False),              # draft | draft_then_auto
    Column("owner", String(64), nullable=False),
    Column("level", String(32), nullable=False),
    Column("template_text", Text, nullable=False),
    Column("variables", JSON, nullable=False),
    Column("outbound", JSON, nullable=False),                # [{"platform", "kind", "data"}]
    Column("recipients", JSON, nullable=False),
    Column("send_at", UtcDateTime(), nullable=True),         # draft_then_auto: when it goes out as rendered
    Column("status", String(16), nullable=False),            # pending | sent | auto_sent | discarded
    Column("text", Text, nullable=False, default=""),
    Column("acted_by", String(128), nullable=False, default=""),
    Column("acted_at", UtcDateTime(), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Index("ix_drafts_ticket", "platform", "key"),
    # The sweep and the /drafts page read pending drafts only, however many were acted on.
    Index("ix_drafts_pending_send_at", "send_at", sqlite_where=text("status = 'pending'"),
          postgresql_where=text("status = 'pending'")),
)
