"""A replayed month as rows for the service's database (`escalator simulate --into-db`).

The replay runs on the in-memory store (minutes, not hours); its tickets, log and timers are then
copied as they stand, every key prefixed `SIM-<seed>-` so they never meet a real ticket and a second
run with the same seed replaces the first. The rows are marked simulated: the dashboard shows
them, and real figures leave them out unless asked. Writing them is the caller's (`MonthLoader`):
the simulator never touches SQL.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from plugin.domain.errors import EscalatorError
from plugin.platforms import parse

if TYPE_CHECKING:       # the SQL side imports this module for its two types, not the whole simulator
    from .generator import Delivery
    from .replay import Replay

# The service's CLI puts here how to load a month into its database: load(month) -> Loaded.
LOAD_MONTH = "escalator.load_simulated_month"
RATED = b"satisfaction_rated"       # how a rating delivery of the generator can be told without parsing it


@dataclass
class SimulatedMonth:
    """Rows for the tickets, escalation_log, timers and deliveries tables, keys already prefixed."""
    prefix: str
    tickets: list[dict] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    timers: list[dict] = field(default_factory=list)
    ratings: list[dict] = field(default_factory=list)    # a delivery row each, with the log entry it makes


@dataclass(frozen=True)
class Loaded:
    tickets: int
    replaced: int           # simulated tickets of an earlier run with the same prefix, removed first
    simulated_total: int    # simulated tickets in the database now


class MonthLoader(Protocol):
    def __call__(self, month: SimulatedMonth) -> Loaded: ...


def recent_start(days: int, today: date | None = None) -> str:
    """The first day of a simulated period that ends about now: the replay follows open timers two
    days past the last delivery, so the period starts that much earlier and nothing lands in the future."""
    today = today or datetime.now(UTC).date()
    return (today - timedelta(days=days + 3)).isoformat()


def prefix_for(seed: int) -> str:
    return f"SIM-{seed}-"


def rating_deliveries(deliveries: Iterable[Delivery]) -> list[Delivery]:
    """The satisfaction ratings among generated deliveries: a lean replay does not keep them."""
    return [d for d in deliveries if RATED in d.body]


def month_of(result: Replay, seed: int, ratings: Iterable[Delivery] = ()) -> SimulatedMonth:
    prefix, store = prefix_for(seed), result.store
    month = SimulatedMonth(prefix)
    month.tickets = [{**row, "key": prefix + row["key"], "simulated": True} for row in store.tickets.values()]
    month.timers = [{**_without(row, "id"), "key": prefix + row["key"]} for row in store.timers.values()]
    month.log = [{**_without(row, "id"), "key": prefix + row["key"], "delivery_id": None} for row in store.log]
    month.ratings = _ratings(ratings, prefix, {key for _, key in store.tickets})
    return month


def _ratings(deliveries: Iterable[Delivery], prefix: str, known: set[str]) -> list[dict]:
    rows = []
    for index, delivery in enumerate(deliveries):
        key = _ticket_key(delivery)
        if key in known:
            rows.append({"platform": delivery.platform, "key": prefix + key, "at": delivery.at,
                         "dedupe_key": f"{prefix}rating-{index}", "headers": dict(delivery.headers),
                         "body": delivery.body})
    return rows


def _ticket_key(delivery: Delivery) -> str | None:
    try:
        event = parse(delivery.platform, json.loads(delivery.body), dict(delivery.headers))
    except (EscalatorError, ValueError):
        return None
    return event.key if event is not None and event.satisfaction is not None else None


def _without(row: dict, name: str) -> dict:
    return {k: v for k, v in row.items() if k != name}
