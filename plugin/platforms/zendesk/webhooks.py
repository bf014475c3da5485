"""Zendesk webhooks to a TicketEvent: ticket event subscriptions and Escalator's trigger body.

Event-subscribed webhooks send Zendesk's envelope (`type` "zen:event-type:ticket.*", the ticket
in `detail`, the change in `event`). Trigger-connected webhooks send the JSON body documented
in docs/zendesk-trigger-body.md, recognised by its `escalator` marker.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.domain.ticket import Change, Comment, EventKind, Satisfaction, TicketEvent

from .._json import MISSING, found, iso_time, items, number, number_text, scalar_text, text

NAME = "zendesk"
EVENT_PREFIX = "zen:event-type:"
TRIGGER_MARKER = "zendesk-trigger/v1"
RESOLVED_STATUSES = frozenset({"solved", "closed"})

Handler = Callable[[dict, dict], tuple[EventKind, tuple[Change, ...]]]


def _lower(value: object) -> str:
    return text(value).strip().lower()


def _value(value: object) -> str:
    if isinstance(value, dict):  # custom fields wrap the value: {"value": ..., "id": ...}
        value = value.get("value")
    if isinstance(value, list):
        return " ".join(filter(None, map(scalar_text, value)))
    return scalar_text(value)


def _fixed(kind: EventKind) -> Handler:
    return lambda detail, event: (kind, ())


def _field_change(kind: EventKind, field: str,
                  read: Callable[[object], str] | None = None) -> Handler:
    """A handler for events whose `event` holds the field's `previous` and `current` value."""
    read = read or _value
    return lambda detail, event: (kind, (Change(field, read(event.get("previous")),
                                                read(event.get("current"))),))


def _status_changed(detail: dict, event: dict) -> tuple[EventKind, tuple[Change, ...]]:
    old = _status(event.get("previous"))
    new = _status(event.get("current")) or _status(detail.get("status"))
    if new in RESOLVED_STATUSES:
        kind = EventKind.RESOLVED
    elif old in RESOLVED_STATUSES:
        kind = EventKind.REOPENED
    else:
        kind = EventKind.STATUS_CHANGED
    return kind, (Change("status", old, new),)


def _tags_changed(detail: dict, event: dict) -> tuple[EventKind, tuple[Change, ...]]:
    removed, added = _tags(event.get("tags_removed")), _tags(event.get("tags_added"))
    return EventKind.UPDATED, (Change("tags", " ".join(removed), " ".join(added)),)


def _custom_field_changed(detail: dict, event: dict) -> tuple[EventKind, tuple[Change, ...]]:
    field = _custom_field_id(event) or "custom_field"
    return EventKind.UPDATED, (Change(field, _value(event.get("previous")),
                                      _value(event.get("current"))),)


EVENT_HANDLERS: dict[str, Handler] = {
    "ticket.created": _fixed(EventKind.CREATED),
    "ticket.comment_added": _fixed(EventKind.COMMENTED),
    "ticket.status_changed": _status_changed,
    "ticket.priority_changed": _field_change(EventKind.PRIORITY_CHANGED, "priority", _lower),
    "ticket.agent_assignment_changed": _field_change(EventKind.ASSIGNED, "assignee"),
    # Moving a ticket to another group is how Zendesk teams hand an escalation on.
    "ticket.group_assignment_changed": _field_change(EventKind.ASSIGNED, "group"),
    "ticket.tags_changed": _tags_changed,
    "ticket.custom_field_changed": _custom_field_changed,
    "ticket.subject_changed": _field_change(EventKind.UPDATED, "subject"),
    "ticket.description_changed": _field_change(EventKind.UPDATED, "description"),
    "ticket.type_changed": _field_change(EventKind.UPDATED, "type"),
    "ticket.organization_changed": _field_change(EventKind.UPDATED, "organization"),
    "ticket.requester_changed": _field_change(EventKind.UPDATED, "requester"),
    "ticket.brand_changed": _field_change(EventKind.UPDATED, "brand"),
    "ticket.form_changed": _field_change(EventKind.UPDATED, "form"),
    # A merged ticket lives on in its target; for its own escalation it is finished.
    "ticket.merged": _fixed(EventKind.RESOLVED),
    "ticket.soft_deleted": _fixed(EventKind.DELETED),
    "ticket.permanently_deleted": _fixed(EventKind.DELETED),
    "ticket.marked_as_spam": _fixed(EventKind.DELETED),
}
# Ticket events that change nothing the matrix reads. custom_status_changed is here because
# each custom status belongs to a standard status category, whose change arrives as
# ticket.status_changed; counting both would report one transition twice.
IGNORED_EVENTS = frozenset({
    "ticket.attachment_linked_to_comment", "ticket.attachment_redacted_from_comment",
    "ticket.comment_made_private", "ticket.comment_redacted", "ticket.custom_status_changed",
    "ticket.email_ccs_changed", "ticket.followers_changed", "ticket.external_id_changed",
    "ticket.problem_link_changed", "ticket.submitter_changed", "ticket.task_due_at_changed",
    "ticket.sla_policy_changed", "ticket.ola_policy_changed", "ticket.schedule_changed",
})
TRIGGER_EVENTS = {
    "created": EventKind.CREATED, "updated": EventKind.UPDATED,
    "commented": EventKind.COMMENTED, "priority_changed": EventKind.PRIORITY_CHANGED,
    "status_changed": EventKind.STATUS_CHANGED, "assigned": EventKind.ASSIGNED,
    "resolved": EventKind.RESOLVED, "reopened": EventKind.REOPENED,
    "satisfaction_rated": EventKind.SATISFACTION_RATED,
}
AGENT_ROLES = frozenset({"agent", "admin"})


