"""One HTTP round trip to Jira or Zendesk, with every failure classified for the outbox's retry policy."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from plugin.domain.errors import RemoteActionError

DEFAULT_TIMEOUT = (5.0, 15.0)  # (connect, read) seconds
MAX_ERROR_TEXT = 500
RETRYABLE_STATUSES = {429, 503}  # plus every other 5xx


class WriteBackError(RemoteActionError):
    """A failed write-back; `retryable` and `retry_after` (seconds) tell the outbox whether and when to retry."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 status: int | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


def new_session(username: str, password: str) -> requests.Session:
    """A session that authenticates with basic auth and never retries on its own."""
    session = requests.Session()
    session.auth = (username, password)
    session.headers.update({"Accept": "application/json", "User-Agent": "escalator"})
    # The outbox retries with backoff; retrying here as well would multiply attempts and,
    # after a read timeout on a POST that did land, post the same comment twice.
    adapter = HTTPAdapter(max_retries=Retry(total=0, redirect=0, raise_on_status=False))
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Http:
    """Sends requests on one session with a timeout; raises WriteBackError for anything but a 2xx."""

    def __init__(self, session: requests.Session, timeout: tuple[float, float] = DEFAULT_TIMEOUT,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self.session = session
        self.timeout = timeout
        self._now = now

    def send(self, method: str, url: str, body: dict | None = None) -> requests.Response:
        # Failures are raised outside the except blocks: requests' exception holds the prepared request
        # with its Authorization header, and must not ride along as __context__ into logged tracebacks.
        try:
            response = self.session.request(method, url, json=body, timeout=self.timeout)
        except requests.Timeout as exc:
            failure = WriteBackError(f"{method} {url} timed out ({type(exc).__name__})", retryable=True)
        except requests.RequestException as exc:
            failure = WriteBackError(f"{method} {url} failed: {type(exc).__name__}", retryable=True)
        else:
            if response.ok:
                return response
            failure = self._error(method, url, response)
        raise failure

    def get_json(self, url: str) -> dict:
        """GET a JSON object; anything else (a proxy's HTML page, say) is a retryable failure."""
        response = self.send("GET", url)
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise WriteBackError(f"GET {url} answered HTTP {response.status_code} without a JSON object",
                                 retryable=True, status=response.status_code)
        return data

    def close(self) -> None:
        self.session.close()

    def _error(self, method: str, url: str, response: requests.Response) -> WriteBackError:
        status = response.status_code
        # Scrubbed before truncating, so a cut can never leave half a token behind.
        text = _truncate(_scrub(error_text(response), self.session.auth))
        message = f"{method} {url} answered HTTP {status}: {text}"
        if status in RETRYABLE_STATUSES:
            wait = parse_retry_after(response.headers.get("Retry-After"), self._now())
            return WriteBackError(message, retryable=True, retry_after=wait, status=status)
        return WriteBackError(message, retryable=status >= 500, status=status)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header given as seconds or as an HTTP-date; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def error_text(response: requests.Response) -> str:
    """The platform's own words for a failure (Jira errorMessages/errors, Zendesk error/description/details)."""
    try:
        data = response.json()
    except ValueError:
        return " ".join(response.text.split()) or response.reason or ""
    parts: list[str] = []
    if isinstance(data, Mapping):
        parts += [str(m) for m in data.get("errorMessages") or []]
        errors = data.get("errors")
        if isinstance(errors, Mapping):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        error = data.get("error")
        if isinstance(error, Mapping):  # some Zendesk endpoints nest {"title", "message"}
            parts += [str(error.get(k)) for k in ("title", "message") if error.get(k)]
        elif error:
            parts.append(str(error))
        if data.get("description"):
            parts.append(str(data["description"]))
        if data.get("details"):
            parts.append(_details(data["details"]))
    return "; ".join(parts) or json.dumps(data)


def _details(details) -> str:
    """Zendesk's {"field": [{"description": ...}]} as "field: description"."""
    if not isinstance(details, Mapping):
        return str(details)
    found = []
    for field, items in details.items():
        for item in items if isinstance(items, list) else [items]:
            found.append(f"{field}: {item.get('description', item) if isinstance(item, Mapping) else item}")
    return "; ".join(found)


def _scrub(text: str, auth) -> str:
    if isinstance(auth, tuple) and len(auth) == 2 and auth[1]:
        text = text.replace(auth[1], "********")
    return text


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_ERROR_TEXT else text[:MAX_ERROR_TEXT - 1] + "…"
