"""Jira Cloud REST v3 write-back: one request per action, notes as internal comments."""
from __future__ import annotations

from plugin.domain.actions import ASSIGN, NOTE, UPDATE, Action
from plugin.writeback.base import OutgoingRequest, RestClient, has_marker, marker_line, unsupported
from plugin.writeback.http import DEFAULT_TIMEOUT, Http, new_session

from .fields import body_text
from .settings import PLACEHOLDER_URL, site_url

JSM_PAGES = 20  # 1,000 internal comments; past that a retried note may be posted again


def client(settings, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> JiraClient | None:
    """A sending client when the site, email and API token are all set; None otherwise."""
    if not (site_url(settings) and settings.jira_email and settings.jira_api_token):
        return None
    http = Http(new_session(settings.jira_email, settings.jira_api_token), timeout)
    return JiraClient(site_url(settings), http, service_desk=settings.jira_service_desk)


def planner(settings) -> JiraClient:
    """A client that builds the exact requests a configured one would send, and cannot send them."""
    return JiraClient(site_url(settings) or PLACEHOLDER_URL, service_desk=settings.jira_service_desk)


class JiraClient(RestClient):
    """Writes to Jira Cloud. `service_desk=True` (ESCALATOR_JIRA_SERVICE_DESK=1) posts notes through the
    Jira Service Management API as internal comments; otherwise notes are plain issue comments (ADF)."""
    platform = "jira"

    def __init__(self, base_url: str, http: Http | None = None, *, service_desk: bool = False):
        super().__init__(base_url, http)
        self.service_desk = service_desk

    def requests_for(self, action: Action) -> list[OutgoingRequest]:
        build = {UPDATE: self._update, ASSIGN: self._assign, NOTE: self._note}.get(action.kind)
        if build is None:
            raise unsupported(action, "unknown action kind")
        return build(action)

    def _update(self, action: Action) -> list[OutgoingRequest]:
        # notifyUsers=false is left out: it needs Administer Jira or Administer Projects permission.
        body: dict = {}
        if action.data.get("priority"):
            body["fields"] = {"priority": {"name": action.data["priority"]}}
        if action.data.get("add_labels"):
            body["update"] = {"labels": [{"add": label} for label in action.data["add_labels"]]}
        if not body:
            return []
        return [OutgoingRequest("PUT", self.url("/rest/api/3/issue/{}", action.key), body)]

    def _assign(self, action: Action) -> list[OutgoingRequest]:
        assignee = str(action.data.get("assignee") or "")
        if assignee.startswith("group:"):
            raise unsupported(action, "Jira issues are assigned to people, not groups")
        account_id = assignee.removeprefix("user:")
        if not account_id:
            raise unsupported(action, "no assignee accountId")
        return [OutgoingRequest("PUT", self.url("/rest/api/3/issue/{}/assignee", action.key),
                                {"accountId": account_id})]

    def _note(self, action: Action) -> list[OutgoingRequest]:
        lines = str(action.data.get("body") or "").split("\n")
        if action.data.get("marker"):
            lines.append(marker_line(action.data["marker"]))
        if self.service_desk:
            # Service Management is the only Jira API where "visible to the customer" is a flag.
            return [OutgoingRequest("POST", self.url("/rest/servicedeskapi/request/{}/comment", action.key),
                                    {"body": "\n".join(lines), "public": bool(action.data.get("public"))})]
        return [OutgoingRequest("POST", self.url("/rest/api/3/issue/{}/comment", action.key),
                                {"body": adf_document(lines)})]

    def has_note(self, key: str, marker: str) -> bool:
        if self.service_desk:
            return any(has_marker(c.get("body", ""), marker) for c in self._jsm_comments(key))
        url = self.url("/rest/api/3/issue/{}/comment", key) + "?orderBy=-created&maxResults=50"
        comments = self.http.get_json(url).get("comments", [])
        return any(has_marker(body_text(c.get("body")), marker) for c in comments)

    def _jsm_comments(self, key: str):
        # This endpoint has no documented sort order, so it is read page by page.
        url = self.url("/rest/servicedeskapi/request/{}/comment", key) + "?public=true&internal=true"
        start = 0
        for _ in range(JSM_PAGES):
            page = self.http.get_json(url + (f"&start={start}" if start else ""))
            values = page.get("values", [])
            yield from values
            if page.get("isLastPage", True) or not values:
                return
            start += len(values)


def adf_document(lines: list[str]) -> dict:
    """Plain text as an Atlassian Document: one paragraph per line (ADF text nodes may not be empty)."""
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []} for line in lines]}
