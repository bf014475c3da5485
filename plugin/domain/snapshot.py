"""The ticket as last seen, kept so that timer events are evaluated against what the ticket showed."""
from __future__ import annotations

from datetime import datetime

from .ticket import EventKind, TicketEvent

SNAPSHOT_FIELDS = ("summary", "description", "status", "priority", "issue_type", "project", "labels", "components",
                   "reporter", "reporter_name", "assignee", "organization", "customer_tier", "customer_region",
                   "product_area", "account_manager", "requested_priority")
_DESCRIPTION_KEPT = 4000
TIMER_ACTOR = "escalator"          # the actor of events the SLA clock raises


def snapshot_of(event: TicketEvent) -> dict:
    """The ticket as this event showed it."""
    snapshot = {name: getattr(event, name) for name in SNAPSHOT_FIELDS}
    snapshot["labels"], snapshot["components"] = list(event.labels), list(event.components)
    snapshot["description"] = event.description[:_DESCRIPTION_KEPT]
    return snapshot


def merged_snapshot(known: dict | None, event: TicketEvent) -> dict:
    """The snapshot updated with what this event shows. A Jira comment webhook carries a trimmed
    issue, so an empty value means "not said", never "cleared"."""
    merged = dict(known or {})
    merged.update({k: v for k, v in snapshot_of(event).items() if v not in ("", [], None)})
    return merged


def timer_event(platform: str, key: str, snapshot: dict, kind: EventKind, timer: str, now: datetime) -> TicketEvent:
    """The event a due timer raises, carrying the ticket as last seen."""
    values = {k: v for k, v in snapshot.items() if k in SNAPSHOT_FIELDS}
    values["labels"] = tuple(values.get("labels", ()))
    values["components"] = tuple(values.get("components", ()))
    return TicketEvent(platform, kind, key, occurred_at=now, timer=timer, actor=TIMER_ACTOR, **values)
