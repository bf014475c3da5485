"""What the registry holds for each platform: its settings and the functions the service calls."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from plugin.domain.ticket import TicketEvent
from plugin.writeback.base import RestClient

if TYPE_CHECKING:   # plugin.settings is built from this registry, so it cannot be imported here
    from plugin.settings import Settings


@dataclass(frozen=True)
class Platform:
    name: str
    settings: type      # a frozen dataclass of its ESCALATOR_* fields; plugin.settings.Settings includes them
    # How a delivery authenticated ("signature", "unsigned", ...), or SignatureError; `now` judges timestamps.
    verify: Callable[[bytes, Mapping[str, str], Settings, datetime], str]
    # Pure, from the decoded body; the service calls it through plugin.platforms.parse.
    parse: Callable[[object, Mapping[str, str] | None], TicketEvent | None]
    dedupe_header: str                                  # names one delivery: a redelivery repeats it
    client: Callable[..., RestClient | None]            # (settings, *, timeout): None without credentials
    planner: Callable[[Settings], RestClient]           # builds the same requests, cannot send them (dry-run)
    bot_account: Callable[[Settings], str]              # the account Escalator writes as; "" if unset
    ticket_url: Callable[[Settings], str]               # where an agent opens a ticket, with {key}; "" if unknown
    # Kept with each delivery for debugging, besides the delivery id; never signatures or tokens.
    kept_headers: tuple[str, ...] = ()
