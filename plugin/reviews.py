"""After-action reviews as a team lead works them: list, read with the pre-fill, edit, track action items.

The JSON API and `escalator review` both call `ReviewDesk`. The pre-fill is computed from the
ticket's log on every read (so it matches the log) until the review is final, when it is frozen.
Rules live in `domain.review`; this module reads, applies them through the store, and shapes JSON.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from datetime import datetime

from .domain.clock import Clock
from .domain.errors import EscalatorError
from .domain.review import (
    FINAL,
    SECTIONS,
    STATUSES,
    ActionItem,
    InvalidReviewInput,
    Review,
    ReviewNotFound,
    changed_action,
    edited,
    moved,
    new_action,
    overdue,
)
from .domain.review_timeline import prefill
from .platforms import parse
from .store.port import ReviewStore

WHAT_HAPPENED = "what_happened"


class ReviewDesk:
    def __init__(self, store: ReviewStore, clock: Clock, owners: Callable[[], Collection[str]],
                 ticket_urls: Mapping[str, str] | None = None):
        self.store, self.clock, self.owners = store, clock, owners
        self.ticket_urls = ticket_urls or {}        # platform -> URL pattern with {key}

    def list(self, status: str | None = None, limit: int = 100, simulated: bool = False) -> list[Review]:
        """Newest first; reviews of simulated tickets (`simulate --into-db`) only when `simulated`."""
        if status is not None and status not in STATUSES:
            raise InvalidReviewInput(f"unknown status {status!r}; reviews are {', '.join(STATUSES)}")
        return self.store.reviews(status, limit, simulated)

    def get(self, review_id: int) -> Review:
        review = self.store.review(review_id)
        if review is None:
            raise ReviewNotFound(f"no review {review_id}; `escalator review list` shows them")
        return review

    def prefill(self, review: Review) -> dict:
        """The frozen pre-fill of a final review, else the one the log gives now."""
        if review.frozen is not None:
            return dict(review.frozen)
        sources = self.store.review_sources(review.platform, review.key)
        return prefill(review.platform, review.key, sources.log, sources.timers, _ratings(sources.ratings),
                       self.clock.now())

    def edit(self, review_id: int, *, sections: Mapping | None = None, status: str | None = None) -> Review:
        """Apply section edits, then the status change; becoming final freezes the pre-fill as it is now."""
        frozen = self.prefill(self.get(review_id)) if status == FINAL else None
        now = self.clock.now()

        def change(review: Review) -> Review:
            review = edited(review, sections, now) if sections else review
            return moved(review, status, now, frozen) if status is not None else review
        return self.store.change_review(review_id, change)

    def add_action(self, review_id: int, fields: Mapping) -> ActionItem:
        unknown = sorted(set(fields) - {"title", "owner", "due", "link"})
        if unknown:
            raise InvalidReviewInput(f"unknown field(s) {', '.join(map(repr, unknown))}; an action item has "
                                     "title, owner, due and an optional link")
        now, owners = self.clock.now(), self.owners()
        return self.store.add_action(review_id, lambda _review, number: new_action(
            number, fields.get("title"), fields.get("owner"), fields.get("due"), fields.get("link"), now, owners))

    def change_action(self, review_id: int, number: int, changes: Mapping) -> ActionItem:
        now, owners = self.clock.now(), self.owners()
        return self.store.change_action(review_id, number, lambda item: changed_action(item, changes, now, owners))

    def ticket_url(self, review: Review) -> str:
        pattern = self.ticket_urls.get(review.platform, "")
        return pattern.format(key=review.key) if pattern else ""

    # -- JSON -------------------------------------------------------------------------------------

    def as_json(self, review: Review) -> dict:
        facts = self.prefill(review)
        return {**summary_json(review, self.clock.now()), "ticket_url": self.ticket_url(review),
                "sections": sections_json(review, facts), "frozen": review.frozen is not None, "prefill": facts}


def sections_json(review: Review, facts: Mapping) -> list[dict]:
    """Each section in the guide's order with its text; an unedited "what happened" shows the narrative
    from the log."""
    out = []
    for section in SECTIONS:
        written = review.sections.get(section.key, "")
        prefilled = not written and section.key == WHAT_HAPPENED
        out.append({"key": section.key, "title": section.title, "prompt": section.prompt, "prefilled": prefilled,
                    "text": facts.get("summary", "") if prefilled else written})
    return out


def summary_json(review: Review, now: datetime) -> dict:
    return {"id": review.id, "platform": review.platform, "key": review.key, "status": review.status,
            "trigger": review.trigger, "matrix_version": review.matrix_version, "simulated": review.simulated,
            "url": review_url(review.id),
            "created_at": _iso(review.created_at), "updated_at": _iso(review.updated_at),
            "final_at": _iso(review.final_at), "actions": [action_json(a, now) for a in review.actions]}


def action_json(item: ActionItem, now: datetime) -> dict:
    return {"number": item.number, "title": item.title, "owner": item.owner, "due_at": _iso(item.due_at),
            "status": item.status, "link": item.link, "overdue": overdue(item, now),
            "created_at": _iso(item.created_at), "closed_at": _iso(item.closed_at),
            "last_reminded_at": _iso(item.last_reminded_at)}


def review_url(review_id: int) -> str:
    return f"/api/reviews/{review_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ratings(deliveries: list[dict]) -> list[dict]:
    """The customer's ratings, parsed again from the deliveries the log was decided from."""
    ratings = []
    for delivery in deliveries:
        try:
            event = parse(delivery["platform"], json.loads(delivery["body"]), delivery["headers"])
        except (EscalatorError, ValueError, RecursionError):    # a parser that changed since: no rating to show
            continue
        if event is not None and event.satisfaction is not None:
            s = event.satisfaction
            ratings.append({"at": delivery["at"], "rating": s.rating, "score": s.score, "comment": s.comment})
    return ratings
