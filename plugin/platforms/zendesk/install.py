"""`escalator install zendesk`: a signed webhook connected to triggers that post Escalator's trigger body.

The webhook (Webhooks API, connected to triggers through the `conditional_ticket_events` subscription) is
found again by its endpoint, each trigger (Triggers API) by its title, so a second run changes nothing.
The body is the one docs/zendesk-trigger-body.md documents and webhooks.parse reads.
"""
from __future__ import annotations

import json

from plugin.writeback.http import WriteBackError

from .._install import CREATE, UPDATE, Remote, pages, same_url
from .webhooks import TRIGGER_MARKER

WEBHOOKS_PATH = "/api/v2/webhooks"
TRIGGERS_PATH = "/api/v2/triggers"
WEBHOOK_NAME = "Escalator"
TRIGGER_SUBSCRIPTION = "conditional_ticket_events"
TITLE_PREFIX = "Escalator: "
NEW_WEBHOOK_ID = "<id of the new webhook>"
PAGE_SIZE = "?page[size]=100"


def _is(field: str, value: str) -> dict:
    return {"field": field, "operator": "is", "value": value}


def _changed(field: str) -> dict:
    return {"field": field, "operator": "changed", "value": None}


_UPDATED = _is("update_type", "Change")
# One trigger per situation the matrix tells apart: the body's "event" says which one fired.
SITUATIONS: dict[str, dict] = {
    "created": {"all": [_is("update_type", "Create")], "any": []},
    # "not_relevant" is the API's name for the condition "Comment is Present (public or private)".
    "commented": {"all": [_UPDATED, _is("comment_is_public", "not_relevant")], "any": []},
    "priority_changed": {"all": [_UPDATED, _changed("priority")], "any": []},
    "status_changed": {"all": [_UPDATED, _changed("status")], "any": []},
    "assigned": {"all": [_UPDATED], "any": [_changed("assignee_id"), _changed("group_id")]},
    "satisfaction_rated": {"all": [_changed("satisfaction_score")], "any": []},
}


def endpoint(public_url: str) -> str:
    return public_url.rstrip("/") + "/webhooks/zendesk"


def trigger_body(event: str, template: dict | None = None) -> dict:
    """The body docs/zendesk-trigger-body.md documents (or the admin's own), `event` set to the situation."""
    if template is not None:
        return template | {"event": event}
    return {
        "escalator": TRIGGER_MARKER,
        "event": event,
        "ticket": {
            "id": "{{ticket.id}}",
            "title": "{{ticket.title}}",
            "description": "{{ticket.verbatim_description}}",
            "status": "{{ticket.status}}",
            "priority": "{{ticket.priority}}",
            "type": "{{ticket.ticket_type}}",
            "tags": "{{ticket.tags}}",
            "updated_at": "{{ticket.updated_at_with_timestamp}}",
            "requester": {"email": "{{ticket.requester.email}}", "name": "{{ticket.requester.name}}"},
            "assignee": {"email": "{{ticket.assignee.email}}"},
            "organization": {
                "name": "{{ticket.organization.name}}",
                "fields": {
                    "customer_tier": "{{ticket.organization.custom_fields.customer_tier.title}}",
                    "region": "{{ticket.organization.custom_fields.region}}",
                },
            },
            "custom_fields": {"360012345678": "{{ticket.ticket_field_option_title_360012345678}}"},
            "latest_comment": {
                "body": "{{ticket.latest_comment}}",
                "author": "{{ticket.latest_comment.author.name}}",
                "public": "{{ticket.latest_comment.is_public}}",
            },
        },
        "current_user": {"email": "{{current_user.email}}", "role": "{{current_user.role}}"},
        "satisfaction": {"rating": "{{satisfaction.current_rating}}", "comment": "{{satisfaction.current_comment}}"},
    }


def desired_webhook(target: str) -> dict:
    """A webhook that triggers can notify: POST, JSON, active. Zendesk signs every request it sends."""
    return {"name": WEBHOOK_NAME, "endpoint": target, "http_method": "POST", "request_format": "json",
            "status": "active", "subscriptions": [TRIGGER_SUBSCRIPTION]}


def body_problem(template: object) -> str | None:
    """Why an admin's own body would not be read as Escalator's trigger body, or None."""
    if not isinstance(template, dict):
        return "the body must be a JSON object"
    if template.get("escalator") != TRIGGER_MARKER:
        return f'the body must keep "escalator": "{TRIGGER_MARKER}", which marks it as Escalator\'s'
    ticket = template.get("ticket")
    if not isinstance(ticket, dict) or ticket.get("id") != "{{ticket.id}}":
        return 'the body must keep "ticket": {"id": "{{ticket.id}}", ...}, which names the ticket'
    return None


def desired_trigger(event: str, webhook_id: str, template: dict | None = None) -> dict:
    body = json.dumps(trigger_body(event, template), indent=2, ensure_ascii=False)
    return {"title": TITLE_PREFIX + event.replace("_", " "), "active": True, "conditions": SITUATIONS[event],
            "actions": [{"field": "notification_webhook", "value": [webhook_id, body]}]}