def parse(payload: dict, headers: Mapping[str, str] | None = None) -> TicketEvent | None:
    """The TicketEvent for one Zendesk delivery (any decoded JSON value is accepted).

    Returns None for a trigger body that names no ticket (placeholders left unrendered, as when
    the template is pasted into "Test webhook") and for a satisfaction trigger without a rating.
    """
    if not isinstance(payload, dict):
        raise AnomalousPayload(f"expected a JSON object from Zendesk, found {found(payload)}")
    if "escalator" in payload:
        return _parse_trigger_body(payload)
    event_type = payload.get("type", MISSING)
    if isinstance(event_type, str) and event_type.startswith(EVENT_PREFIX):
        return _parse_event(event_type[len(EVENT_PREFIX):], payload)
    raise AnomalousPayload(
        f"expected a Zendesk event ('type': '{EVENT_PREFIX}...') or an Escalator trigger body "
        f"('escalator': '{TRIGGER_MARKER}'), found 'type' {found(event_type)}")


def _parse_event(name: str, payload: dict) -> TicketEvent:
    handler = EVENT_HANDLERS.get(name)
    if handler is None:
        reason = "changes nothing the escalation matrix reads" if name in IGNORED_EVENTS \
            else "is not a ticket event Escalator handles"
        raise UnsupportedEvent(f"Zendesk event {name!r} is ignored: it {reason}")
    detail = _object(payload, "detail", name)
    event = _object(payload, "event", name) if payload.get("event") is not None else {}
    kind, changes = handler(detail, event)
    return TicketEvent(
        platform=NAME, kind=kind, key=_ticket_key(payload, detail, name),
        occurred_at=iso_time(payload.get("time")),
        summary=text(detail.get("subject")), description=text(detail.get("description")),
        status=_status(detail.get("status")), priority=_lower(detail.get("priority")),
        issue_type=_lower(detail.get("type")), project=_id(detail.get("brand_id")),
        labels=_tags(detail.get("tags")), reporter=_id(detail.get("requester_id")),
        assignee=_id(detail.get("assignee_id")), organization=_id(detail.get("organization_id")),
        actor=_id(detail.get("actor_id")) or _comment_author_id(event),
        comment=_event_comment(event.get("comment")), changes=changes,
        custom_fields=_changed_custom_field(name, event),
    )


def _object(payload: dict, attr: str, name: str) -> dict:
    value = payload.get(attr, MISSING)
    if not isinstance(value, dict):
        raise AnomalousPayload(f"expected '{attr}' to be an object in Zendesk {name}, "
                               f"found {found(value)}")
    return value


def _ticket_key(payload: dict, detail: dict, name: str) -> str:
    # detail.id is documented as a string; a number is read the same. The envelope's
    # `subject` ("zen:ticket:35436") names the ticket too.
    key = _id(detail.get("id"))
    subject = text(payload.get("subject"))
    if not key and subject.startswith("zen:ticket:"):
        key = subject[len("zen:ticket:"):]
    if not key.strip():
        raise AnomalousPayload(f"expected 'detail.id' or a 'zen:ticket:<id>' subject in Zendesk "
                               f"{name}, found {found(detail.get('id', MISSING))}")
    return key.strip()


def _event_comment(comment: object) -> Comment | None:
    if not isinstance(comment, dict):
        return None
    author = comment.get("author") if isinstance(comment.get("author"), dict) else {}
    public = comment.get("is_public")
    return Comment(body=text(comment.get("body")),
                   author=text(author.get("name")) or _id(author.get("id")),
                   public=public if isinstance(public, bool) else True,
                   by_agent=author.get("is_staff") is True)


def _comment_author_id(event: dict) -> str:
    comment = event.get("comment")
    author = comment.get("author") if isinstance(comment, dict) else None
    return _id(author.get("id")) if isinstance(author, dict) else ""


def _custom_field_id(event: dict) -> str:
    field = event.get("custom_field")
    return _id(field.get("id")) if isinstance(field, dict) else ""


def _changed_custom_field(name: str, event: dict) -> dict[str, str]:
    # Event webhooks carry custom field values only in the event that changes one.
    field, value = _custom_field_id(event), _value(event.get("current"))
    return {field: value} if name == "ticket.custom_field_changed" and field and value else {}


