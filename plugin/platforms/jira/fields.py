"""Jira issue fields to a TicketEvent: users, rich text (ADF), custom fields, CSAT ratings, comments.

Shared by webhooks and Jira Automation bodies, which carry the same REST representation of an issue.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from plugin.domain.ticket import Change, Comment, EventKind, Satisfaction, TicketEvent

from .._json import items, number, number_text, scalar_text, text

NAME = "jira"
DONE_STATUS_NAMES = frozenset({"done", "resolved", "closed", "complete", "completed"})
_ADF_INLINE_PARENTS = frozenset({"paragraph", "heading"})
_ADF_MAX_DEPTH = 64


def issue_event(kind: EventKind, key: str, fields: dict, *, occurred_at: datetime | None = None,
                actor: str = "", comment: Comment | None = None, changes: Sequence[Change] = (),
                timer: str = "") -> TicketEvent:
    """The TicketEvent for one issue's REST `fields` and what the delivery says happened."""
    return TicketEvent(
        platform=NAME,
        kind=kind,
        key=key,
        occurred_at=occurred_at,
        summary=text(fields.get("summary")),
        description=body_text(fields.get("description")),
        status=name(fields.get("status")),
        priority=name(fields.get("priority")),
        issue_type=name(fields.get("issuetype")),
        project=project_key(fields.get("project")),
        labels=tuple(label for label in items(fields.get("labels")) if text(label)),
        components=tuple(n for n in map(name, items(fields.get("components"))) if n),
        reporter=user_id(fields.get("reporter")),
        reporter_name=display_name(fields.get("reporter")),
        assignee=user_id(fields.get("assignee")),
        actor=actor,
        comment=comment,
        changes=tuple(changes),
        satisfaction=satisfaction(fields),
        timer=timer,
        custom_fields=custom_fields(fields),
    )


def epoch_ms(value: object) -> datetime | None:
    """A UTC time from Jira's epoch milliseconds (a number, or a string of digits)."""
    # Relayed payloads sometimes carry a reformatted local time instead; guessing its zone
    # would be worse than letting the receipt time stand in.
    millis = number(value)
    if millis is None or isinstance(value, str) and not value.strip().isdigit():
        return None
    try:
        return datetime.fromtimestamp(millis / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def name(value: object) -> str:
    """The `name` of a Jira object (status, priority, component), or a bare string."""
    if isinstance(value, dict):
        return text(value.get("name"))
    return text(value)


def project_key(value: object) -> str:
    """The project's key (its name if the key is missing), or a bare string."""
    if isinstance(value, dict):
        return text(value.get("key")) or text(value.get("name"))
    return text(value)


def status_category(fields: dict) -> str:
    """The key of the current status's category (`new`, `indeterminate`, `done`), if sent."""
    status = fields.get("status")
    category = status.get("statusCategory") if isinstance(status, dict) else None
    return text(category.get("key")) if isinstance(category, dict) else ""


def user_id(user: object) -> str:
    """The user's stable id: Cloud's accountId, else Server/DC's name or key."""
    # Jira Cloud removed name/key for privacy and sends accountId; Server/DC never sends it.
    if not isinstance(user, dict):
        return ""
    for attr in ("accountId", "name", "key", "displayName"):
        if isinstance(user.get(attr), str) and user[attr]:
            return user[attr]
    return ""


def display_name(user: object) -> str:
    """What people call the user, falling back to the id."""
    shown = user.get("displayName") if isinstance(user, dict) else None
    return shown if isinstance(shown, str) and shown else user_id(user)


def same_user(a: object, b: object) -> bool:
    """Whether two user objects name the same person, by the first id both carry."""
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return False
    for attr in ("accountId", "key", "name"):
        if isinstance(a.get(attr), str) and isinstance(b.get(attr), str):
            return a[attr] == b[attr]
    return False


def comment(value: object, reporter: object) -> Comment | None:
    """A Jira comment object as a Comment, or None if it is not one."""
    if not isinstance(value, dict):
        return None
    author = value.get("author")
    # Service Management marks customer-visible comments with jsdPublic; plain Jira has no
    # internal comments, so a missing or null flag means public.
    public = value.get("jsdPublic")
    # Best effort: Jira does not say who is an agent. On Service Management the reporter is
    # the customer, so anyone else commenting counts as an agent; comment webhooks carry a
    # trimmed issue without reporter, so those comments count as an agent's too.
    return Comment(body=body_text(value.get("body")), author=display_name(author),
                   public=public if isinstance(public, bool) else True,
                   by_agent=not same_user(author, reporter))


def body_text(value: object) -> str:
    """Plain text of a description or comment body: REST v2 sends text, v3 sends ADF."""
    if isinstance(value, str):
        return value
    return adf_text(value) if isinstance(value, dict) else ""


def adf_text(node: object, depth: int = 0) -> str:
    """Flatten an Atlassian Document Format tree to text, one line per block."""
    if not isinstance(node, dict) or depth > _ADF_MAX_DEPTH:
        return ""
    kind = node.get("type")
    if kind == "text":
        return text(node.get("text"))
    if kind == "hardBreak":
        return "\n"
    attrs = node.get("attrs")
    if kind in ("mention", "emoji", "inlineCard") and isinstance(attrs, dict):
        return text(attrs.get("text") or attrs.get("shortName") or attrs.get("url"))
    parts = [adf_text(child, depth + 1) for child in items(node.get("content"))]
    separator = "" if kind in _ADF_INLINE_PARENTS else "\n"
    return separator.join(part for part in parts if part)


def custom_fields(fields: dict) -> dict[str, str | tuple[str, ...]]:
    """Raw custom field values as text or tuples of text, keyed by Jira's field id."""
    found: dict[str, str | tuple[str, ...]] = {}
    for key, raw in fields.items():
        if isinstance(key, str) and key.startswith("customfield_"):
            value = _custom_value(raw)
            if value:  # nulls, empty strings and empty lists say nothing
                found[key] = value
    return found


def satisfaction(fields: dict) -> Satisfaction | None:
    """The Service Management CSAT rating, if the issue has one."""
    # Service Management keeps the CSAT answer in a custom field shaped {"rating": 1-5,
    # "comment": ...}; its id differs per site, so any custom field of that shape counts.
    for key, value in fields.items():
        if isinstance(key, str) and key.startswith("customfield_") and isinstance(value, dict):
            score = number(value.get("rating"))
            if score is not None:
                remark = value.get("comment")
                remark = remark.get("body") if isinstance(remark, dict) else remark
                return Satisfaction(rating=number_text(score), score=score,
                                    comment=body_text(remark))
    return None


def _custom_value(raw: object) -> str | tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(value for value in map(_single_value, raw) if value)
    return _single_value(raw)


def _single_value(raw: object) -> str:
    return _option_text(raw) if isinstance(raw, dict) else scalar_text(raw)


def _option_text(option: dict) -> str:
    """Select options by value, users by display name, rich text flattened."""
    if option.get("type") == "doc":
        return adf_text(option)
    for attr in ("value", "displayName"):
        if isinstance(option.get(attr), str):
            child = option.get("child")
            # Cascading selects nest the second level as `child`.
            if isinstance(child, dict) and isinstance(child.get("value"), str):
                return f"{option[attr]} / {child['value']}"
            return option[attr]
    score = number(option.get("rating"))
    return number_text(score) if score is not None else name(option)
