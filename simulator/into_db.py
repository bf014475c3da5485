"""A replayed month as rows for the service's database (`escalator simulate --into-db`).

The replay runs on the in-memory store (minutes, not hours); its tickets, log, timers and
after-action reviews are then copied as they stand, every key prefixed `SIM-<seed>-` so they never
meet a real ticket and a second run with the same seed replaces the first. The rows are marked
simulated: the dashboard shows them, and real figures and review lists leave them out unless asked.
A few reviews get seeded action items, so a lead has something to work. Writing them is the
caller's (`MonthLoader`): the simulator never touches SQL.
"""
from __future__ import annotations

import json
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from plugin.domain.errors import EscalatorError
from plugin.domain.review import DONE, OPEN, ActionItem, Review
from plugin.platforms import parse
from plugin.store.rows import action_values, review_values

if TYPE_CHECKING:       # the SQL side imports this module for its two types, not the whole simulator
    from .generator import Delivery
    from .replay import Replay

# The service's CLI puts here how to load a month into its database: load(month) -> Loaded.
LOAD_MONTH = "escalator.load_simulated_month"
RATED = b"satisfaction_rated"       # how a rating delivery of the generator can be told without parsing it
ACTIONED_AT_MOST = 25               # reviews given action items: a few to work, not a backlog to wade through
ACTION_TITLES = (
    "Write the runbook step this escalation was missing",
    "Add an alert that catches this before a customer reports it",
    "Walk the L1 to L2 hand-off through with the on-call team",
    "Tell the customer in writing what changed",
    "Add a regression test for the failure",
    "Check that the acknowledgement target still fits this severity",
)


@dataclass
class SimulatedMonth:
    """Rows for the tickets, escalation_log, timers, deliveries and reviews tables, keys already prefixed."""
    prefix: str
    tickets: list[dict] = field(default_factory=list)
    log: list[dict] = field(default_factory=list)
    timers: list[dict] = field(default_factory=list)
    ratings: list[dict] = field(default_factory=list)    # a delivery row each, with the log entry it makes
    reviews: list[dict] = field(default_factory=list)    # oldest first, each with its `actions` rows


@dataclass(frozen=True)
class Loaded:
    tickets: int
    replaced: int           # simulated tickets of an earlier run with the same prefix, removed first
    simulated_total: int    # simulated tickets in the database now
    reviews: int = 0        # after-action reviews loaded with the tickets


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
    # `review_id` is the in-memory store's pointer; the database finds a ticket's review by its key.
    month.tickets = [{**_without(row, "review_id"), "key": prefix + row["key"], "simulated": True}
                     for row in store.tickets.values()]
    month.timers = [{**_without(row, "id"), "key": prefix + row["key"]} for row in store.timers.values()]
    month.log = _log(store.log, prefix)
    month.ratings = _ratings(ratings, prefix, {key for _, key in store.tickets})
    month.reviews = _reviews(result, seed, prefix)
    return month


def _reviews(result: Replay, seed: int, prefix: str) -> list[dict]:
    """The replay's reviews as created (drafts), a few with seeded action items due around the month's end."""
    reviews = sorted(result.store.reviews(limit=len(result.store.tickets)), key=lambda r: r.id)
    # A generator of its own, so adding items changes no other draw of the seed.
    rng = random.Random(f"review-actions-{seed}")
    chosen = rng.sample(reviews, min(len(reviews), max(3, len(reviews) // 10), ACTIONED_AT_MOST))
    late = {r.id: n % 2 == 0 for n, r in enumerate(sorted(chosen, key=lambda r: r.id))}    # every other one
    parties = result.matrix.matrix.parties
    # Teams do the follow-up work; a person (an executive the ticket reached at L3) rarely owns a fix.
    owners = sorted(name for name, party in parties.items() if party.kind == "team") or sorted(parties)
    rows = []
    for review in reviews:
        items = _action_items(rng, review, result.store.tickets[(review.platform, review.key)]["owner"], owners,
                              result.ended, late[review.id]) if review.id in late else []
        rows.append({**review_values(review), "platform": review.platform, "key": prefix + review.key,
                     "trigger": review.trigger, "matrix_version": review.matrix_version,
                     "created_at": review.created_at, "actions": [action_values(item) for item in items]})
    return rows


def _action_items(rng: random.Random, review: Review, ticket_owner: str, owners: list[str], ended: datetime,
                  late: bool) -> list[ActionItem]:
    """An open item owned by the ticket's team if it has one, due up to ten days before the month's end
    (`late`) or up to a week after; in one review in three a second item for any team, done half the time."""
    created = min(review.created_at + timedelta(hours=rng.randint(1, 48)), max(ended, review.created_at))
    days = -rng.randint(1, 10) if late else rng.randint(1, 7)
    due = max(ended + timedelta(days=days), created + timedelta(days=1)).replace(hour=17, minute=0, second=0,
                                                                                  microsecond=0)
    first = ActionItem(1, rng.choice(ACTION_TITLES), ticket_owner if ticket_owner in owners else rng.choice(owners),
                       due, OPEN, created_at=created)
    if rng.random() >= 1 / 3:
        return [first]
    done = rng.random() < 0.5 and created < ended
    closed = created + (min(due, ended) - created) * rng.uniform(0.1, 0.9) if done else None
    second = ActionItem(2, rng.choice([t for t in ACTION_TITLES if t != first.title]), rng.choice(owners), due,
                        DONE if done else OPEN, created_at=created, closed_at=closed)
    return [first, second]


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


def _log(entries: Iterable[dict], prefix: str) -> list[dict]:
    """The log as the pages read it. A lean replay keeps of each decision only the fired rules' names and
    kinds: the ticket's severity, level and owner after each entry come back from the changes logged so
    far, and the rest of each trace entry is filled in as empty."""
    state: dict[tuple[str, str], dict] = {}
    rows = []
    for row in entries:
        now = state.setdefault((row["platform"], row["key"]), {"severity": "", "level": "", "owner": ""})
        now.update({name: change[1] for name, change in row["changes"].items() if name in now})
        trace = [{"category": "", "values": {}, "decided": [], **fired} for fired in row["decision"].get("trace", ())]
        rows.append({**_without(row, "id"), "key": prefix + row["key"], "delivery_id": None,
                     "decision": {**now, **row["decision"], "trace": trace}})
    return rows


def _without(row: dict, name: str) -> dict:
    return {k: v for k, v in row.items() if k != name}
