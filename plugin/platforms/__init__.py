"""The platforms Escalator serves, one package each, behind one registry line each.

A platform package (see jira/ and zendesk/) holds everything about its platform: its settings
section (ESCALATOR_<PLATFORM>_*, folded into plugin.settings.Settings), signature checks, pure
parsers, the delivery-id header and its REST write-back client, and exposes them as one
`PLATFORM` (a `Platform`). Nothing outside the package names the platform.

Adding a platform is:
  1. a package plugin/platforms/<name>/ whose __init__ defines PLATFORM;
  2. a folder tests/fixtures/<name>/ of real payloads, with a SOURCES.md saying where each came from;
  3. one line in PLATFORMS below.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from plugin.domain.errors import UnsupportedEvent
from plugin.domain.ticket import TicketEvent
from plugin.writeback.base import RestClient
from plugin.writeback.http import DEFAULT_TIMEOUT

from . import jira, zendesk
from ._platform import Platform
from ._signing import SignatureError

PLATFORMS: dict[str, Platform] = {
    "jira": jira.PLATFORM,
    "zendesk": zendesk.PLATFORM,
}

Parser = Callable[[object, Mapping[str, str] | None], TicketEvent | None]
# Looked up on every call, so tests can stand in for a parser.
PARSERS: dict[str, Parser] = {name: platform.parse for name, platform in PLATFORMS.items()}

__all__ = ["PARSERS", "PLATFORMS", "Platform", "SignatureError", "build_clients", "dedupe_key", "parse"]


def parse(platform: str, payload: object, headers: Mapping[str, str] | None = None) -> TicketEvent | None:
    """The TicketEvent for one delivery, parsed by the named platform's parser."""
    parser = PARSERS.get(platform) if isinstance(platform, str) else None
    if parser is None:
        raise UnsupportedEvent(f"unknown platform {platform!r}; expected one of: " + ", ".join(sorted(PARSERS)))
    return parser(payload, headers)


def dedupe_key(platform: str, headers: Mapping[str, str], body: bytes) -> str:
    """The platform's delivery id; without one, an identical body is the best sign of a retry."""
    wanted = PLATFORMS[platform].dedupe_header.lower() if platform in PLATFORMS else ""
    given = next((str(v).strip() for k, v in headers.items() if k.lower() == wanted), "")
    # PostgreSQL refuses NUL in text; a redelivery repeats the header, so the stand-in still matches it.
    given = given.replace("\x00", "\ufffd")
    return given[:200] if given else "sha256:" + hashlib.sha256(body).hexdigest()


def build_clients(settings, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT) -> dict[str, RestClient]:
    """A sending client for each platform whose credentials are set; the others run dry."""
    clients = {name: platform.client(settings, timeout=timeout) for name, platform in PLATFORMS.items()}
    return {name: client for name, client in clients.items() if client is not None}
