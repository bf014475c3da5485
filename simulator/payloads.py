"""Webhook bodies as Jira Cloud and Zendesk send them: builders from plain values, and what one
ticket's events look like on each platform.

Shapes follow the deliveries in tests/fixtures/: the envelope and every field a receiver reads.
Left out are what real deliveries also carry but nobody reads (avatar and `self` links of nested
objects, empty custom fields), which keeps large generated runs fast to encode.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache

JIRA_SITE = "https://example-support.atlassian.net"
JIRA_PROJECT = {"id": "10000", "key": "SUP", "name": "Customer Support", "projectTypeKey": "service_desk"}
JIRA_ISSUE_TYPES = {"Incident": "10004", "Service request": "10005", "Question": "10006"}
# Jira Cloud's default priority ids.
JIRA_PRIORITY_IDS = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
# name: (id, status category key, category name), as a Service Management project ships them.
JIRA_STATUSES = {
    "Open": ("1", "new", "To Do"),
    "In Progress": ("3", "indeterminate", "In Progress"),
    "Waiting for customer": ("10003", "indeterminate", "In Progress"),
    "Done": ("10002", "done", "Done"),
}
_CATEGORY_IDS = {"new": 2, "indeterminate": 4, "done": 3}
_OPTION_IDS = {"gold": "10020", "silver": "10021", "bronze": "10022", "urgent": "10030", "high": "10031"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ZENDESK_ACCOUNT_ID = 22129848
ZENDESK_BRAND_ID = "8447346621310"
ZENDESK_FORM_ID = "8646151517822"
ZENDESK_EVENT_VERSION = "2022-11-06"
TRIGGER_MARKER = "zendesk-trigger/v1"
# The trigger body's ticket drop-down for the product area (docs/zendesk-trigger-body.md).
ZENDESK_AREA_FIELD = "360012345678"
CSAT_TEXT = {"good": "Good, I'm satisfied", "bad": "Bad, I'm unsatisfied"}


# -- Jira --------------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def jira_time(at: datetime) -> str:
    """Jira's REST time format: `2019-02-15T19:01:52.971+0000`."""
    # Cached and isoformat, not strftime: each delivery formats its ticket's creation time again.
    return at.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "+0000"


def epoch_ms(at: datetime) -> int:
    """The webhook `timestamp`: milliseconds since the epoch."""
    return (at - _EPOCH) // timedelta(milliseconds=1)


def jira_user(account_id: str, display_name: str, *, customer: bool = False) -> dict:
    """A Cloud user object; portal customers have the `customer` account type."""
    return {"accountId": account_id, "displayName": display_name, "active": True,
            "accountType": "customer" if customer else "atlassian"}


def jira_status(name: str) -> dict:
    """A status object with its category, which tells the parser whether the issue is done."""
    status_id, key, category = JIRA_STATUSES[name]
    return {"id": status_id, "name": name, "statusCategory": {"id": _CATEGORY_IDS[key], "key": key, "name": category}}


def jira_option(value: str | None) -> dict | None:
    """A select-list custom field value, or None when unset."""
    if value is None:
        return None
    return {"value": value, "id": _OPTION_IDS.get(value, "10099")}


def jira_fields(*, summary: str, description: str, priority: str, status: str, issue_type: str,
                labels: list[str], components: list[str], reporter: dict, assignee: dict | None,
                created: datetime, updated: datetime, tier: str | None = None,
                account_manager: dict | None = None, requested_priority: str | None = None) -> dict:
    """An issue's `fields`; tier, account manager and requested priority are the matrix's custom fields."""
    done = JIRA_STATUSES[status][1] == "done"
    return {
        "summary": summary, "description": description,
        "issuetype": {"id": JIRA_ISSUE_TYPES[issue_type], "name": issue_type, "subtask": False},
        "project": dict(JIRA_PROJECT),
        "priority": {"id": JIRA_PRIORITY_IDS[priority], "name": priority},
        "status": jira_status(status),
        "resolution": {"id": "10000", "name": "Done"} if done else None,
        "resolutiondate": jira_time(updated) if done else None,
        "labels": list(labels),
        "components": [{"id": str(10100 + i), "name": name} for i, name in enumerate(components)],
        "reporter": reporter, "assignee": assignee,
        "created": jira_time(created), "updated": jira_time(updated),
        "customfield_10050": jira_option(tier),
        "customfield_10060": account_manager,
        "customfield_10070": jira_option(requested_priority),
    }


