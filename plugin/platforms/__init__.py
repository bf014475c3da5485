"""Platform adapters: one parser per platform, looked up by the platform's name.

Adding a platform is a module with a `parse(payload, headers)` function, a fixtures folder and
one line in PARSERS. Parsers take the request headers for a uniform signature; neither Jira's nor
Zendesk's needs them today.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from plugin.domain.errors import UnsupportedEvent
from plugin.domain.ticket import TicketEvent

from . import jira, zendesk

Parser = Callable[[dict, Mapping[str, str] | None], TicketEvent | None]

PARSERS: dict[str, Parser] = {"jira": jira.parse, "zendesk": zendesk.parse}


def parse(platform: str, payload: dict,
          headers: Mapping[str, str] | None = None) -> TicketEvent | None:
    """The TicketEvent for one delivery, parsed by the named platform's parser."""
    parser = PARSERS.get(platform) if isinstance(platform, str) else None
    if parser is None:
        raise UnsupportedEvent(f"unknown platform {platform!r}; expected one of: "
                               + ", ".join(sorted(PARSERS)))
    return parser(payload, headers)
