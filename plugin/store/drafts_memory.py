"""Drafted customer messages in memory, behind the same reads as SQL (replays and drills).

A replay asks for due drafts on every pass, so those waiting to go out by themselves are kept in a
heap by send time: a month of incidents costs a peek per pass, not a scan of every draft.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import replace
from datetime import datetime

from ..domain.drafts import ACTION_KEY, PENDING, Draft
from .port import Conflict, LogEntry


class MemoryDrafts:
    def _init_drafts(self) -> None:
        self.drafts_by_id: dict[int, Draft] = {}
        self._draft_ids = itertools.count(1)
        self._sending: list[tuple[datetime, int]] = []     # (send_at, id) of pending draft_then_auto drafts

    def draft(self, draft_id: int) -> Draft | None:
        return self.drafts_by_id.get(draft_id)

    def drafts(self, *, pending: bool = True, limit: int = 100, simulated: bool = False) -> list[Draft]:
        found = [d for d in self.drafts_by_id.values() if d.pending == pending]
        return found[:limit] if pending else found[::-1][:limit]

    def drafts_of(self, platform: str, key: str) -> list[Draft]:
        return [d for d in self.drafts_by_id.values() if (d.platform, d.key) == (platform, key)]

    def drafts_due(self, now: datetime, limit: int = 100) -> list[Draft]:
        self._drop_acted_on()
        if not self._sending or self._sending[0][0] > now:
            return []
        due = [self.drafts_by_id[i] for at, i in heapq.nsmallest(limit, self._sending) if at <= now]
        return [d for d in due if self._unanswered(d)]

    def next_draft_at(self) -> datetime | None:
        self._drop_acted_on()
        return self._sending[0][0] if self._sending else None

    def _drop_acted_on(self) -> None:
        """Forget drafts acted on, or with an action queued (the clock's own included)."""
        while self._sending and not self._unanswered(self.drafts_by_id[self._sending[0][1]]):
            heapq.heappop(self._sending)

    def _unanswered(self, draft: Draft) -> bool:
        return draft.pending and (draft.platform, f"{ACTION_KEY}{draft.id}") not in self.dedupe

    def _write_drafts(self, entry: LogEntry, now: datetime) -> None:
        for new in entry.drafts:
            draft_id = next(self._draft_ids)
            self.drafts_by_id[draft_id] = Draft(id=draft_id, created_at=now, **vars(new))
            if new.send_at is not None:
                heapq.heappush(self._sending, (new.send_at, draft_id))
        done = entry.draft_done
        if done is not None:
            draft = self.drafts_by_id.get(done.id)
            if draft is None or draft.status != PENDING:
                raise Conflict(f"draft {done.id} was already acted on")
            self.drafts_by_id[done.id] = replace(draft, status=done.status, text=done.text, acted_by=done.acted_by,
                                                 acted_at=done.acted_at, reason=done.reason)
