"""Jira webhooks (Cloud, Data Center/Server, Service Management) to a TicketEvent.

A pure function of the decoded JSON body. Every Jira flavour sends the same envelope
(`webhookEvent`, `timestamp`, `issue`, plus `changelog`, `comment` or `user` as the event needs);
the quirks of each flavour are commented where they are handled. Bodies without `webhookEvent`
come from Jira Automation rules and are parsed by automation.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.domain.ticket import Change, EventKind, TicketEvent

from .._json import MISSING, found, items, text
from . import automation
from .fields import DONE_STATUS_NAMES, comment, epoch_ms, issue_event, status_category, user_id

# Jira Server/DC reports comment deletions and work logging as `jira:issue_updated`
# with only this event type name to tell them apart from real edits.
IGNORED_UPDATE_TYPES = frozenset({
    "issue_comment_deleted", "issue_worklogged", "issue_worklog_updated", "issue_worklog_deleted",
})
COMMENT_UPDATE_TYPES = frozenset({"issue_commented", "issue_comment_edited"})
# Server/DC transitions name themselves even when the changelog is thin.
UPDATE_TYPE_KINDS = {
    "issue_resolved": EventKind.RESOLVED,
    "issue_closed": EventKind.RESOLVED,
    "issue_reopened": EventKind.REOPENED,
    "issue_assigned": EventKind.ASSIGNED,
}
# When one update changes several things, the event is named after the most significant.
SIGNIFICANCE = (
    EventKind.RESOLVED, EventKind.REOPENED, EventKind.PRIORITY_CHANGED, EventKind.ASSIGNED,
    EventKind.STATUS_CHANGED, EventKind.SATISFACTION_RATED, EventKind.COMMENTED,
)


def parse(payload: dict, headers: Mapping[str, str] | None = None) -> TicketEvent | None:
    """The TicketEvent for one Jira delivery (any decoded JSON value is accepted).

    Returns None only for a Jira Automation body whose smart values were not rendered.
    """
    if isinstance(payload, dict) and "webhookEvent" not in payload:
        return automation.parse(payload, headers)
    event = _event_name(payload)
    handler = HANDLERS.get(event)
    if handler is None:
        if event in IGNORED_EVENTS:
            raise UnsupportedEvent(f"Jira event {event!r} is ignored: it changes nothing "
                                   "the escalation matrix reads")
        raise UnsupportedEvent(f"Jira event {event!r} is not supported; Escalator handles "
                               + ", ".join(sorted(HANDLERS)))
    issue = _issue(payload, event)
    fields = _fields(issue, event)
    return _ticket_event(payload, issue["key"].strip(), fields, handler(payload, fields))


def _event_name(payload: object) -> str:
    if not isinstance(payload, dict):
        raise AnomalousPayload(f"expected a JSON object from Jira, found {found(payload)}")
    event = payload.get("webhookEvent", MISSING)
    if not isinstance(event, str) or not event:
        raise AnomalousPayload("expected a Jira webhook with a 'webhookEvent' name, "
                               f"found {found(event)}")
    return event


def _issue(payload: dict, event: str) -> dict:
    issue = payload.get("issue", MISSING)
    if not isinstance(issue, dict):
        raise AnomalousPayload(f"expected an 'issue' object in Jira {event}, found {found(issue)}")
    key = issue.get("key", MISSING)
    if not isinstance(key, str) or not key.strip():
        raise AnomalousPayload(f"expected 'issue.key' in Jira {event}, found {found(key)}")
    return issue


def _fields(issue: dict, event: str) -> dict:
    fields = issue.get("fields")
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise AnomalousPayload(f"expected 'issue.fields' to be an object in Jira {event}, "
                               f"found {found(fields)}")
    return fields


def _fixed(kind: EventKind) -> Callable[[dict, dict], EventKind]:
    return lambda payload, fields: kind


def _commented(payload: dict, fields: dict) -> EventKind:
    # Cloud comment webhooks carry the comment and a trimmed issue; without it there is no news.
    comment = payload.get("comment", MISSING)
    if not isinstance(comment, dict):
        raise AnomalousPayload("expected a 'comment' object in Jira "
                               f"{payload['webhookEvent']}, found {found(comment)}")
    return EventKind.COMMENTED


def _updated(payload: dict, fields: dict) -> EventKind:
    """The most significant kind among the changelog items and the update's type name."""
    changes = _changelog_items(payload)
    update_type = payload.get("issue_event_type_name")
    if not isinstance(update_type, str):
        update_type = ""
    if update_type in IGNORED_UPDATE_TYPES and not changes:
        raise UnsupportedEvent(f"Jira issue update {update_type!r} is ignored: it changes "
                               "nothing the escalation matrix reads")
    done = status_category(fields) == "done"
    kinds = {_item_kind(item, done) for item in changes}
    kinds.add(UPDATE_TYPE_KINDS.get(update_type))
    if update_type in COMMENT_UPDATE_TYPES and isinstance(payload.get("comment"), dict):
        kinds.add(EventKind.COMMENTED)
    return next((kind for kind in SIGNIFICANCE if kind in kinds), EventKind.UPDATED)


