"""After-action reviews in memory: the `ReviewStore` half of `MemoryStore`, for replays and drills.

Reviews are immutable values, so storing one is keeping it; a change replaces it whole.
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from ..domain.review import OPEN, ActionItem, Review, ReviewNotFound
from .port import Batch, OutboxRow, ReviewChange, ReviewSources, TicketRef
from .rows import new_review_values, review_values


class MemoryReviews:
    """Mixed into MemoryStore, whose log, timers and outbox it reads and appends to."""

    def _init_reviews(self) -> None:
        self._review_rows: dict[int, Review] = {}
        self._review_of: dict[TicketRef, int] = {}
        self._review_ids = itertools.count(1)

    def _reviews(self) -> dict[int, Review]:
        return self._review_rows

    def reviews(self, status: str | None = None, limit: int = 100, simulated: bool = False) -> list[Review]:
        # `simulated` is the SQL store's: nothing in a replay's own memory is a loaded simulated ticket.
        found = [r for r in reversed(self._reviews().values()) if status is None or r.status == status]
        return found[:limit]

    def review(self, review_id: int) -> Review | None:
        return self._reviews().get(review_id)

    def review_of(self, platform: str, key: str) -> Review | None:
        review_id = self._review_of.get((platform, key))
        return self._review_rows[review_id] if review_id is not None else None

    def review_sources(self, platform: str, key: str) -> ReviewSources:
        # A decided delivery's body is not kept in memory, so ratings cannot be read back.
        return ReviewSources(self.timeline(platform, key), self.timers_of(platform, key), [])

    def change_review(self, review_id: int, change: ReviewChange) -> Review:
        review = self._found(review_id)
        after = replace(review, **review_values(change(review)))
        self._review_rows[review_id] = after
        return after

    def add_action(self, review_id: int, make: Callable[[Review, int], ActionItem]) -> ActionItem:
        review = self._found(review_id)
        item = make(review, max((a.number for a in review.actions), default=0) + 1)
        self._review_rows[review_id] = replace(review, actions=review.actions + (item,))
        return item

    def change_action(self, review_id: int, number: int, change: Callable[[ActionItem], ActionItem]) -> ActionItem:
        review = self._found(review_id)
        item = change(review.action(number))
        self._put_action(review, item)
        return item

    def reminders_due(self, now: datetime, every_before: datetime, limit: int) -> list[tuple[Review, ActionItem]]:
        due = [(r, a) for r in self._reviews().values() for a in r.actions
               if a.status == OPEN and a.due_at <= now and (a.last_reminded_at is None
                                                            or a.last_reminded_at <= every_before)]
        return sorted(due, key=lambda pair: (pair[1].due_at, pair[0].id, pair[1].number))[:limit]

    def remind(self, review_id: int, number: int, last: datetime | None, now: datetime,
               messages: Sequence[OutboxRow]) -> bool:
        review = self._found(review_id)
        item = review.action(number)
        if item.status != OPEN or item.last_reminded_at != last:
            return False
        self._put_action(review, replace(item, last_reminded_at=now))
        self.writes.update(f"{m.platform}:{m.kind}" for m in messages)
        if not self.lean:
            self.outbox += [{"id": next(self._ids), "platform": m.platform, "key": m.key, "kind": m.kind,
                             "data": m.data, "request": m.request, "status": m.status, "created_at": now,
                             "log_id": None, "delivery_id": None} for m in messages]
        return True

    def _write_reviews(self, batch: Batch) -> None:
        for new in batch.reviews:
            if (new.platform, new.key) in self._review_of:
                continue        # one review per ticket
            review_id = next(self._review_ids)
            self._review_rows[review_id] = Review(id=review_id, **new_review_values(new))
            self._review_of[(new.platform, new.key)] = review_id
            self.tickets[(new.platform, new.key)]["review_id"] = review_id

    def _found(self, review_id: int) -> Review:
        review = self._reviews().get(review_id)
        if review is None:
            raise ReviewNotFound(f"no review {review_id}")
        return review

    def _put_action(self, review: Review, item: ActionItem) -> None:
        actions = tuple(item if a.number == item.number else a for a in review.actions)
        self._review_rows[review.id] = replace(review, actions=actions)
