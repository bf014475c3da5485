"""The escalation matrix as plain, engine-neutral values."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from .conditions import Any, Condition, Test, fields_in


@dataclass(frozen=True)
class Severity:
    name: str
    rank: int                       # 0 is the most severe
    platform_priority: Mapping[str, str]   # {"jira": "Highest", "zendesk": "urgent"}
    description: str = ""


@dataclass(frozen=True)
class Party:
    """A person or team who can own a ticket or receive a message."""
    name: str
    kind: str                       # person | team
    display_name: str = ""
    jira_account_id: str = ""
    zendesk_user_id: str = ""
    zendesk_group_id: str = ""
    email: str = ""
    slack: str = ""
    teams: str = ""
    members: tuple[str, ...] = ()

    def assignee_for(self, platform: str) -> str:
        """The id the platform assigns tickets to, or '' when this party has none there."""
        if platform == "jira":
            return self.jira_account_id
        if platform == "zendesk":
            if self.zendesk_user_id:
                return f"user:{self.zendesk_user_id}"
            return f"group:{self.zendesk_group_id}" if self.zendesk_group_id else ""
        return self.name


@dataclass(frozen=True)
class OwnerRule:
    """A fixed owner, or one chosen by a ticket field (`by`) through `choices`."""
    default: str
    by: str = ""
    choices: Mapping[str, str] = field(default_factory=dict)

    def names(self) -> set[str]:
        return {self.default, *self.choices.values()} - {""}


@dataclass(frozen=True)
class Level:
    id: str
    rank: int                       # 0 is the first level (L1)
    name: str
    owner: OwnerRule | None
    duties: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()


@dataclass(frozen=True)
class Calendar:
    name: str
    kind: str                       # always | business
    timezone: str = "UTC"
    days: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)   # Monday is 0
    start: str = "00:00"
    end: str = "24:00"
    holidays: str = ""              # ISO country code, optionally COUNTRY-SUBDIVISION


@dataclass(frozen=True)
class TimerSpec:
    name: str                       # ack, plan, rca, update, or an exception's own timer
    duration: timedelta
    calendar: str
    recurring: bool = False


@dataclass(frozen=True)
class SeverityTimers:
    severity: str
    timers: tuple[TimerSpec, ...]
    warn_at: float = 0.8            # fraction of the duration at which a warning fires
    pause_when_waiting: bool = False


@dataclass(frozen=True)
class Effects:
    severity: str = ""
    level: str = ""
    owner: str = ""
    labels: tuple[str, ...] = ()
    add_timers: tuple[TimerSpec, ...] = ()
    pin: bool = False               # the severity holds even against an agent's own priority change


@dataclass(frozen=True)
class Rule:
    """A trigger, an exception or a timer stop: when `when` holds, `then` applies."""
    name: str
    kind: str                       # trigger | exception | stop
    when: Condition
    then: Effects = Effects()
    category: str = ""              # exceptions: customer_requested_priority, regional_compliance, ...
    stops: tuple[str, ...] = ()     # stop rules: the timers they stop
    path: str = ""                  # YAML path, for messages
    description: str = ""
    fields: tuple[str, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self):
        # Every decision's trace lists the fields of each matched rule: read the tree once.
        object.__setattr__(self, "fields", fields_in(self.when))


@dataclass(frozen=True)
class Communication:
    level: str
    on: str                         # escalated | update | resolved | stalled
    notify: tuple[str, ...]
    channel: str
    template: str
    cadence: str = ""               # a timer name, e.g. update
    sensitive: bool = False
    send: str = "auto"              # auto | draft | draft_then_auto (see plugin/domain/drafts.py)
    after: timedelta | None = None  # draft_then_auto: sent as rendered when nobody acted by then


@dataclass(frozen=True)
class FieldSource:
    """Where one ticket attribute comes from on one platform."""
    attribute: str                  # customer_tier, customer_region, product_area, ...
    platform: str
    kind: str                       # custom_field | label_prefix | component | organization_field | tag_prefix
    key: str = ""
    values: Mapping[str, str] = field(default_factory=dict)   # optional translation table


@dataclass(frozen=True)
class ReviewPolicy:
    """When a ticket is significant enough for an after-action review, and how often an overdue
    action item of one reminds its owner."""
    when: Condition
    remind_every: timedelta = timedelta(days=1)


# Without a `reviews:` section: the executive level or the most severe tier, as the guide has it.
# Values are normalised (case-folded) like every parsed condition's.
DEFAULT_REVIEWS = ReviewPolicy(Any((Test("current.level", "eq", "l3"), Test("current.severity", "eq", "critical"))))


@dataclass(frozen=True)
class Matrix:
    version: str
    severities: tuple[Severity, ...]
    levels: tuple[Level, ...]
    parties: Mapping[str, Party]
    calendars: Mapping[str, Calendar]
    timers: Mapping[str, SeverityTimers]
    triggers: tuple[Rule, ...]
    exceptions: tuple[Rule, ...]
    stops: tuple[Rule, ...]
    communications: tuple[Communication, ...]
    field_sources: tuple[FieldSource, ...]
    default_severity: str
    default_level: str
    source_files: tuple[str, ...] = ()
    templates_dir: str = ""         # where this matrix's message templates live
    reviews: ReviewPolicy = DEFAULT_REVIEWS

    @cached_property
    def severity_rank(self) -> dict[str, int]:
        return {s.name: s.rank for s in self.severities}

    @cached_property
    def level_rank(self) -> dict[str, int]:
        return {lv.id: lv.rank for lv in self.levels}

    @cached_property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule the engine evaluates, in the order decisions break ties."""
        return self.exceptions + self.triggers + self.stops

    def severity(self, name: str) -> Severity | None:
        return next((s for s in self.severities if s.name == name), None)

    def level(self, level_id: str) -> Level | None:
        return next((lv for lv in self.levels if lv.id == level_id), None)

    def severity_for_priority(self, platform: str, priority: str) -> str:
        wanted = priority.strip().casefold()
        for s in self.severities:
            if s.platform_priority.get(platform, "").casefold() == wanted and wanted:
                return s.name
        return ""