def install(remote: Remote, target: str, template: dict | None = None) -> str | None:
    """Make sure of the webhook and every trigger; the webhook's id (None if a dry run would create it)."""
    webhook_id = ensure_webhook(remote, target)
    existing = {t.get("title"): t for t in pages(remote, TRIGGERS_PATH + PAGE_SIZE, "triggers")}
    for event in SITUATIONS:
        ensure_trigger(remote, desired_trigger(event, webhook_id or NEW_WEBHOOK_ID, template), existing)
    return webhook_id


def ensure_webhook(remote: Remote, target: str) -> str | None:
    wanted = desired_webhook(target)
    what = f"webhook {WEBHOOK_NAME!r} -> {target}"
    found = find_webhook(pages(remote, WEBHOOKS_PATH + PAGE_SIZE, "webhooks"), target)
    if found is None:
        created = remote.write(CREATE, what, "POST", WEBHOOKS_PATH, {"webhook": wanted})
        hook = created.get("webhook") if isinstance(created, dict) else None
        if isinstance(hook, dict) and hook.get("id"):
            return str(hook["id"])
        if remote.dry_run or remote.http is None:
            return None
        # Triggers must name the webhook: without its id they would be created pointing nowhere.
        raise WriteBackError(f"POST {remote.url(WEBHOOKS_PATH)} answered without the new webhook's id",
                             retryable=False)
    hook_id = str(found["id"])
    differences = [f"{key} {found.get(key)!r} -> {value!r}" for key, value in wanted.items()
                   if key not in ("name", "subscriptions") and found.get(key) != value]
    if differences:
        remote.write(UPDATE, f"{what} (id {hook_id})", "PUT", f"{WEBHOOKS_PATH}/{hook_id}",
                     {"webhook": wanted}, why="; ".join(differences))
    else:
        remote.keep(f"{what} (id {hook_id}): active, POST, JSON")
    return hook_id


def find_webhook(hooks, target: str) -> dict | None:
    """The trigger-connected webhook posting to `target`; one subscribed to events cannot serve triggers."""
    return next((h for h in hooks if same_url(h.get("endpoint"), target) and h.get("id")
                 and TRIGGER_SUBSCRIPTION in (h.get("subscriptions") or [])), None)


def ensure_trigger(remote: Remote, wanted: dict, existing: dict[object, dict]) -> None:
    title = wanted["title"]
    found = existing.get(title)
    if found is None:
        remote.write(CREATE, f"trigger {title!r}", "POST", TRIGGERS_PATH, {"trigger": wanted})
        return
    differences = trigger_differences(found, wanted)
    what = f"trigger {title!r} (id {found.get('id')})"
    if differences:
        remote.write(UPDATE, what, "PUT", f"{TRIGGERS_PATH}/{found.get('id')}", {"trigger": wanted},
                     why="; ".join(differences))
    else:
        remote.keep(f"{what}: conditions and body as wanted")


def trigger_differences(found: dict, wanted: dict) -> list[str]:
    differences = []
    if found.get("active") is False:
        differences.append("inactive -> active")
    if _conditions(found.get("conditions")) != _conditions(wanted["conditions"]):
        differences.append("conditions differ")
    have, want = _notification(found.get("actions")), _notification(wanted["actions"])
    if have is None:
        differences.append("no 'Notify active webhook' action")
    else:
        if str(have[0]) != str(want[0]):
            differences.append(f"notifies webhook {have[0]} -> {want[0]}")
        if _json_or_none(have[1]) != _json_or_none(want[1]):
            differences.append("body differs")
    if len(found.get("actions") or []) != len(wanted["actions"]):
        differences.append("other actions")
    return differences


def signing_secret(remote: Remote, webhook_id: str) -> str | None:
    """The secret Zendesk signs the webhook's requests with (never shown on a dry run)."""
    if remote.dry_run:
        remote.notes.append(f"would read the signing secret: GET {remote.url(_secret_path(webhook_id))}")
        return None
    answer = remote.get(_secret_path(webhook_id))
    secret = answer.get("signing_secret") if isinstance(answer, dict) else None
    return str(secret["secret"]) if isinstance(secret, dict) and secret.get("secret") else None


def _secret_path(webhook_id: str) -> str:
    return f"{WEBHOOKS_PATH}/{webhook_id}/signing_secret"


def _conditions(value: object) -> tuple:
    groups = value if isinstance(value, dict) else {}
    return tuple(sorted((c.get("field"), c.get("operator"), "" if c.get("value") is None else str(c.get("value")))
                        for c in groups.get(group) or [] if isinstance(c, dict)) for group in ("all", "any"))


def _notification(actions: object) -> tuple | None:
    for action in actions if isinstance(actions, list) else []:
        value = action.get("value") if isinstance(action, dict) else None
        if isinstance(value, list) and len(value) == 2 and action.get("field") == "notification_webhook":
            return tuple(value)
    return None


def _json_or_none(text: object) -> object:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None