def jira_issue(issue_id: str, key: str, fields: dict) -> dict:
    """The `issue` object of a delivery."""
    return {"id": issue_id, "self": f"{JIRA_SITE}/rest/api/2/issue/{issue_id}", "key": key, "fields": fields}


def jira_issue_created(issue: dict, user: dict, at: datetime) -> dict:
    """A `jira:issue_created` delivery."""
    return {"timestamp": epoch_ms(at), "webhookEvent": "jira:issue_created",
            "issue_event_type_name": "issue_created", "user": user, "issue": issue}


def jira_change(field: str, from_string: str | None, to_string: str | None, *,
                from_id: str | None = None, to_id: str | None = None) -> dict:
    """One changelog item; `from`/`to` hold ids, the `String` variants what people see."""
    return {"field": field, "fieldtype": "jira", "fieldId": field, "from": from_id,
            "fromString": from_string, "to": to_id, "toString": to_string}


def jira_issue_updated(issue: dict, user: dict, at: datetime, items: list[dict], *,
                       event_type: str = "issue_generic", changelog_id: str = "10000",
                       comment: dict | None = None) -> dict:
    """A `jira:issue_updated` delivery: a changelog, or a comment (`issue_commented`), or both."""
    payload = {"timestamp": epoch_ms(at), "webhookEvent": "jira:issue_updated",
               "issue_event_type_name": event_type, "user": user, "issue": issue}
    if items:
        payload["changelog"] = {"id": changelog_id, "items": items}
    if comment is not None:
        payload["comment"] = comment
    return payload


def jira_comment(comment_id: str, issue_id: str, author: dict, body: str, at: datetime, *,
                 public: bool = True) -> dict:
    """A comment; `jsdPublic` false is a Service Management internal note."""
    return {"self": f"{JIRA_SITE}/rest/api/2/issue/{issue_id}/comment/{comment_id}", "id": comment_id,
            "author": author, "body": body, "updateAuthor": author,
            "created": jira_time(at), "updated": jira_time(at), "jsdPublic": public}


def jira_comment_created(issue: dict, comment: dict, at: datetime) -> dict:
    """A `comment_created` delivery; Cloud trims the issue to a few fields and sends no `user`."""
    kept = ("summary", "issuetype", "project", "assignee", "priority", "status")
    trimmed = {**issue, "fields": {name: issue["fields"].get(name) for name in kept}}
    return {"timestamp": epoch_ms(at), "webhookEvent": "comment_created", "comment": comment, "issue": trimmed}


# -- Zendesk -----------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def zendesk_time(at: datetime) -> str:
    """Ticket timestamps as the event webhooks send them: whole seconds, `Z`."""
    return at.astimezone(UTC).isoformat(timespec="seconds")[:-6] + "Z"


def zendesk_ticket(ticket_id: str, *, subject: str, description: str, status: str, priority: str,
                   ticket_type: str, tags: list[str], requester_id: str, assignee_id: str | None,
                   group_id: str, organization_id: str, actor_id: str, created: datetime,
                   updated: datetime) -> dict:
    """The `detail` of a ticket event; ids are strings, enumerations upper case."""
    return {
        "actor_id": actor_id, "assignee_id": assignee_id, "brand_id": ZENDESK_BRAND_ID,
        "created_at": zendesk_time(created), "custom_status": "8447320465790", "description": description,
        "external_id": None, "form_id": ZENDESK_FORM_ID, "group_id": group_id, "id": ticket_id,
        "is_public": True, "organization_id": organization_id, "priority": priority.upper(),
        "requester_id": requester_id, "status": status.upper(), "subject": subject,
        "submitter_id": requester_id, "tags": sorted(tags), "type": ticket_type.upper(),
        "updated_at": zendesk_time(updated), "via": {"channel": "web"},
    }


