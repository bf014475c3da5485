"""Jira Automation "Send web request" bodies (they carry no `webhookEvent`) to a TicketEvent.

"Issue data (Jira format)" wraps the issue's REST representation in `issue`; "Issue data
(Automation format)" is that representation bare. Neither says what happened, so the rule may
name it in the X-Escalator-Event header. Escalator's own body (docs/jira-automation.md) names its
event and carries the comment, the rule's initiator and the time.
"""
from __future__ import annotations

import reprlib
from collections.abc import Mapping
from datetime import datetime

from plugin.domain.errors import AnomalousPayload
from plugin.domain.ticket import Comment, EventKind, TicketEvent

from .._json import MISSING, found, iso_time, items, text
from .fields import DONE_STATUS_NAMES, body_text, comment, epoch_ms, issue_event, name, status_category, user_id

MARKER = "jira-automation/v1"
EVENT_HEADER = "X-Escalator-Event"
GUIDE = "docs/jira-automation.md"
KINDS = {kind.value: kind for kind in EventKind}
ACCEPTED = ("a Jira webhook ('webhookEvent'), Jira Automation issue data (Jira format: an 'issue' "
            "object; Automation format: 'key' and 'fields') or Escalator's Jira Automation body "
            f"('escalator': '{MARKER}')")


def parse(payload: dict, headers: Mapping[str, str] | None = None) -> TicketEvent | None:
    """The TicketEvent for one Automation body; None if its smart values were left unrendered."""
    if "escalator" in payload:
        return _escalator_body(payload, headers)
    if "issue" in payload:
        return _issue_data(payload, _object(payload, "issue", "Jira Automation issue data"),
                           "Jira Automation issue data (Jira format)", "'issue.key'", headers)
    if "key" in payload and "fields" in payload:
        return _issue_data(payload, payload, "Jira Automation issue data (Automation format)",
                           "'key'", headers)
    raise AnomalousPayload(f"expected {ACCEPTED}; found an object with keys "
                           f"{reprlib.repr(sorted(map(str, payload)))}. See {GUIDE}")


def _issue_data(payload: dict, issue: dict, where: str, key_path: str,
                headers: Mapping[str, str] | None) -> TicketEvent | None:
    key = _key(issue, where, key_path)
    if key is None:
        return None
    fields = _fields(issue, where)
    # Issue data says nothing about what happened: "updated" unless the rule's header says more.
    kind = _done_is_resolved(_header_kind(headers) or EventKind.UPDATED, fields)
    latest = _latest_comment(fields) if kind is EventKind.COMMENTED else None
    actor = (user_id(latest.get("updateAuthor")) or user_id(latest.get("author"))) if latest else ""
    return issue_event(kind, key, fields, occurred_at=_time(payload.get("timestamp")), actor=actor,
                       comment=comment(latest, fields.get("reporter")))


def _escalator_body(payload: dict, headers: Mapping[str, str] | None) -> TicketEvent | None:
    marker = payload.get("escalator")
    if marker != MARKER:
        raise AnomalousPayload(f"expected 'escalator': '{MARKER}', found {found(marker)}; copy the "
                               f"body again from {GUIDE}")
    where = "the Jira Automation body"
    issue = _object(payload, "issue", where)
    key = _key(issue, where, "'issue.key'")
    if key is None:
        return None
    fields = _plain_fields(_fields(issue, where))
    event = payload.get("event", MISSING)
    kind = _header_kind(headers) if event is MISSING else _kind(event, f"'event' in {where}")
    if kind is None:
        raise AnomalousPayload(f"expected 'event' in {where} or an {EVENT_HEADER} header naming "
                               f"what happened; see {GUIDE}")
    return issue_event(_done_is_resolved(kind, fields), key, fields,
                       occurred_at=_time(payload.get("timestamp")), actor=_user(payload.get("actor")),
                       comment=_body_comment(payload.get("comment"), fields.get("reporter")),
                       timer=text(payload.get("timer")).strip())


