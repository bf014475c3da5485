"""Intake: one delivery, parsed (pure) and stored in one write. The decision follows in the processor.

The webhook view and the simulator both call `ingest`; the view only verifies the signature first
and maps the receipt or the error to HTTP.
"""
from __future__ import annotations

import json
import reprlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from .domain.errors import AnomalousPayload, UnsupportedEvent
from .domain.ticket import TicketEvent
from .platforms import PLATFORMS, dedupe_key, parse
from .store.port import IGNORED, NewDelivery, StoragePort

MAX_DEPTH = 64     # no platform nests this deep; deeper bodies are refused before any parser recurses
# The widths of the store's columns for them: no real ticket key or account id is longer, and a value
# PostgreSQL refuses would fail intake (key) or every batch that holds the event (actor).
STORED_WIDTHS = {"ticket key": ("key", 64), "actor": ("actor", 128)}
# Kept with each delivery for debugging, with the platform's own; never signatures or tokens.
KEPT_HEADERS = ("Content-Type", "User-Agent")


@dataclass(frozen=True)
class Receipt:
    status: str                 # accepted | duplicate | ignored
    delivery: int | None
    ticket: str = ""            # platform/key
    reason: str = ""

    def as_dict(self) -> dict:
        answer = {"status": self.status, "delivery": self.delivery}
        if self.ticket:
            answer["ticket"] = self.ticket
        if self.reason:
            answer["reason"] = self.reason
        return answer


def ingest(store: StoragePort, platform: str, body: bytes, headers: Mapping[str, str], now: datetime, *,
           authenticated_by: str = "", bots: Collection[str] = ()) -> Receipt:
    """Store one delivery for the processor; raises AnomalousPayload when it cannot be a webhook.

    `bots` are the platform's accounts Escalator writes as: their events are echoes of our own writes.
    """
    event, reason = _event(platform, load_json(body), headers)
    if event is not None and event.actor and event.actor in bots:
        event, reason = None, "an echo of Escalator's own write-back (the actor is the bot account)"
    kept = {name: headers[name] for name in kept_headers(platform) if name in headers}
    delivery = NewDelivery(platform, dedupe_key(platform, headers, body), now, body, kept,
                           authenticated_by=authenticated_by, ticket_key=event.key if event else "",
                           event_kind=event.kind.value if event else "",
                           **({"status": IGNORED, "reason": reason} if event is None else {}))
    delivery_id = store.receive(delivery)
    if delivery_id is None:
        return Receipt("duplicate", None)
    if event is None:
        return Receipt("ignored", delivery_id, reason=reason)
    return Receipt("accepted", delivery_id, f"{platform}/{event.key}")


def kept_headers(platform: str) -> tuple[str, ...]:
    known = PLATFORMS.get(platform)
    return KEPT_HEADERS + ((known.dedupe_header, *known.kept_headers) if known else ())


def _event(platform: str, payload: object, headers: Mapping[str, str]) -> tuple[TicketEvent | None, str]:
    try:
        event = parse(platform, payload, headers)
    except UnsupportedEvent as exc:
        return None, str(exc)
    except AnomalousPayload as exc:
        raise AnomalousPayload(f"this does not look like a {platform} webhook: {exc}") from None
    if event is not None:
        _check_storable(platform, event)
    return event, "" if event is not None else "the delivery carries nothing to evaluate"


def _check_storable(platform: str, event: TicketEvent) -> None:
    """AnomalousPayload for a key or actor no database column can hold: too long, a control character
    (PostgreSQL refuses NUL) or half of a UTF-16 pair (no encoder takes it)."""
    for name, (attribute, width) in STORED_WIDTHS.items():
        value = getattr(event, attribute)
        if len(value) > width or not value.isprintable():
            shown = reprlib.repr(value)
            problem = f"longer than {width} characters" if len(value) > width else "not printable text"
            raise AnomalousPayload(f"this does not look like a {platform} webhook: its {name} {shown} is {problem}")


def load_json(body: bytes) -> object:
    """The decoded body; AnomalousPayload for invalid JSON or nesting deeper than MAX_DEPTH."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AnomalousPayload(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise AnomalousPayload(f"the body nests JSON deeper than {MAX_DEPTH} levels") from None
    # Depth needs as many openers as levels: most bodies have too few to need the walk.
    if body.count(b"{") + body.count(b"[") > MAX_DEPTH and depth_exceeds(payload, MAX_DEPTH):
        raise AnomalousPayload(f"the body nests JSON deeper than {MAX_DEPTH} levels")
    return payload


def depth_exceeds(value: object, limit: int) -> bool:
    """Whether containers nest more than `limit` deep; iterative, so any depth is safe to measure."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