def zendesk_comment(comment_id: str, author_id: str, author_name: str, body: str, *,
                    staff: bool, public: bool = True) -> dict:
    """The `event` of `ticket.comment_added`."""
    return {"comment": {"id": comment_id, "body": body, "is_public": public,
                        "author": {"id": author_id, "is_staff": staff, "name": author_name}}}


def zendesk_change(previous: str | None, current: str | None) -> dict:
    """The `event` of a field change such as `ticket.status_changed`."""
    return {"current": current, "previous": previous}


def zendesk_event(event_type: str, detail: dict, event: dict, *, at: datetime, event_id: str) -> dict:
    """The `zen:event-type:ticket.*` envelope; `event_type` is e.g. `ticket.created`."""
    sequence = {"id": event_id.replace("-", "").upper(), "position": 1}
    return {
        "account_id": ZENDESK_ACCOUNT_ID, "detail": detail, "event": {"meta": {"sequence": sequence}, **event},
        "id": event_id, "subject": f"zen:ticket:{detail['id']}",
        # Event times carry nanoseconds.
        "time": at.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "000Z",
        "type": f"zen:event-type:{event_type}", "zendesk_event_version": ZENDESK_EVENT_VERSION,
    }


def zendesk_trigger_ticket(ticket_id: str, *, title: str, description: str, status: str, priority: str,
                           ticket_type: str, tags: list[str], updated: datetime, requester: dict,
                           assignee_email: str, organization: str, organization_fields: dict,
                           area: str, latest_comment: dict) -> dict:
    """The `ticket` of the trigger body with its placeholders rendered as Zendesk renders them."""
    return {
        "id": ticket_id, "title": title, "description": description, "status": status.title(),
        "priority": priority.title(), "type": ticket_type.title(), "tags": " ".join(sorted(tags)),
        "updated_at": zendesk_time(updated), "requester": requester, "assignee": {"email": assignee_email},
        "organization": {"name": organization, "fields": organization_fields},
        "custom_fields": {ZENDESK_AREA_FIELD: area.title()}, "latest_comment": latest_comment,
    }


def zendesk_trigger_body(event: str, ticket: dict, current_user: dict,
                         satisfaction: tuple[str, str] | None = None) -> dict:
    """Escalator's trigger body (docs/zendesk-trigger-body.md); satisfaction is (good|bad, comment)."""
    rating, remark = satisfaction or ("", "")
    return {"escalator": TRIGGER_MARKER, "event": event, "ticket": ticket, "current_user": current_user,
            "satisfaction": {"rating": CSAT_TEXT.get(rating, rating), "comment": remark}}


# -- one ticket's events on each platform ------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """Someone with an account on both platforms; agents have a team, customers none."""
    name: str
    email: str
    jira_id: str
    zendesk_id: str
    team: str = ""


@dataclass(frozen=True)
class Customer:
    name: str
    tier: str                       # enterprise | business | pro | free
    region: str                     # EU | US | APAC
    contacts: tuple[Person, ...]
    account_manager: Person | None
    zendesk_org_id: str


@dataclass
class Ticket:
    """A ticket's current state in platform-neutral terms; statuses are new/open/waiting/solved."""
    platform: str
    number: int
    customer: Customer
    reporter: Person
    area: str                       # the product area: a Jira component, a Zendesk `area_` tag
    issue_type: str                 # Incident | Service request | Question
    priority: str                   # critical | high | normal | low
    requested_priority: str | None
    labels: tuple[str, ...]
    summary: str
    description: str
    created: datetime
    status: str = "new"
    assignee: Person | None = None
    last_comment: tuple[str, str, bool] = ("", "", True)   # body, author, public

    @property
    def key(self) -> str:
        return f"{JIRA_PROJECT['key']}-{self.number}" if self.platform == "jira" else str(self.number)