def _parse_trigger_body(payload: dict) -> TicketEvent | None:
    marker = payload.get("escalator")
    if marker != TRIGGER_MARKER:
        raise AnomalousPayload(f"expected 'escalator': '{TRIGGER_MARKER}', found {found(marker)};"
                               " copy the body again from docs/zendesk-trigger-body.md")
    ticket = _object(payload, "ticket", "trigger body")
    key = scalar_text(ticket.get("id")).strip()
    if "{{" in key:
        return None  # an unrendered template names no ticket
    if not key.isdecimal():
        raise AnomalousPayload("expected a numeric 'ticket.id' in the Zendesk trigger body, "
                               f"found {found(ticket.get('id', MISSING))}")
    kind = _trigger_kind(payload.get("event", MISSING), ticket)
    rating = _rating(payload.get("satisfaction"))
    if kind is EventKind.SATISFACTION_RATED and rating is None:
        return None  # the survey was offered, not answered
    return _trigger_event(payload, ticket, key, kind, rating)


def _trigger_kind(value: object, ticket: dict) -> EventKind:
    kind = TRIGGER_EVENTS.get(value) if isinstance(value, str) else None
    if kind is None:
        raise AnomalousPayload("expected 'event' in the Zendesk trigger body to be one of "
                               f"{', '.join(TRIGGER_EVENTS)}, found {found(value)}")
    # A trigger only knows the status now, not the one before: solved or closed now is resolved.
    if kind is EventKind.STATUS_CHANGED and _status(ticket.get("status")) in RESOLVED_STATUSES:
        return EventKind.RESOLVED
    return kind


def _trigger_event(payload: dict, ticket: dict, key: str, kind: EventKind,
                   rating: Satisfaction | None) -> TicketEvent:
    organization = _dict(ticket.get("organization"))
    current_user = _dict(payload.get("current_user"))
    return TicketEvent(
        platform=NAME, kind=kind, key=key, occurred_at=iso_time(ticket.get("updated_at")),
        summary=text(ticket.get("title")), description=text(ticket.get("description")),
        status=_status(ticket.get("status")), priority=_lower(ticket.get("priority")),
        issue_type=_ticket_type(ticket.get("type")), labels=_tags(ticket.get("tags")),
        reporter=text(_dict(ticket.get("requester")).get("email")),
        reporter_name=text(_dict(ticket.get("requester")).get("name")),
        assignee=text(_dict(ticket.get("assignee")).get("email")),
        actor=text(current_user.get("email")), organization=text(organization.get("name")),
        comment=_trigger_comment(ticket.get("latest_comment"), current_user)
        if kind is EventKind.COMMENTED else None,
        satisfaction=rating, custom_fields=_text_fields(ticket.get("custom_fields")),
        organization_fields=_text_fields(organization.get("fields")),
    )


def _trigger_comment(comment: object, current_user: dict) -> Comment | None:
    comment = _dict(comment)
    body = text(comment.get("body"))
    if not body.strip():
        return None
    # A comment trigger runs on the update that added the comment, so the updating user
    # ({{current_user.role}}: Admin, Agent or End user) is its author.
    return Comment(body=body, author=text(comment.get("author")),
                   public=_lower(comment.get("public")) != "false",
                   by_agent=_lower(current_user.get("role")) in AGENT_ROLES)


def _rating(satisfaction: object) -> Satisfaction | None:
    """A CSAT answer from {{satisfaction.current_rating}}: "Good, I'm satisfied", "Bad, ..."."""
    fields = _dict(satisfaction)
    answer = text(fields.get("rating")).strip()
    lowered = answer.casefold()
    if "{{" in answer or lowered in ("", "offered", "unoffered"):
        return None
    score = number(answer)
    if score is not None:
        rating = number_text(score)
    else:
        rating = next((word for word in ("good", "bad") if lowered.startswith(word)), lowered)
    return Satisfaction(rating=rating, score=score, comment=text(fields.get("comment")).strip())


def _status(value: object) -> str:
    # Event webhooks send "HOLD"; the {{ticket.status}} placeholder renders "On-hold".
    status = _lower(value)
    return "hold" if status == "on-hold" else status


def _ticket_type(value: object) -> str:
    # {{ticket.ticket_type}} renders "Ticket" when no type is set.
    kind = _lower(value)
    return "" if kind == "ticket" else kind


def _tags(value: object) -> tuple[str, ...]:
    # Event webhooks send a list; the {{ticket.tags}} placeholder renders one spaced string.
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(tag for tag in items(value) if text(tag))


def _text_fields(value: object) -> dict[str, str]:
    fields = _dict(value)
    found_values = {str(key): scalar_text(raw).strip() for key, raw in fields.items()}
    return {key: raw for key, raw in found_values.items() if raw and "{{" not in raw}


def _id(value: object) -> str:
    return scalar_text(value) if not isinstance(value, bool) else ""


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}
