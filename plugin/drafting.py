"""Drafts between the domain and the store: the draft a held notification becomes, the delivery that
carries a person's send or discard (or the automatic send) to the processor, and what the
escalation log records of each.

Every action on a draft travels as a delivery with the dedupe key `draft:<id>`, so the store's
unique key lets exactly one action through however many clicks, instances or sweeps race; the
processor then acts on it in order with the ticket's other events.
"""
from __future__ import annotations

import json
from datetime import datetime

from .domain.actions import Action
from .domain.decision import Decision, Notification
from .domain.drafts import (
    ACTION_KEY,
    AUTO,
    DISCARD,
    DRAFT_THEN_AUTO,
    Draft,
    DraftAction,
    DraftConflict,
    DraftNotFound,
    checked_action,
    diff_from_template,
)
from .domain.ticket import TicketEvent
from .store.port import NewDelivery, NewDraft

MAX_ID = 2**31 - 1
DRAFT_ACTION = "dashboard"      # deliveries.authenticated_by of an action on a draft: never a webhook's


def new_draft(notification: Notification, queued: list[Action], event: TicketEvent, decision: Decision, *,
              variables: dict, now: datetime) -> NewDraft:
    """The held message: `queued` are the actions an automatic send would have queued (markers included,
    so a retried send stays single), kept to be queued with the text someone chose."""
    first = queued[0].data
    recipients = [f"the ticket ({'public' if a.data.get('public') else 'internal'})" if "body" in a.data
                  else ", ".join(a.data["to"]) for a in queued]
    send_at = now + notification.after if notification.send == DRAFT_THEN_AUTO and notification.after else None
    return NewDraft(event.platform, event.key, notification.situation, notification.channel, notification.template,
                    notification.send, decision.owner, decision.level, first.get("body", first.get("text", "")),
                    variables, [{"platform": a.platform, "kind": a.kind, "data": a.data} for a in queued],
                    recipients, send_at)


def action_delivery(draft: Draft, action: DraftAction, now: datetime) -> NewDelivery:
    """The delivery that brings `action` to the processor; its dedupe key admits one action per draft."""
    kind = "draft_discarded" if action.action == DISCARD else "draft_sent"
    return NewDelivery(draft.platform, f"{ACTION_KEY}{draft.id}", now, json.dumps(action.as_dict()).encode(), {},
                       event_kind=kind, ticket_key=draft.key, authenticated_by=DRAFT_ACTION)


def auto_action(draft: Draft) -> DraftAction:
    return DraftAction(draft.id, AUTO)


def log_record(draft: Draft, action: DraftAction, text: str = "") -> dict:
    """What the escalation log keeps of a draft acted on: who, the text sent and its diff, or why not."""
    record = {"situation": draft.situation, "channel": draft.channel, "template": draft.template,
              "draft": draft.id, "withheld": [], "problems": []}
    if action.action == DISCARD:
        return {**record, "discarded": action.reason, "by": action.by, "sent": []}
    return {**record, "by": action.by or "", "automatic": action.action == AUTO,
            "diff": diff_from_template(draft.template_text, text),
            "sent": [{"to": [to], "text": text} for to in draft.recipients]}


def find(store, draft_id: int) -> Draft:
    """The draft with this id, or DraftNotFound (also for ids no database column could hold)."""
    draft = store.draft(draft_id) if 0 < draft_id <= MAX_ID else None
    if draft is None:
        raise DraftNotFound(f"there is no draft {draft_id}; /api/drafts lists those waiting")
    return draft


def act(store, draft_id: int, action: str, by: str, now: datetime, *, text: str = "", reason: str = "") -> Draft:
    """Queue a person's send or discard of a pending draft for the processor; DraftRefused says why not."""
    draft = find(store, draft_id)
    checked = checked_action(draft, action, by, text, reason)
    if store.receive(action_delivery(draft, checked, now)) is None:
        raise DraftConflict("someone acted on this draft a moment ago, so nothing was sent twice; reload to see it")
    return draft


def draft_json(draft: Draft, now: datetime) -> dict:
    """A draft as the API and the pages show it (customer text is data here, never markup)."""
    return {"id": draft.id, "platform": draft.platform, "key": draft.key, "situation": draft.situation,
            "channel": draft.channel, "template": draft.template, "mode": draft.mode, "owner": draft.owner,
            "level": draft.level, "recipients": list(draft.recipients), "template_text": draft.template_text,
            "variables": draft.variables, "status": draft.status, "text": draft.text, "acted_by": draft.acted_by,
            "reason": draft.reason, "created_at": _iso(draft.created_at), "send_at": _iso(draft.send_at),
            "acted_at": _iso(draft.acted_at), "simulated": draft.simulated,
            "seconds_left": max(int((draft.send_at - now).total_seconds()), 0) if draft.send_at and draft.pending
            else None}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
