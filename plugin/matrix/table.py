"""The matrix as a table a team lead can read: levels × severities, each cell with the timers that
apply, what is sent on which channel, and the exceptions that change it.

Pure presentation values (no web framework), built from a parsed Matrix; `as_dict` is the JSON form.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..domain.conditions import All, Condition, Test
from ..domain.durations import format_duration
from ..domain.matrix import (
    Calendar,
    Communication,
    FieldSource,
    Level,
    Matrix,
    OwnerRule,
    Party,
    Rule,
    SeverityTimers,
    TimerSpec,
)
from .words import condition_words, effects_words

_TIMER_WORDS = {"ack": "acknowledge", "plan": "remediation plan", "rca": "root-cause analysis",
                "update": "customer update"}
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class SeverityColumn:
    name: str
    description: str
    priorities: dict[str, str]          # platform -> the priority written back there


@dataclass(frozen=True)
class OwnerView:
    """Who owns a level: one party, or one chosen by a ticket field with a fallback."""
    default: str
    default_name: str
    by: str = ""
    choices: tuple[tuple[str, str], ...] = ()      # (field value, owner)


@dataclass(frozen=True)
class TimerView:
    name: str
    meaning: str
    duration: str                       # 15m, 2h, 1d
    recurring: bool


@dataclass(frozen=True)
class MessageView:
    on: str
    notify: tuple[str, ...]
    channel: str
    template: str
    cadence: str = ""                   # "every 30m" for this severity, "" when none
    sensitive: bool = False


@dataclass(frozen=True)
class ExceptionNote:
    name: str
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    severity: str
    level: str
    timers: tuple[TimerView, ...]
    calendar: str
    warn_at: str                        # "80%", "" when there are no timers
    pause_when_waiting: bool
    messages: tuple[MessageView, ...]
    exceptions: tuple[ExceptionNote, ...]


@dataclass(frozen=True)
class LevelRow:
    id: str
    name: str
    owner: OwnerView | None
    duties: tuple[str, ...]
    teams: tuple[str, ...]
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class RuleView:
    name: str
    kind: str                           # trigger | exception | stop
    when: str
    then: tuple[str, ...]
    description: str = ""
    category: str = ""
    path: str = ""


@dataclass(frozen=True)
class CalendarView:
    name: str
    hours: str


@dataclass(frozen=True)
class PartyView:
    """A team or person the matrix names, and how Escalator reaches or assigns them."""
    name: str
    display_name: str
    kind: str                           # team | person
    contacts: tuple[str, ...]           # "email x@y", "slack #channel", "jira 5b10...", "zendesk group 36..."
    members: tuple[str, ...]


@dataclass(frozen=True)
class FieldSourceView:
    """Where a customer attribute is read from on one platform."""
    attribute: str
    platform: str
    source: str                         # "custom field customfield_10050", "label prefix region-", "components"
    values: tuple[tuple[str, str], ...]  # (platform value, matrix value) translations


@dataclass(frozen=True)
class MatrixTable:
    version: str
    label: str                          # the matrix's own `version:` text, when it has one
    severities: tuple[SeverityColumn, ...]
    rows: tuple[LevelRow, ...]
    triggers: tuple[RuleView, ...]
    exceptions: tuple[RuleView, ...]
    stops: tuple[RuleView, ...]
    calendars: tuple[CalendarView, ...]
    parties: tuple[PartyView, ...]
    field_sources: tuple[FieldSourceView, ...]
    owner_overrides: tuple[tuple[str, str], ...]    # (trigger, owner): triggers that name an owner beat the level's
    reviews_when: str
    reviews_remind_every: str
    default_severity: str
    default_level: str

    def as_dict(self) -> dict:
        return asdict(self)


def matrix_table(matrix: Matrix, label: str = "") -> MatrixTable:
    """The whole matrix as rows of levels and columns of severities."""
    return MatrixTable(
        version=matrix.version, label=label,
        severities=tuple(SeverityColumn(s.name, s.description, dict(s.platform_priority)) for s in matrix.severities),
        rows=tuple(_row(matrix, level) for level in matrix.levels),
        triggers=tuple(rule_view(r, matrix) for r in matrix.triggers),
        exceptions=tuple(rule_view(r, matrix) for r in matrix.exceptions),
        stops=tuple(rule_view(r, matrix) for r in matrix.stops),
        calendars=tuple(CalendarView(c.name, calendar_words(c)) for c in matrix.calendars.values()),
        parties=tuple(PartyView(p.name, p.display_name, p.kind, party_contacts(p), p.members)
                      for p in matrix.parties.values()),
        field_sources=tuple(_field_source(f) for f in matrix.field_sources),
        owner_overrides=tuple((r.name, r.then.owner) for r in matrix.triggers if r.then.owner),
        reviews_when=condition_words(matrix.reviews.when, matrix),
        reviews_remind_every=format_duration(matrix.reviews.remind_every),
        default_severity=matrix.default_severity, default_level=matrix.default_level)


def rule_view(rule: Rule, matrix: Matrix) -> RuleView:
    then = (f"stops {', '.join(rule.stops)}",) if rule.stops else tuple(effects_words(rule.then))
    return RuleView(rule.name, rule.kind, condition_words(rule.when, matrix), then, rule.description,
                    rule.category, rule.path)


def _row(matrix: Matrix, level: Level) -> LevelRow:
    owner = _owner(matrix, level.owner) if level.owner else None
    return LevelRow(level.id, level.name, owner, level.duties, level.teams,
                    tuple(cell(matrix, s.name, level.id) for s in matrix.severities))


def _owner(matrix: Matrix, rule: OwnerRule) -> OwnerView:
    party = matrix.parties.get(rule.default)
    return OwnerView(rule.default, party.display_name if party else rule.default, rule.by,
                     tuple(sorted(rule.choices.items())))


def cell(matrix: Matrix, severity: str, level: str) -> Cell:
    """What applies to a ticket of `severity` at `level`."""
    spec = matrix.timers.get(severity) or SeverityTimers(severity, ())
    calendar = spec.timers[0].calendar if spec.timers else ""
    messages = tuple(_message(c, spec) for c in matrix.communications if c.level == level)
    notes = tuple(note for rule in matrix.exceptions if (note := _exception_note(matrix, rule, severity, level)))
    return Cell(severity, level, tuple(_timer(t) for t in spec.timers), calendar,
                f"{spec.warn_at:.0%}" if spec.timers else "", spec.pause_when_waiting, messages, notes)


def _timer(spec: TimerSpec) -> TimerView:
    return TimerView(spec.name, _TIMER_WORDS.get(spec.name, spec.name), format_duration(spec.duration),
                     spec.recurring)


def _message(communication: Communication, spec: SeverityTimers) -> MessageView:
    period = next((t.duration for t in spec.timers if t.name == communication.cadence), None)
    cadence = f"every {format_duration(period)}" if period else ""
    return MessageView(communication.on, communication.notify, communication.channel, communication.template,
                       cadence, communication.sensitive)


def _exception_note(matrix: Matrix, rule: Rule, severity: str, level: str) -> ExceptionNote | None:
    """What the exception changes for a ticket in this cell, or None when it cannot apply or changes nothing."""
    if not _may_hold(rule.when, "current.severity", severity) or not _may_hold(rule.when, "current.level", level):
        return None
    then, changes = rule.then, []
    if then.severity and matrix.severity_rank.get(then.severity, 99) < matrix.severity_rank.get(severity, 99):
        changes.append(f"severity → {then.severity}")
    if then.level and matrix.level_rank.get(then.level, -1) > matrix.level_rank.get(level, -1):
        changes.append(f"level → {then.level}")
    if then.owner:
        changes.append(f"owner → {then.owner}")
    changes += [f"+ {t.name} {format_duration(t.duration)} ({t.calendar})" for t in then.add_timers]
    return ExceptionNote(rule.name, tuple(changes)) if changes else None


def _may_hold(condition: Condition, field: str, value: str) -> bool:
    """False only when the condition plainly requires `field` to be something other than `value`."""
    if isinstance(condition, All):
        return all(_may_hold(item, field, value) for item in condition.items)
    if isinstance(condition, Test) and condition.field == field:
        wanted = value.casefold()
        if condition.op == "eq":
            return condition.value == wanted
        if condition.op == "in":
            return wanted in condition.value
        if condition.op == "neq":
            return condition.value != wanted
        if condition.op == "not_in":
            return wanted not in condition.value
    return True


def party_contacts(party: Party) -> tuple[str, ...]:
    """How a party is reached (email, Slack, Teams) and assigned (its Jira and Zendesk ids), as set."""
    return tuple(f"{what} {value}" for what, value in (
        ("email", party.email), ("slack", party.slack), ("teams", party.teams), ("jira", party.jira_account_id),
        ("zendesk user", party.zendesk_user_id), ("zendesk group", party.zendesk_group_id)) if value)


def _field_source(source: FieldSource) -> FieldSourceView:
    where = source.kind.replace("_", " ") + (f" {source.key}" if source.key else "")
    return FieldSourceView(source.attribute, source.platform, where, tuple(sorted(source.values.items())))


def calendar_words(calendar: Calendar) -> str:
    if calendar.kind == "always":
        return "around the clock, every day"
    days = _day_span(calendar.days)
    holidays = f", closed on {calendar.holidays} public holidays" if calendar.holidays else ""
    return f"{days} {calendar.start}–{calendar.end} {calendar.timezone}{holidays}"


def _day_span(days: tuple[int, ...]) -> str:
    ordered = sorted(days)
    if ordered and ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 2:
        return f"{_DAY_NAMES[ordered[0]]}–{_DAY_NAMES[ordered[-1]]}"
    return ", ".join(_DAY_NAMES[d] for d in ordered)
