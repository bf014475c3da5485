"""Chasing action items: an overdue open item reminds its owner on their channel every `remind_every`.

The sweep runs beside the outbox worker. Each reminder is recorded on the item and queued in the
outbox in one transaction, so a restart neither repeats nor loses one, and the outbox worker
sends it with its retries and dry-run like every other message. The owner is reached on their
Slack, else Teams, else email, from the current matrix; a channel that would only be dry-run
yields to one that is configured to send.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .comms import owner_messages
from .domain.clock import Clock
from .domain.matrix import Matrix
from .domain.review import ActionItem, Review, reminder_due, reminder_text
from .notify import COMMS, MESSAGE, Notifier
from .store.port import OutboxRow, ReviewStore

log = logging.getLogger(__name__)
SITUATION = "action_item_overdue"
INTERVAL = 30.0         # seconds between sweeps; reminders come days apart, so this only bounds the delay


class ReminderSweep:
    def __init__(self, store: ReviewStore, matrix: Callable[[], Matrix], notifier: Notifier, clock: Clock, *,
                 wake: threading.Event | None = None, limit: int = 100):
        self.store, self.matrix, self.notifier, self.clock = store, matrix, notifier, clock
        self.wake = wake            # the outbox worker's: rung so a queued reminder goes out at once
        self.limit = limit

    def run_once(self) -> int:
        """Queue the reminders due now; the number of action items reminded."""
        now, matrix = self.clock.now(), self.matrix()
        every = matrix.reviews.remind_every
        reminded = 0
        for review, item in self.store.reminders_due(now, now - every, self.limit):
            if not reminder_due(item, now, every):
                continue
            messages = self._messages(review, item, matrix, now)
            reminded += self.store.remind(review.id, item.number, item.last_reminded_at, now, messages)
        if reminded and self.wake is not None:
            self.wake.set()
        return reminded

    def run_forever(self, stop: threading.Event, interval: float = INTERVAL) -> None:
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:      # a database hiccup must not end the reminders
                log.exception("review reminder sweep failed; retrying in %.0fs", interval)
            stop.wait(interval)

    def _messages(self, review: Review, item: ActionItem, matrix: Matrix, now) -> list[OutboxRow]:
        url = self.notifier.ticket_urls.get(review.platform, "").format(key=review.key)
        text = reminder_text(review, item, now, url)
        messages = owner_messages(item.owner, text, matrix, self.notifier.is_live, platform=review.platform,
                                  ticket=review.key, url=url, situation=SITUATION)
        if not messages:
            # Recorded all the same, so the warning comes once per remind_every, not once per sweep.
            log.warning("action item %d of review %d: owner %s has no slack, teams or email address in the matrix; "
                        "nobody was reminded", item.number, review.id, item.owner)
            return []
        return [self._row(review, m) for m in messages]

    def _row(self, review: Review, message) -> OutboxRow:
        data = message.as_dict()
        status = "pending" if self.notifier.is_live(data) else "dry_run"
        return OutboxRow(COMMS, review.key, MESSAGE, data, [self.notifier.describe(data)], status)