# As in rules/matrix.yaml: the values of Jira's tier select list and each team's Zendesk group.
JIRA_TIER = {"enterprise": "gold", "business": "silver", "pro": "bronze"}
ZENDESK_GROUPS = {"support-oncall": "360001234567", "payments-eng": "360001234568",
                  "identity-eng": "360001234569", "platform-sre": "360001234570", "data-eng": "360001234571"}
JIRA_STATUS = {"new": "Open", "open": "In Progress", "waiting": "Waiting for customer", "solved": "Done"}
JIRA_PRIORITY = {"critical": "Highest", "high": "High", "normal": "Medium", "low": "Low"}
ZENDESK_STATUS = {"new": "new", "open": "open", "waiting": "pending", "solved": "solved"}
ZENDESK_PRIORITY = {"critical": "urgent", "high": "high", "normal": "normal", "low": "low"}
ZENDESK_TYPE = {"Incident": "incident", "Service request": "task", "Question": "question"}


def render(ticket: Ticket, at: datetime, action: str, actor: Person, value: object, previous: object,
           serial: int, uid: str) -> dict:
    """The body the ticket's platform sends when `actor` does `action` to the ticket as it now is.

    Actions and their value: created; comment and note (internal) with the text; assign with the new
    assignee; status with the new status; csat (Zendesk) with (good|bad, remark). `previous` is the
    assignee or status before; `serial` and `uid` keep comment, changelog and event ids unique.
    Payloads share their user objects: copy one before changing it.
    """
    if ticket.platform == "jira":
        return _jira(ticket, at, action, actor, value, previous, str(serial))
    if action == "csat":
        return _zendesk_csat(ticket, at, value)
    event_type, event = _zendesk_change(action, actor, value, previous, str(serial))
    return zendesk_event(event_type, _zendesk_detail(ticket, at, actor), event, at=at, event_id=uid)


def _jira(ticket: Ticket, at: datetime, action: str, actor: Person, value: object, previous: object,
          serial: str) -> dict:
    issue, user = _jira_issue(ticket, at), _jira_person(actor)
    if action == "created":
        return jira_issue_created(issue, user, at)
    if action in ("comment", "note"):
        note = jira_comment(serial, issue["id"], user, value, at, public=action == "comment")
        if actor.team:
            return jira_comment_created(issue, note, at)
        # A customer's comment goes out as the issue update: its full issue names the reporter,
        # which is how the parser tells the customer's comments from the agents'.
        return jira_issue_updated(issue, user, at, [], event_type="issue_commented", comment=note)
    if action == "assign":
        item = jira_change("assignee", previous.name if previous else None, value.name,
                           from_id=previous.jira_id if previous else None, to_id=value.jira_id)
        return jira_issue_updated(issue, user, at, [item], event_type="issue_assigned", changelog_id=serial)
    if action == "status":
        return jira_issue_updated(issue, user, at, _jira_transition(previous, value), changelog_id=serial)
    raise ValueError(f"Jira sends no delivery for {action!r}")


@cache
def _jira_person(person: Person) -> dict:
    # Shared between payloads: a user object appears several times in each, and building it
    # anew for every delivery is what made large runs slow.
    return jira_user(person.jira_id, person.name, customer=not person.team)


def _jira_issue(ticket: Ticket, at: datetime) -> dict:
    customer, manager = ticket.customer, ticket.customer.account_manager
    fields = jira_fields(
        summary=ticket.summary, description=ticket.description, priority=JIRA_PRIORITY[ticket.priority],
        status=JIRA_STATUS[ticket.status], issue_type=ticket.issue_type,
        labels=[f"region-{customer.region}", *ticket.labels], components=[ticket.area],
        reporter=_jira_person(ticket.reporter), assignee=_jira_person(ticket.assignee) if ticket.assignee else None,
        created=ticket.created, updated=at, tier=JIRA_TIER.get(customer.tier),
        account_manager=_jira_person(manager) if manager else None, requested_priority=ticket.requested_priority)
    return jira_issue(str(10000 + ticket.number), ticket.key, fields)


