"""Platform adapters: one parser per platform, looked up by the platform's name.

Adding a platform is a module with a `parse(payload, headers)` function, a fixtures folder and
one line in PARSERS. Parsers take the request headers for a uniform signature; neither Jira's nor
Zendesk's needs them today.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from plugin.domain.errors import UnsupportedEvent
from plugin.domain.ticket import TicketEvent

from . import jira, zendesk

Parser = Callable[[dict, Mapping[str, str] | None], TicketEvent | None]

PARSERS: dict[str, Parser] = {"jira": jira.parse, "zendesk": zendesk.parse}
# The header that identifies one delivery: a redelivery repeats it.
DEDUPE_HEADERS = {"jira": "X-Atlassian-Webhook-Identifier", "zendesk": "X-Zendesk-Webhook-Invocation-Id"}


def dedupe_key(platform: str, headers: Mapping[str, str], body: bytes) -> str:
    """The platform's delivery id; without one, an identical body is the best sign of a retry."""
    wanted = DEDUPE_HEADERS.get(platform, "").lower()
    given = next((str(v).strip() for k, v in headers.items() if k.lower() == wanted), "")
    return given[:200] if given else "sha256:" + hashlib.sha256(body).hexdigest()


def parse(platform: str, payload: dict,
          headers: Mapping[str, str] | None = None) -> TicketEvent | None:
    """The TicketEvent for one delivery, parsed by the named platform's parser."""
    parser = PARSERS.get(platform) if isinstance(platform, str) else None
    if parser is None:
        raise UnsupportedEvent(f"unknown platform {platform!r}; expected one of: "
                               + ", ".join(sorted(PARSERS)))
    return parser(payload, headers)
