"""What `escalator install jira|zendesk` share: reads that always happen, writes that a dry run only records.

Each platform's install module compares what exists with what Escalator needs and calls `write` for each
difference; the CLI prints the steps. Nothing here ever holds or prints a credential.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urljoin

from plugin.writeback.base import OutgoingRequest
from plugin.writeback.http import Http, WriteBackError

CREATE, UPDATE, KEEP = "create", "update", "keep"
MASK = "********"
MAX_PAGES = 50


@dataclass(frozen=True)
class Step:
    """One thing the install made sure of: created, updated (and why), or kept as it was."""
    action: str
    what: str
    why: str = ""
    request: OutgoingRequest | None = None


@dataclass
class Remote:
    """A platform's REST API seen by an install: GETs are sent, writes only when `dry_run` is off."""
    base_url: str
    http: Http | None = None        # None: no credentials, so a dry run assumes nothing exists yet
    dry_run: bool = False
    secret_fields: tuple[str, ...] = ()
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return urljoin(self.base_url.rstrip("/") + "/", path.lstrip("/")) if "://" not in path else path

    def get(self, path: str) -> object:
        """The decoded JSON at `path` (a list or an object), or None without credentials."""
        if self.http is None:
            return None
        url = self.url(path)
        response = self.http.send("GET", url)
        try:
            return response.json()
        except ValueError:
            raise WriteBackError(f"GET {url} answered HTTP {response.status_code} without JSON",
                                 retryable=False, status=response.status_code) from None

    def write(self, action: str, what: str, method: str, path: str, body: dict | None,
              why: str = "") -> object:
        """Send one write (or only record it on a dry run); the decoded answer, or None."""
        request = OutgoingRequest(method, self.url(path), body)
        if self.dry_run or self.http is None:
            self.steps.append(Step(action, what, why, request))
            return None
        response = self.http.send(method, request.url, body)
        # Recorded once sent, so a run stopped by a failure reports only what was really done.
        self.steps.append(Step(action, what, why, request))
        try:
            return response.json() if response.content else None
        except ValueError:
            return None

    def keep(self, what: str) -> None:
        self.steps.append(Step(KEEP, what))

    def shown(self, request: OutgoingRequest) -> str:
        """The request as a dry run prints it, secrets masked."""
        body = masked(request.json, self.secret_fields) if request.json is not None else None
        text = f"{request.method} {request.url}"
        return text + ("\n" + json.dumps(body, indent=2, ensure_ascii=False) if body is not None else "")


def masked(value: object, secret_fields: tuple[str, ...]) -> object:
    """A copy of a JSON value with every `secret_fields` key's value replaced by the mask."""
    if isinstance(value, dict):
        return {k: MASK if k in secret_fields and v else masked(v, secret_fields) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, secret_fields) for v in value]
    return value


def pages(remote: Remote, path: str, key: str):
    """Every item under `key` of a paginated Zendesk-style list: cursor (`links.next`) or offset (`next_page`)."""
    url: str | None = path
    for _ in range(MAX_PAGES):
        page = remote.get(url) if url else None
        if not isinstance(page, dict):
            return
        yield from (item for item in page.get(key) or [] if isinstance(item, dict))
        url = _next_page(page)


def _next_page(page: dict) -> str | None:
    links, meta = page.get("links"), page.get("meta")
    if isinstance(meta, dict) and meta.get("has_more") and isinstance(links, dict) and links.get("next"):
        return str(links["next"])
    return str(page["next_page"]) if page.get("next_page") else None


def same_url(a: object, b: str) -> bool:
    """Whether two endpoint URLs name the same place (a trailing slash or the case of the host aside)."""
    return isinstance(a, str) and a.strip().rstrip("/").lower() == b.strip().rstrip("/").lower()