def _object(payload: dict, attr: str, where: str) -> dict:
    value = payload.get(attr, MISSING)
    if not isinstance(value, dict):
        raise AnomalousPayload(f"expected an '{attr}' object in {where}, found {found(value)}")
    return value


def _key(issue: dict, where: str, key_path: str) -> str | None:
    key = issue.get("key", MISSING)
    if isinstance(key, str) and "{{" in key:
        return None  # a template pasted as is names no issue
    if not isinstance(key, str) or not key.strip():
        raise AnomalousPayload(f"expected {key_path} in {where}, found {found(key)}; the rule's "
                               "trigger must give it an issue")
    return key.strip()


def _fields(issue: dict, where: str) -> dict:
    fields = issue.get("fields")
    if fields is None:
        return {}
    if not isinstance(fields, dict):
        raise AnomalousPayload(f"expected 'fields' to be an object in {where}, found {found(fields)}")
    return fields


def _header_kind(headers: Mapping[str, str] | None) -> EventKind | None:
    value = _header(headers, EVENT_HEADER)
    return None if value is None else _kind(value, f"the {EVENT_HEADER} header")


def _header(headers: Mapping[str, str] | None, wanted: str) -> str | None:
    """Case-insensitive, because a plain dict is not; a blank value counts as absent."""
    for key, value in (headers or {}).items():
        if isinstance(key, str) and key.lower() == wanted.lower():
            return text(value).strip() or None
    return None


def _kind(value: object, where: str) -> EventKind:
    kind = KINDS.get(value.strip().lower()) if isinstance(value, str) else None
    if kind is None:
        raise AnomalousPayload(f"expected {where} to be one of {', '.join(KINDS)}, "
                               f"found {found(value)}")
    return kind


def _done_is_resolved(kind: EventKind, fields: dict) -> EventKind:
    # A rule sees only the status now, not the one before: a done status now means resolved.
    done = status_category(fields) == "done" or name(fields.get("status")).lower() in DONE_STATUS_NAMES
    return EventKind.RESOLVED if kind is EventKind.STATUS_CHANGED and done else kind


def _latest_comment(fields: dict) -> dict | None:
    # The REST issue lists its comments oldest first under fields.comment.comments.
    listed = fields.get("comment")
    comments = [c for c in items(listed.get("comments")) if isinstance(c, dict)] \
        if isinstance(listed, dict) else []
    return comments[-1] if comments else None


def _plain_fields(fields: dict) -> dict:
    """The body's fields as the REST issue has them: smart values render lists and users as text."""
    plain = dict(fields)
    labels, components = plain.get("labels"), plain.get("components")
    if isinstance(labels, str):
        plain["labels"] = labels.split()  # Jira labels cannot contain spaces
    if isinstance(components, str):
        plain["components"] = [part.strip() for part in components.split(",")]
    for attr in ("reporter", "assignee"):
        if isinstance(plain.get(attr), str):
            plain[attr] = {"accountId": plain[attr].strip()}
    return plain


def _body_comment(value: object, reporter: object) -> Comment | None:
    """The comment the rule sent, or None when its smart values rendered no text."""
    if not isinstance(value, dict) or not body_text(value.get("body")).strip():
        return None
    note = dict(value)
    if isinstance(note.get("author"), str):
        note["author"] = {"accountId": note["author"].strip()}
    internal = note.get("internal")
    if isinstance(internal, str) and internal.strip().lower() in ("true", "false"):
        internal = internal.strip().lower() == "true"
    if isinstance(internal, bool):
        note["jsdPublic"] = not internal
    return comment(note, reporter)


def _user(value: object) -> str:
    return value.strip() if isinstance(value, str) else user_id(value)


def _time(value: object) -> datetime | None:
    # Custom bodies send {{now.jiraDateTime}} (ISO 8601); a webhook-style epoch in ms also works.
    return epoch_ms(value) or iso_time(value)
