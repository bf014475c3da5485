"""One JSON POST to a webhook, with failures classified like write-back failures.

Webhook URLs carry their credential in the path or query, so a URL only ever appears redacted:
in errors, in logs and in what dry-run shows.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from plugin.writeback.http import (
    DEFAULT_TIMEOUT,
    MAX_ERROR_TEXT,
    RETRYABLE_STATUSES,
    WriteBackError,
    error_text,
    parse_retry_after,
)

# Atlassian Statuspage answers 420 as well as 429 when its rate limit is hit.
RATE_LIMITED = RETRYABLE_STATUSES | {420}


class DeliveryError(WriteBackError):
    """A message that could not be delivered; `retryable` and `retry_after` mean what they do for write-backs."""


def redact_url(url: str) -> str:
    """scheme://host/first-segment/**** : enough to tell webhooks apart, never their secret part."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    segments = [s for s in parts.path.split("/") if s]
    path = "/" + segments[0] if segments else ""
    hidden = "/****" if len(segments) > 1 else ""
    return f"{parts.scheme}://{host}{path}{hidden}" + ("?****" if parts.query else "")


def encode(payload: Mapping) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def webhook_session() -> requests.Session:
    """A session without credentials that never retries on its own: the outbox owns retries."""
    session = requests.Session()
    session.headers.update({"User-Agent": "escalator"})
    adapter = HTTPAdapter(max_retries=Retry(total=0, redirect=0, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Poster:
    """POSTs JSON bodies; raises DeliveryError for anything but a 2xx."""

    def __init__(self, session: requests.Session | None = None, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.session = session or webhook_session()
        self.timeout = timeout
        self._now = now

    def post(self, url: str, body: bytes, headers: Mapping[str, str] | None = None) -> requests.Response:
        shown = redact_url(url)
        sent_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        # Raised outside the except blocks, so the request (URL and headers) never rides along as __context__.
        try:
            response = self.session.post(url, data=body, headers=sent_headers, timeout=self.timeout)
        except requests.Timeout as exc:
            failure = DeliveryError(f"POST {shown} timed out ({type(exc).__name__})", retryable=True)
        except requests.RequestException as exc:
            failure = DeliveryError(f"POST {shown} failed: {type(exc).__name__}", retryable=True)
        else:
            if response.ok:
                return response
            failure = self._error(shown, response)
        raise failure

    def close(self) -> None:
        self.session.close()

    def _error(self, shown: str, response: requests.Response) -> DeliveryError:
        status = response.status_code
        text = error_text(response)
        text = text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT - 1] + "…"
        message = f"POST {shown} answered HTTP {status}: {text}"
        if status in RATE_LIMITED:
            wait = parse_retry_after(response.headers.get("Retry-After"), self._now())
            return DeliveryError(message, retryable=True, retry_after=wait, status=status)
        return DeliveryError(message, retryable=status >= 500, status=status)
