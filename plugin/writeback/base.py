"""What every write-back client shares: the request and result types and the send loop."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable
from urllib.parse import quote, urlsplit, urlunsplit

from plugin.domain.actions import NOTE, Action

from .http import Http, WriteBackError

SENT, SKIPPED = "sent", "skipped"


@dataclass(frozen=True)
class OutgoingRequest:
    """One REST call, without credentials: those live in the session that sends it."""
    method: str
    url: str
    json: dict | None = None

    def describe(self) -> dict:
        """What dry-run shows as "would send"."""
        return {"method": self.method, "url": self.url, "json": self.json}


@dataclass(frozen=True)
class WriteResult:
    """`status` is "sent", or "skipped" when the ticket already had it; `request` is the last one sent."""
    status: str
    request: OutgoingRequest | None
    response_status: int | None
    requests: tuple[OutgoingRequest, ...] = ()


@runtime_checkable
class WriteBackClient(Protocol):
    def requests_for(self, action: Action) -> list[OutgoingRequest]: ...

    def apply(self, action: Action) -> WriteResult: ...


class RestClient:
    """Builds requests for an action; sends them when it has an Http, otherwise it only plans (dry-run)."""
    platform = ""

    def __init__(self, base_url: str, http: Http | None = None):
        self.base_url = _without_userinfo(base_url).rstrip("/")
        self.http = http

    def requests_for(self, action: Action) -> list[OutgoingRequest]:
        raise NotImplementedError

    def apply(self, action: Action) -> WriteResult:
        planned = self.requests_for(action)
        if not planned:
            return WriteResult(SKIPPED, None, None)
        if self.http is None:
            raise WriteBackError(f"{self.platform}: no credentials configured, so nothing can be sent",
                                 retryable=False)
        marker = action.data.get("marker") if action.kind == NOTE else None
        if marker and self.has_note(action.key, marker):
            return WriteResult(SKIPPED, planned[-1], None)
        response = None
        for request in planned:
            response = self.http.send(request.method, request.url, request.json)
        return WriteResult(SENT, planned[-1], response.status_code, tuple(planned))

    def has_note(self, key: str, marker: str) -> bool:
        """Whether a comment carrying `marker` is already on the ticket."""
        raise NotImplementedError

    def close(self) -> None:
        if self.http is not None:
            self.http.close()

    def url(self, path: str, *segments: str) -> str:
        return self.base_url + path.format(*(quote(str(s), safe="") for s in segments))

    def __repr__(self) -> str:
        mode = "live" if self.http is not None else "planner"
        return f"{type(self).__name__}({self.base_url!r}, {mode})"


def unsupported(action: Action, why: str) -> WriteBackError:
    return WriteBackError(f"{action.platform} {action.key}: cannot {action.kind}: {why}", retryable=False)


def marker_line(marker: str) -> str:
    return f"[{marker}]"


def has_marker(text: str, marker: str) -> bool:
    """True if `marker` stands alone in `text`, so "escalator:4" does not match "escalator:42"."""
    return re.search(rf"(?<![\w-]){re.escape(marker)}(?![\w-])", text or "") is not None


def _without_userinfo(url: str) -> str:
    """Drops user:password@ from a base URL, so a pasted credential never shows in a described request."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
