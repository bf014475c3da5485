"""Drafted customer messages in memory, behind the same reads as SQL (replays and drills)."""
from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime

from ..domain.drafts import PENDING, Draft
from .port import Conflict, LogEntry


class MemoryDrafts:
    def _init_drafts(self) -> None:
        self.drafts_by_id: dict[int, Draft] = {}
        self._draft_ids = itertools.count(1)

    def draft(self, draft_id: int) -> Draft | None:
        return self.drafts_by_id.get(draft_id)

    def drafts(self, *, pending: bool = True, limit: int = 100, simulated: bool = False) -> list[Draft]:
        found = [d for d in self.drafts_by_id.values() if d.pending == pending]
        return found[:limit] if pending else found[::-1][:limit]

    def drafts_of(self, platform: str, key: str) -> list[Draft]:
        return [d for d in self.drafts_by_id.values() if (d.platform, d.key) == (platform, key)]

    def drafts_due(self, now: datetime, limit: int = 100) -> list[Draft]:
        due = [d for d in self.drafts_by_id.values() if d.pending and d.send_at is not None and d.send_at <= now]
        return sorted(due, key=lambda d: d.send_at)[:limit]

    def next_draft_at(self) -> datetime | None:
        return min((d.send_at for d in self.drafts_by_id.values() if d.pending and d.send_at), default=None)

    def _write_drafts(self, entry: LogEntry, now: datetime) -> None:
        for new in entry.drafts:
            draft_id = next(self._draft_ids)
            self.drafts_by_id[draft_id] = Draft(id=draft_id, created_at=now, **vars(new))
        done = entry.draft_done
        if done is not None:
            draft = self.drafts_by_id.get(done.id)
            if draft is None or draft.status != PENDING:
                raise Conflict(f"draft {done.id} was already acted on")
            self.drafts_by_id[done.id] = replace(draft, status=done.status, text=done.text, acted_by=done.acted_by,
                                                 acted_at=done.acted_at, reason=done.reason)
