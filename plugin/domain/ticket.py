"""What a platform tells us about a ticket, in one shape for Jira, Zendesk and the simulator."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class EventKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    COMMENTED = "commented"
    PRIORITY_CHANGED = "priority_changed"
    STATUS_CHANGED = "status_changed"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"
    REOPENED = "reopened"
    DELETED = "deleted"
    SATISFACTION_RATED = "satisfaction_rated"
    SLA_WARNING = "sla_warning"
    SLA_BREACHED = "sla_breached"
    COMMUNICATION_STALLED = "communication_stalled"


@dataclass(frozen=True)
class Comment:
    body: str
    author: str = ""
    public: bool = True
    by_agent: bool = False


@dataclass(frozen=True)
class Change:
    """One changelog item: the platform's field name and its old and new display values."""
    field: str
    old: str = ""
    new: str = ""


@dataclass(frozen=True)
class Satisfaction:
    """A customer satisfaction rating: `good`/`bad` (Zendesk) or a 1-5 score."""
    rating: str
    score: float | None = None
    comment: str = ""


@dataclass(frozen=True)
class TicketEvent:
    """One thing that happened to one ticket; the only input the matrix is evaluated on.

    `custom_fields` and `organization_fields` keep the platform's raw values so the matrix's
    field map (not the parser) decides where customer tier, region and product area come from.
    """
    platform: str
    kind: EventKind
    key: str
    occurred_at: datetime | None = None
    summary: str = ""
    description: str = ""
    status: str = ""
    priority: str = ""
    issue_type: str = ""
    project: str = ""
    labels: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    reporter: str = ""
    reporter_name: str = ""         # how to greet them; `reporter` is the platform's id
    assignee: str = ""
    actor: str = ""
    organization: str = ""
    comment: Comment | None = None
    changes: tuple[Change, ...] = ()
    satisfaction: Satisfaction | None = None
    timer: str = ""
    custom_fields: Mapping[str, object] = field(default_factory=dict)
    organization_fields: Mapping[str, object] = field(default_factory=dict)
    customer_tier: str = ""
    customer_region: str = ""
    product_area: str = ""
    account_manager: str = ""
    requested_priority: str = ""

    @property
    def text(self) -> str:
        """Everything a human wrote on this event, for text patterns."""
        parts = [self.summary, self.description]
        if self.comment:
            parts.append(self.comment.body)
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True)
class TicketState:
    """What we already decided for a ticket; empty for a ticket we have not seen."""
    severity: str = ""
    level: str = ""
    owner: str = ""
    matrix_version: str = ""
    labels: tuple[str, ...] = ()    # labels we added
    priority: str = ""              # the platform priority we last wrote
    assignee: str = ""              # the platform assignee we last wrote
    human_severity: str = ""        # set when an agent changed the priority by hand: respected
