"""Senders for the channels Escalator posts to itself: Slack, Microsoft Teams, a status page, a JSON webhook.

Each sender has `build_request(message)` (what dry-run shows as "would send", secrets redacted) and
`send(message)`. Email lives in `smtp`. Ticket comments and internal notes are not sent here: they
become write-back actions (`ticket_action`) and go through the platform clients like every other write.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

from plugin.domain.actions import NOTE, Action
from plugin.domain.matrix import Matrix

from ._http import DeliveryError, Poster, encode, redact_url
from .recipients import TICKET_CHANNELS, Recipient, resolve
from .settings import CommsSettings

STATUSPAGE_API = "https://api.statuspage.io"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
IMPACTS = {"critical": "critical", "high": "major", "normal": "minor", "low": "none"}
SIGNATURE_HEADER = "X-Escalator-Signature"


@dataclass(frozen=True)
class Message:
    """A rendered message for one channel: Slack/Teams/webhooks take one address in `to`, email several."""
    channel: str
    text: str
    to: tuple[str, ...] = ()
    platform: str = ""
    ticket: str = ""
    url: str = ""
    level: str = ""
    severity: str = ""
    situation: str = ""

    @property
    def title(self) -> str:
        """The first non-blank line: an email's subject, a card's heading, an incident's name."""
        return next((line.strip() for line in self.text.splitlines() if line.strip()), "")

    @property
    def body(self) -> str:
        """Everything after the title."""
        lines = self.text.strip().splitlines()
        return "\n".join(lines[1:]).strip()

    def as_dict(self) -> dict:
        """JSON-ready, for an outbox row."""
        return {**asdict(self), "to": list(self.to)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Message:
        return cls(**{**data, "to": tuple(data.get("to") or ())})


@dataclass(frozen=True)
class Delivery:
    """What was sent: the described request and the server's answer."""
    channel: str
    request: dict
    status: int | None = None
    refused: Mapping[str, str] | None = None    # email: addresses the server refused, with its reply


def messages_for(channel: str, text: str, recipients: Iterable[Recipient], **meta: str) -> list[Message]:
    """The messages to send: one email to every address, one post per chat destination."""
    addresses = tuple(dict.fromkeys(r.address for r in recipients))
    if not addresses:
        return []
    if channel == "email":
        return [Message(channel, text, addresses, **meta)]
    return [Message(channel, text, (address,), **meta) for address in addresses]


def ticket_action(message: Message, marker: str = "") -> Action:
    """A ticket comment (public) or internal note as a write-back action; `marker` makes retries idempotent."""
    if message.channel not in TICKET_CHANNELS:
        raise ValueError(f"{message.channel} is not written on the ticket")
    data = {"body": message.text.strip(), "public": message.channel == "ticket_comment"}
    if marker:
        data["marker"] = marker
    return Action(message.platform, message.ticket, NOTE, data)


class WebhookSender:
    """Shared by every sender that POSTs JSON: build the payload, resolve the URL, post."""
    channel = ""

    def __init__(self, poster: Poster | None = None):
        self.poster = poster or Poster()

    def build_request(self, message: Message) -> dict:
        url = self.url_for(message)
        return {"method": "POST", "url": redact_url(url) if url else self.missing(message),
                "headers": self.shown_headers(), "json": self.payload(message)}

    def send(self, message: Message) -> Delivery:
        url = self.url_for(message)
        if not url:
            raise DeliveryError(f"{self.channel}: {self.missing(message)}", retryable=False)
        body = encode(self.payload(message))
        response = self.poster.post(url, body, self.headers(body))
        return Delivery(self.channel, self.build_request(message), response.status_code)

    def url_for(self, message: Message) -> str:
        raise NotImplementedError

    def missing(self, message: Message) -> str:
        raise NotImplementedError

    def payload(self, message: Message) -> dict:
        raise NotImplementedError

    def headers(self, body: bytes) -> dict[str, str]:
        return {}

    def shown_headers(self) -> dict[str, str]:
        return {}


class _ChatSender(WebhookSender):
    """A party's address is a webhook URL itself or a name looked up in the configured map."""
    variable = ""

    def __init__(self, webhooks: Mapping[str, str], poster: Poster | None = None):
        super().__init__(poster)
        self.webhooks = dict(webhooks)

    def url_for(self, message: Message) -> str:
        address = _single(message)
        return address if address.startswith("https://") else self.webhooks.get(address, "")

    def missing(self, message: Message) -> str:
        return f"no webhook configured for {_single(message)!r}; add it to {self.variable}"


class SlackSender(_ChatSender):
    """Slack incoming webhooks: {"text": ...}."""
    channel, variable = "slack", "ESCALATOR_SLACK_WEBHOOKS"

    def payload(self, message: Message) -> dict:
        return {"text": slack_escape(message.text.strip())}


class TeamsSender(_ChatSender):
    """Teams Workflows ("When a Teams webhook request is received") and incoming webhooks: an Adaptive Card.

    Workflows accept Adaptive Cards only, and incoming webhooks accept them too, so one format serves both.
    """
    channel, variable = "teams", "ESCALATOR_TEAMS_WEBHOOKS"

    def payload(self, message: Message) -> dict:
        blocks = [{"type": "TextBlock", "text": message.title, "weight": "Bolder", "size": "Medium", "wrap": True}]
        if message.body:
            blocks.append({"type": "TextBlock", "text": message.body, "wrap": True})
        card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                "version": "1.4", "body": blocks}
        return {"type": "message", "attachments": [{"contentType": ADAPTIVE_CARD, "contentUrl": None,
                                                    "content": card}]}