def _jira_transition(old: str, new: str) -> list[dict]:
    """Status items; solving sets the resolution, reopening clears it, as Jira workflows do."""
    old_name, new_name = JIRA_STATUS[old], JIRA_STATUS[new]
    items = [jira_change("status", old_name, new_name, from_id=JIRA_STATUSES[old_name][0],
                         to_id=JIRA_STATUSES[new_name][0])]
    if new == "solved":
        items.insert(0, jira_change("resolution", None, "Done", to_id="10000"))
    elif old == "solved":
        items.insert(0, jira_change("resolution", "Done", None, from_id="10000"))
    return items


def zendesk_tags(ticket: Ticket) -> list[str]:
    """Organization tags (the tier) plus the region, area and requested-priority tags the matrix reads."""
    customer = ticket.customer
    tags = [customer.tier, f"region_{customer.region}", f"area_{ticket.area}", *ticket.labels]
    if ticket.requested_priority:
        tags.append(f"requested_{ticket.requested_priority}")
    return tags


def _zendesk_detail(ticket: Ticket, at: datetime, actor: Person) -> dict:
    team = ticket.assignee.team if ticket.assignee else ""
    return zendesk_ticket(
        ticket.key, subject=ticket.summary, description=ticket.description,
        status=ZENDESK_STATUS[ticket.status], priority=ZENDESK_PRIORITY[ticket.priority],
        ticket_type=ZENDESK_TYPE[ticket.issue_type], tags=zendesk_tags(ticket),
        requester_id=ticket.reporter.zendesk_id, assignee_id=ticket.assignee.zendesk_id if ticket.assignee else None,
        group_id=ZENDESK_GROUPS.get(team, ZENDESK_GROUPS["support-oncall"]),
        organization_id=ticket.customer.zendesk_org_id, actor_id=actor.zendesk_id, created=ticket.created, updated=at)


def _zendesk_change(action: str, actor: Person, value: object, previous: object, serial: str) -> tuple[str, dict]:
    if action == "created":
        return "ticket.created", {}
    if action in ("comment", "note"):
        return "ticket.comment_added", zendesk_comment(serial, actor.zendesk_id, actor.name, value,
                                                       staff=bool(actor.team), public=action == "comment")
    if action == "assign":
        return "ticket.agent_assignment_changed", zendesk_change(previous.zendesk_id if previous else None,
                                                                 value.zendesk_id)
    if action == "status":
        return "ticket.status_changed", zendesk_change(ZENDESK_STATUS[previous].upper(), ZENDESK_STATUS[value].upper())
    raise ValueError(f"Zendesk sends no event for {action!r}")


def _zendesk_csat(ticket: Ticket, at: datetime, rating: tuple[str, str]) -> dict:
    # Zendesk has no ticket event for ratings: they arrive through the trigger body.
    customer, requester = ticket.customer, ticket.reporter
    fields = {"customer_tier": customer.tier.title(), "region": customer.region}
    if customer.account_manager:
        fields["account_manager"] = customer.account_manager.name
    body, author, public = ticket.last_comment
    trigger_ticket = zendesk_trigger_ticket(
        ticket.key, title=ticket.summary, description=ticket.description, status=ZENDESK_STATUS[ticket.status],
        priority=ZENDESK_PRIORITY[ticket.priority], ticket_type=ZENDESK_TYPE[ticket.issue_type],
        tags=zendesk_tags(ticket), updated=at, requester={"email": requester.email, "name": requester.name},
        assignee_email=ticket.assignee.email if ticket.assignee else "", organization=customer.name,
        organization_fields=fields, area=ticket.area,
        latest_comment={"body": body, "author": author, "public": "true" if public else "false"})
    return zendesk_trigger_body("satisfaction_rated", trigger_ticket,
                                {"email": requester.email, "role": "End user"}, rating)
