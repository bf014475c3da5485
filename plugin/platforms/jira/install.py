"""`escalator install jira`: the admin webhook that signs its deliveries to POST /webhooks/jira.

Registered through Jira's admin webhook API (`/rest/webhooks/1.0/webhook`, which needs the Administer
Jira permission), found again by its URL so that a second run changes nothing. Without admin rights,
`manual_steps` says what to fill in on Jira's WebHooks page instead.
"""
from __future__ import annotations

from plugin.writeback.http import WriteBackError

from .._install import CREATE, UPDATE, Remote, same_url
from .webhooks import HANDLERS

WEBHOOKS_PATH = "/rest/webhooks/1.0/webhook"
ADMIN_PAGE = "/plugins/servlet/webhooks"
WEBHOOK_NAME = "Escalator"
JQL_SECTION = "issue-related-events-section"
# Exactly what the parser reads: any other event would only be answered "ignored".
EVENTS = tuple(sorted(HANDLERS))
SECRET_FIELDS = ("secret",)
_EVENT_LABELS = {
    "jira:issue_created": "Issue: created", "jira:issue_updated": "Issue: updated",
    "jira:issue_deleted": "Issue: deleted", "comment_created": "Comment: created",
    "comment_updated": "Comment: updated",
}


def endpoint(public_url: str) -> str:
    return public_url.rstrip("/") + "/webhooks/jira"


def desired_webhook(target: str, jql: str, secret: str) -> dict:
    """The body Atlassian documents for registering an admin webhook, with the secret that signs it."""
    return {"name": WEBHOOK_NAME, "url": target, "events": list(EVENTS), "filters": {JQL_SECTION: jql},
            "excludeBody": False, "secret": secret}


def install(remote: Remote, target: str, jql: str, secret: str, *, resend_secret: bool = False) -> None:
    """Create the webhook, or update the one at `target` if its events or JQL differ; else keep it."""
    wanted = desired_webhook(target, jql, secret)
    listed = remote.get(WEBHOOKS_PATH)
    if remote.http is not None and not isinstance(listed, list):
        # Creating blindly could register a second webhook and double every delivery.
        raise WriteBackError(f"GET {remote.url(WEBHOOKS_PATH)} did not answer a list of webhooks",
                             retryable=False)
    found = find_webhook(listed, target)
    what = f"webhook {WEBHOOK_NAME!r} -> {target}"
    if found is None:
        remote.write(CREATE, what, "POST", WEBHOOKS_PATH, wanted)
        return
    hook_id = webhook_id(found)
    differences = what_differs(found, wanted)
    # Jira never shows a secret back, so an unchanged webhook may still sign with an old one.
    if resend_secret:
        differences.append("secret re-sent")
    if differences:
        remote.write(UPDATE, f"{what} (id {hook_id})", "PUT", f"{WEBHOOKS_PATH}/{hook_id}", wanted,
                     why="; ".join(differences))
    else:
        remote.keep(f"{what} (id {hook_id}): events and JQL as wanted")
    if found.get("enabled") is False:
        remote.notes.append(f"the webhook is disabled in Jira: enable it on {remote.url(ADMIN_PAGE)}")


def find_webhook(listed: object, target: str) -> dict | None:
    """The registered webhook posting to `target`, from the list GET returns."""
    hooks = listed if isinstance(listed, list) else []
    return next((h for h in hooks if isinstance(h, dict) and same_url(h.get("url"), target)), None)


def webhook_id(hook: dict) -> str:
    """Jira names a webhook by its `self` link, .../rest/webhooks/1.0/webhook/<id>."""
    return str(hook.get("id") or str(hook.get("self", "")).rstrip("/").rpartition("/")[2])


def what_differs(found: dict, wanted: dict) -> list[str]:
    differences = []
    events = found.get("events") if isinstance(found.get("events"), list) else []
    if set(events) != set(wanted["events"]):
        differences.append(f"events {sorted(events)} -> {wanted['events']}")
    filters = found.get("filters") if isinstance(found.get("filters"), dict) else {}
    jql = str(filters.get(JQL_SECTION) or "")
    if jql.strip() != wanted["filters"][JQL_SECTION].strip():
        differences.append(f"JQL {jql!r} -> {wanted['filters'][JQL_SECTION]!r}")
    if found.get("excludeBody") is True:
        differences.append("excludeBody true -> false (Escalator reads the body)")
    return differences


def manual_steps(site: str, target: str, jql: str) -> list[str]:
    """What a Jira administrator does by hand when the API token may not register webhooks."""
    events = ", ".join(_EVENT_LABELS.get(e, e) for e in EVENTS)
    return [
        f"Open {site.rstrip('/')}{ADMIN_PAGE} (Jira settings > System > WebHooks) as a Jira administrator.",
        "Choose 'Create a WebHook' and fill in:",
        f"  Name: {WEBHOOK_NAME}",
        "  Status: Enabled",
        f"  URL: {target}",
        "  Secret: the value of ESCALATOR_JIRA_WEBHOOK_SECRET on Escalator "
        "(printenv ESCALATOR_JIRA_WEBHOOK_SECRET)",
        f"  Issue related events (JQL): {jql or '(leave empty for all issues)'}",
        f"  Events: {events}",
        "  Exclude body: unchecked",
        "Save, then change an issue: Escalator's GET /api/deliveries shows the delivery.",
    ]