class StatusPageSender(WebhookSender):
    """A status-page incident: to a generic webhook (ESCALATOR_STATUSPAGE_URL), or, with an API key and page
    id, to Atlassian Statuspage's `POST /v1/pages/{page_id}/incidents` with `Authorization: OAuth <key>`.

    Each message opens an incident: updating or resolving the one opened before needs its id, which is not kept.
    """
    channel = "statuspage"

    def __init__(self, url: str = "", *, api_key: str = "", page_id: str = "", api_base: str = STATUSPAGE_API,
                 poster: Poster | None = None):
        super().__init__(poster)
        self.url, self.api_key, self.page_id, self.api_base = url, api_key, page_id, api_base.rstrip("/")

    @property
    def atlassian(self) -> bool:
        return bool(self.api_key and self.page_id)

    def url_for(self, message: Message) -> str:
        if self.atlassian:
            return f"{self.api_base}/v1/pages/{self.page_id}/incidents"
        return self.url

    def build_request(self, message: Message) -> dict:
        request = super().build_request(message)
        if self.atlassian:    # the page id is not a secret, and tells admins which page would change
            request["url"] = f"{self.api_base}/v1/pages/{self.page_id}/incidents"
        return request

    def missing(self, message: Message) -> str:
        return "set ESCALATOR_STATUSPAGE_URL, or ESCALATOR_STATUSPAGE_API_KEY and ESCALATOR_STATUSPAGE_PAGE_ID"

    def payload(self, message: Message) -> dict:
        status = "resolved" if message.situation == "resolved" else "investigating"
        impact_key = "impact_override" if self.atlassian else "impact"
        return {"incident": {"name": message.title, "status": status, "body": message.body or message.title,
                             impact_key: IMPACTS.get(message.severity, "minor")}}

    def headers(self, body: bytes) -> dict[str, str]:
        return {"Authorization": f"OAuth {self.api_key}"} if self.atlassian else {}

    def shown_headers(self) -> dict[str, str]:
        return {"Authorization": "OAuth ********"} if self.atlassian else {}


class GenericWebhookSender(WebhookSender):
    """A JSON webhook; with a secret, `X-Escalator-Signature: sha256=<hex HMAC of the body>`."""
    channel = "webhook"

    def __init__(self, url: str = "", *, secret: str = "", poster: Poster | None = None):
        super().__init__(poster)
        self.url, self.secret = url, secret

    def url_for(self, message: Message) -> str:
        return self.url

    def missing(self, message: Message) -> str:
        return "set ESCALATOR_WEBHOOK_URL"

    def payload(self, message: Message) -> dict:
        return {"ticket": {"platform": message.platform, "key": message.ticket, "url": message.url},
                "level": message.level, "severity": message.severity, "situation": message.situation,
                "text": message.text.strip()}

    def headers(self, body: bytes) -> dict[str, str]:
        if not self.secret:
            return {}
        return {SIGNATURE_HEADER: "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()}

    def shown_headers(self) -> dict[str, str]:
        return {SIGNATURE_HEADER: "sha256=…"} if self.secret else {}


def build_senders(settings: CommsSettings, *, poster: Poster | None = None) -> dict:
    """A sender per channel Escalator sends itself; unconfigured ones still build requests for dry-run."""
    from .smtp import EmailSender  # smtplib and ssl load only where email is used

    poster = poster or Poster()
    return {
        "slack": SlackSender(settings.slack_webhooks, poster),
        "teams": TeamsSender(settings.teams_webhooks, poster),
        "statuspage": StatusPageSender(settings.statuspage_url, api_key=settings.statuspage_api_key,
                                       page_id=settings.statuspage_page_id, poster=poster),
        "webhook": GenericWebhookSender(settings.webhook_url, secret=settings.webhook_secret, poster=poster),
        "email": EmailSender(settings.smtp_url, settings.smtp_from),
    }


def slack_escape(text: str) -> str:
    """Slack reads <!channel>, <@U123> and <url|label> as controls; customer text must not ping or link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _single(message: Message) -> str:
    if len(message.to) != 1:
        raise ValueError(f"a {message.channel} message goes to exactly one destination, not {len(message.to)}")
    return message.to[0]



OWNER_CHANNELS = ("slack", "teams", "email")     # where a person is reached, in order of preference


def owner_messages(owner: str, text: str, matrix: Matrix, is_live: Callable[[Mapping], bool], **meta: str) -> list:
    """`text` for the party `owner` on their Slack, else Teams, else email; a channel that would only be
    dry-run yields to one configured to send. Empty when the matrix has no address for them."""
    found = [messages_for(channel, text, resolve([owner], channel, matrix, {}).recipients, **meta)
             for channel in OWNER_CHANNELS]
    found = [messages for messages in found if messages]
    live = [m for m in found if all(is_live(x.as_dict()) for x in m)]
    return (live or found or [[]])[0]


__all__ = ["Message", "Delivery", "DeliveryError", "messages_for", "ticket_action", "build_senders", "owner_messages",
           "SlackSender", "TeamsSender", "StatusPageSender", "GenericWebhookSender"]