def _item_kind(item: dict, now_done: bool) -> EventKind | None:
    field = text(item.get("field")).lower()
    if field == "priority":
        return EventKind.PRIORITY_CHANGED
    if field == "resolution":
        # Setting a resolution resolves the issue; clearing it is how Jira reopens one.
        if item.get("to") is not None or text(item.get("toString")):
            return EventKind.RESOLVED
        return EventKind.REOPENED if text(item.get("fromString")) else None
    if field == "status":
        return _status_kind(item, now_done)
    if field == "assignee":
        return EventKind.ASSIGNED
    if field == "satisfaction":
        return EventKind.SATISFACTION_RATED
    return None


def _status_kind(item: dict, now_done: bool) -> EventKind:
    # Only the current status carries a category; the old one is judged by its name.
    if now_done or text(item.get("toString")).lower() in DONE_STATUS_NAMES:
        return EventKind.RESOLVED
    if text(item.get("fromString")).lower() in DONE_STATUS_NAMES:
        return EventKind.REOPENED
    return EventKind.STATUS_CHANGED


HANDLERS: dict[str, Callable[[dict, dict], EventKind]] = {
    "jira:issue_created": _fixed(EventKind.CREATED),
    "jira:issue_updated": _updated,
    "jira:issue_deleted": _fixed(EventKind.DELETED),
    "comment_created": _commented,
    "comment_updated": _commented,
}
# Known events that carry nothing the escalation matrix reads: answered "ignored", not "bad".
IGNORED_EVENTS = frozenset({
    "comment_deleted",
    "jira:worklog_updated", "worklog_created", "worklog_updated", "worklog_deleted",
    "attachment_created", "attachment_deleted", "issuelink_created", "issuelink_deleted",
    "issue_property_set", "issue_property_deleted",
    "sprint_created", "sprint_updated", "sprint_started", "sprint_closed", "sprint_deleted",
    "board_created", "board_updated", "board_deleted", "board_configuration_changed",
    "project_created", "project_updated", "project_deleted", "project_soft_deleted",
    "jira:version_created", "jira:version_updated", "jira:version_released",
    "jira:version_unreleased", "jira:version_deleted", "jira:version_moved",
    "user_created", "user_updated", "user_deleted",
})


def _ticket_event(payload: dict, key: str, fields: dict, kind: EventKind) -> TicketEvent:
    return issue_event(kind, key, fields, occurred_at=epoch_ms(payload.get("timestamp")),
                       actor=_actor(payload),
                       comment=comment(payload.get("comment"), fields.get("reporter")),
                       changes=[_change(item) for item in _changelog_items(payload)])


def _changelog_items(payload: dict) -> list[dict]:
    changelog = payload.get("changelog")
    listed = changelog.get("items") if isinstance(changelog, dict) else None
    return [item for item in items(listed) if isinstance(item, dict)]


def _change(item: dict) -> Change:
    return Change(text(item.get("field")).lower(), text(item.get("fromString")),
                  text(item.get("toString")))


def _actor(payload: dict) -> str:
    # Comment webhooks carry no `user`: whoever wrote (or last edited) the comment acted.
    user = payload.get("user")
    if isinstance(user, dict):
        return user_id(user)
    note = payload.get("comment")
    if isinstance(note, dict):
        return user_id(note.get("updateAuthor")) or user_id(note.get("author"))
    return ""
