"""After-action reviews as values: the review and its action items, and the rules they change by.

A review is draft, then in review, then final; its sections are the guide's debrief questions.
Action items have an owner from the matrix, a due time and a status, and an overdue open item
reminds its owner every `remind_every` until it is closed. Pure: every function takes `now`.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from .errors import EscalatorError

DRAFT, IN_REVIEW, FINAL = "draft", "in_review", "final"
STATUSES = (DRAFT, IN_REVIEW, FINAL)
_NEXT = {DRAFT: IN_REVIEW, IN_REVIEW: FINAL}
OPEN, DONE, WONT_DO = "open", "done", "wont_do"
ITEM_STATUSES = (OPEN, DONE, WONT_DO)
MAX_TEXT = 20_000           # a section; longer text is a pasted log, not a debrief
MAX_TITLE = 300
_JIRA_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,19}-[1-9][0-9]{0,9}")
_URL = re.compile(r"https://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?")


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    prompt: str


# The debrief the guide asks for, plus the question that finds near misses before they recur.
SECTIONS = (
    Section("what_happened", "What happened", "The escalation as it unfolded; pre-filled from the log until edited."),
    Section("why_it_happened", "Why it happened", "Root cause and the conditions that let it escalate."),
    Section("what_went_well", "What went well", "What to keep doing: quick recoveries, clear ownership."),
    Section("what_to_improve", "What to improve", "Process, runbook and training changes; make each an action item."),
    Section("where_we_got_lucky", "Where we got lucky", "What could have gone worse and did not, and why."),
)
SECTION_KEYS = tuple(s.key for s in SECTIONS)


class ReviewError(EscalatorError):
    """Something asked of a review that cannot be done."""


class InvalidReviewInput(ReviewError):
    """A value that can never be right: an unknown section, a malformed date or link."""


class ReviewConflict(ReviewError):
    """Not allowed in the review's present state (a skipped status, editing a final review)."""


class ReviewNotFound(ReviewError):
    """No such review or action item."""


@dataclass(frozen=True)
class ActionItem:
    number: int                     # 1, 2, ... within its review
    title: str
    owner: str                      # a team or person of the matrix
    due_at: datetime
    status: str = OPEN
    link: str = ""                  # a Jira or Zendesk issue: a key like OPS-12 or an https URL
    created_at: datetime | None = None
    closed_at: datetime | None = None
    last_reminded_at: datetime | None = None


@dataclass(frozen=True)
class Review:
    id: int
    platform: str
    key: str
    status: str
    created_at: datetime
    updated_at: datetime
    trigger: str                    # why the ticket got a review, for the list
    matrix_version: str
    sections: Mapping[str, str] = field(default_factory=dict)     # what people wrote; unedited ones are absent
    frozen: Mapping | None = None   # the pre-fill as it stood when the review became final
    final_at: datetime | None = None
    actions: tuple[ActionItem, ...] = ()
    simulated: bool = False         # of a ticket `simulate --into-db` loaded: listed only when asked, never reminded

    def action(self, number: int) -> ActionItem:
        found = next((a for a in self.actions if a.number == number), None)
        if found is None:
            raise ReviewNotFound(f"review {self.id} has no action item {number}; it has "
                                 f"{', '.join(str(a.number) for a in self.actions) or 'none'}")
        return found


# -- the review ---------------------------------------------------------------------------------

def moved(review: Review, wanted: str, now: datetime, prefill: Mapping | None = None) -> Review:
    """The review in status `wanted`; becoming final freezes `prefill`, the timeline as it now stands."""
    if wanted not in STATUSES:
        raise InvalidReviewInput(f"unknown status {wanted!r}; a review is one of: {', '.join(STATUSES)}")
    if wanted == review.status:
        return review
    if _NEXT.get(review.status) != wanted:
        raise ReviewConflict(f"review {review.id} is {review.status}; it can only move "
                             + (f"to {_NEXT[review.status]}" if review.status in _NEXT else "no further: it is final")
                             + f" ({' → '.join(STATUSES)})")
    if wanted == FINAL:
        if prefill is None:
            raise ValueError("a review becomes final with its pre-fill, to freeze it")
        return replace(review, status=FINAL, updated_at=now, final_at=now, frozen=dict(prefill))
    return replace(review, status=wanted, updated_at=now)


def edited(review: Review, edits: Mapping[str, object], now: datetime) -> Review:
    """The review with `edits` (section key -> text) applied; an empty text reverts to the pre-fill."""
    unknown = sorted(set(edits) - set(SECTION_KEYS))
    if unknown:
        raise InvalidReviewInput(f"unknown section(s) {', '.join(map(repr, unknown))}; sections are: "
                                 f"{', '.join(SECTION_KEYS)}")
    if review.status == FINAL:
        raise ReviewConflict(f"review {review.id} is final; its sections no longer change")
    sections = dict(review.sections)
    for key, text in edits.items():
        sections[key] = _text(f"section {key}", text, MAX_TEXT)
    return replace(review, sections={k: v for k, v in sections.items() if v}, updated_at=now)


