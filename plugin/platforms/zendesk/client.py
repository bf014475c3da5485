"""Zendesk Support write-back: ticket updates through the Tickets API, notes as private comments."""
from __future__ import annotations

from plugin.domain.actions import ASSIGN, NOTE, UPDATE, Action
from plugin.writeback.base import OutgoingRequest, RestClient, has_marker, marker_line, unsupported
from plugin.writeback.http import DEFAULT_TIMEOUT, Http, new_session

from .settings import PLACEHOLDER_URL, site_url

PRIORITIES = ("urgent", "high", "normal", "low")


def client(settings, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> ZendeskClient | None:
    """A sending client when the account URL (or subdomain), email and API token are all set; None otherwise."""
    if not (site_url(settings) and settings.zendesk_email and settings.zendesk_api_token):
        return None
    # Zendesk API tokens authenticate as "{email}/token" with the token as the password.
    session = new_session(f"{settings.zendesk_email}/token", settings.zendesk_api_token)
    return ZendeskClient(site_url(settings), Http(session, timeout))


def planner(settings) -> ZendeskClient:
    """A client that builds the exact requests a configured one would send, and cannot send them."""
    return ZendeskClient(site_url(settings) or PLACEHOLDER_URL)


class ZendeskClient(RestClient):
    """Writes to Zendesk Support with an API token."""
    platform = "zendesk"

    def requests_for(self, action: Action) -> list[OutgoingRequest]:
        build = {UPDATE: self._update, ASSIGN: self._assign, NOTE: self._note}.get(action.kind)
        if build is None:
            raise unsupported(action, "unknown action kind")
        return build(action)

    def _ticket(self, action: Action, fields: dict) -> OutgoingRequest:
        return OutgoingRequest("PUT", self.url("/api/v2/tickets/{}.json", action.key), {"ticket": fields})

    def _update(self, action: Action) -> list[OutgoingRequest]:
        planned = []
        if action.data.get("priority"):
            priority = str(action.data["priority"]).lower()
            if priority not in PRIORITIES:
                raise unsupported(action, f"priority {priority!r} is not one of {', '.join(PRIORITIES)}")
            planned.append(self._ticket(action, {"priority": priority}))
        if action.data.get("add_labels"):
            # Tags on Update Ticket replace the whole list, and additional_tags is documented only for
            # Update Many Tickets (an asynchronous job), so labels go through Add Tags, which merges.
            planned.append(OutgoingRequest("PUT", self.url("/api/v2/tickets/{}/tags.json", action.key),
                                           {"tags": list(action.data["add_labels"])}))
        return planned

    def _assign(self, action: Action) -> list[OutgoingRequest]:
        kind, _, number = str(action.data.get("assignee") or "").rpartition(":")
        field = {"user": "assignee_id", "": "assignee_id", "group": "group_id"}.get(kind)
        if field is None or not number.isdigit():
            raise unsupported(action, "assignee must be user:<id> or group:<id>")
        return [self._ticket(action, {field: int(number)})]

    def _note(self, action: Action) -> list[OutgoingRequest]:
        body = str(action.data.get("body") or "")
        if action.data.get("marker"):
            body += "\n" + marker_line(action.data["marker"])
        return [self._ticket(action, {"comment": {"body": body, "public": bool(action.data.get("public"))}})]

    def has_note(self, key: str, marker: str) -> bool:
        # Newest first: a note that landed before a timeout is on the first page.
        url = self.url("/api/v2/tickets/{}/comments.json", key) + "?sort_order=desc"
        comments = self.http.get_json(url).get("comments", [])
        return any(has_marker(c.get("body") or c.get("plain_body") or "", marker) for c in comments)