def trigger_text(severity: str, level: str, event_kind: str, rules: Collection[str]) -> str:
    """Why a ticket got its review, in one line for lists."""
    why = f" ({'; '.join(rules)})" if rules else ""
    return f"severity {severity or '-'}, level {level or '-'} after {event_kind}{why}"


# -- action items ---------------------------------------------------------------------------------

def new_action(number: int, title: object, owner: object, due: object, link: object, now: datetime,
               owners: Collection[str]) -> ActionItem:
    """A new open item, every value checked; `owners` are the matrix's teams and people."""
    return ActionItem(number, _title(title), _owner(owner, owners), parse_due(due), OPEN, check_link(link),
                      created_at=now)


def changed_action(item: ActionItem, changes: Mapping[str, object], now: datetime,
                   owners: Collection[str]) -> ActionItem:
    """The item with `changes` (title, owner, due, link, status) applied."""
    unknown = sorted(set(changes) - {"title", "owner", "due", "link", "status"})
    if unknown:
        raise InvalidReviewInput(f"unknown field(s) {', '.join(map(repr, unknown))}; an action item has "
                                 "title, owner, due, link and status")
    checks = {"title": _title, "owner": lambda v: _owner(v, owners), "due": parse_due, "link": check_link}
    values = {("due_at" if name == "due" else name): checks[name](value)
              for name, value in changes.items() if name != "status"}
    after = replace(item, **values)
    if after.due_at != item.due_at:
        after = replace(after, last_reminded_at=None)     # a new due date starts the reminders over
    return _with_status(after, changes["status"], now) if "status" in changes else after


def _with_status(item: ActionItem, status: object, now: datetime) -> ActionItem:
    if status not in ITEM_STATUSES:
        raise InvalidReviewInput(f"unknown status {status!r}; an action item is one of: {', '.join(ITEM_STATUSES)}")
    if status == item.status:
        return item
    return replace(item, status=status, closed_at=None if status == OPEN else now)


def overdue(item: ActionItem, now: datetime) -> bool:
    return item.status == OPEN and item.due_at <= now


def reminder_due(item: ActionItem, now: datetime, every: timedelta) -> bool:
    """Whether an overdue open item reminds its owner now: at once, then every `every` since the last."""
    return overdue(item, now) and (item.last_reminded_at is None or item.last_reminded_at + every <= now)


def reminder_text(review: Review, item: ActionItem, now: datetime, ticket_url: str = "") -> str:
    """The reminder an owner receives; the first line is an email's subject."""
    late = now - item.due_at
    lines = [f"Overdue action item from the review of {review.platform}/{review.key}",
             f"\"{item.title}\" was due {item.due_at:%Y-%m-%d %H:%M} UTC ({_days(late)} ago) and is still open.",
             f"Owner: {item.owner}." + (f" Tracked in {item.link}." if item.link else ""),
             f"Close it: escalator review action close {review.id} {item.number}"]
    if ticket_url:
        lines.append(f"Ticket: {ticket_url}")
    return "\n".join(lines)


def _days(delta: timedelta) -> str:
    days, hours = delta.days, delta.seconds // 3600
    return f"{days}d {hours}h" if days else f"{hours}h {delta.seconds % 3600 // 60}m"


# -- values from people ---------------------------------------------------------------------------

def parse_due(value: object) -> datetime:
    """A due time: an ISO date means the last second of that day (UTC), a date-time is taken as given (UTC if
    naive)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.strip() if isinstance(value, str) else ""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None:
        raise InvalidReviewInput(f"due {value!r} is not a date; write 2026-12-31 (the end of that day, UTC) "
                                 "or 2026-12-31T17:00:00+01:00")
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def check_link(value: object) -> str:
    """'' or a Jira/Zendesk reference: an issue key like OPS-123, or an https URL."""
    if value is None or value == "":
        return ""
    text = value.strip() if isinstance(value, str) else ""
    if _JIRA_KEY.fullmatch(text) or (_URL.fullmatch(text) and len(text) <= 500):
        return text
    raise InvalidReviewInput(f"link {value!r} is neither a Jira issue key (like OPS-123) nor an https URL "
                             "(like https://example.zendesk.com/agent/tickets/123)")


def _title(value: object) -> str:
    text = _text("title", value, MAX_TITLE).strip()
    if not text:
        raise InvalidReviewInput("an action item needs a title: what is to be done")
    return text


def _owner(value: object, owners: Collection[str]) -> str:
    if not isinstance(value, str) or value not in owners:
        raise InvalidReviewInput(f"owner {value!r} is not a team or person of the matrix; owners are: "
                                 f"{', '.join(sorted(owners))}")
    return value


def _text(what: str, value: object, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidReviewInput(f"{what} must be text, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidReviewInput(f"{what} is {len(value)} characters; at most {limit} fit")
    return value
