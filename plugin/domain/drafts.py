"""Customer messages as drafts: rendered from the template, tailored by a person, sent through the outbox.

A communication with `send: draft` waits for its owner; `send: draft_then_auto` goes out as rendered
once `after` has passed with nobody acting, so the cadence is never missed. A draft is acted on
once: sent (edited or not), sent automatically, or discarded with a reason. Sending counts as a
public reply by an agent, so the matrix's own stop rules end the clocks a public update ends.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from datetime import datetime

from .snapshot import TIMER_ACTOR, timer_event
from .ticket import Comment, EventKind, TicketEvent

AUTO, DRAFT, DRAFT_THEN_AUTO = "auto", "draft", "draft_then_auto"
SEND_MODES = (AUTO, DRAFT, DRAFT_THEN_AUTO)
PENDING, SENT, AUTO_SENT, DISCARDED = "pending", "sent", "auto_sent", "discarded"
SEND, DISCARD = "send", "discard"       # what a person does with a draft; the sweep sends with AUTO
ACTION_KEY = "draft:"       # + the draft's id: the dedupe key of the one action a draft takes
MAX_TEXT = 20_000           # characters: a long update, far below every platform's comment limit
MAX_REASON = 500


class DraftRefused(ValueError):
    """An action on a draft that cannot be taken as asked; the message says what to do instead."""


class DraftNotFound(DraftRefused):
    """No draft has that id."""


class DraftConflict(DraftRefused):
    """The draft was already sent or discarded: it is acted on once."""


@dataclass(frozen=True)
class Draft:
    """One drafted message as stored: where it would go, the template's text, and what became of it."""
    id: int
    platform: str
    key: str
    created_at: datetime
    situation: str                  # escalated | update | resolved | ...
    channel: str
    template: str
    mode: str                       # draft | draft_then_auto
    owner: str
    level: str
    template_text: str              # as rendered when drafted
    variables: dict                 # the template variables it used, as they were
    outbound: list                  # the actions it sends: [{"platform", "kind", "data"}], text in data
    send_at: datetime | None = None     # draft_then_auto: when it goes out as rendered
    status: str = PENDING
    text: str = ""                  # the text that went out (sent, auto_sent)
    acted_by: str = ""
    acted_at: datetime | None = None
    reason: str = ""                # discarded: why
    simulated: bool = False
    recipients: list = field(default_factory=list)  # who it reaches, as shown to the editor

    @property
    def pending(self) -> bool:
        return self.status == PENDING


@dataclass(frozen=True)
class DraftAction:
    """A person's (or the sweep's) decision on a draft, carried to the processor as a delivery."""
    draft: int
    action: str                     # send | discard | auto
    by: str = ""
    text: str = ""
    reason: str = ""

    def as_dict(self) -> dict:
        return {"draft": self.draft, "action": self.action, "by": self.by, "text": self.text, "reason": self.reason}


def checked_action(draft: Draft | None, action: str, by: str, text: str = "", reason: str = "") -> DraftAction:
    """The action a person asked for, or DraftRefused saying why it cannot be taken."""
    if draft is None:
        raise DraftNotFound("there is no such draft")
    if not draft.pending:
        raise DraftConflict(f"this draft was already {draft.status.replace('_', ' ')}"
                           + (f" by {draft.acted_by}" if draft.acted_by else "") + "; nothing was sent again")
    if action == SEND:
        text = text.replace("\r\n", "\n").strip()
        if not text:
            raise DraftRefused("the message is empty: write the update, or discard the draft with a reason")
        if len(text) > MAX_TEXT:
            raise DraftRefused(f"the message is {len(text)} characters long; keep it under {MAX_TEXT}")
        return DraftAction(draft.id, SEND, by, text=text)
    if action == DISCARD:
        reason = " ".join(reason.split())
        if not reason:
            raise DraftRefused("say why the draft is discarded: the escalation log keeps the reason")
        return DraftAction(draft.id, DISCARD, by, reason=reason[:MAX_REASON])
    raise DraftRefused(f"unknown action {action!r}: send or discard")


def diff_from_template(template_text: str, text: str) -> str:
    """What the editor changed, as a unified diff (empty when sent as rendered)."""
    if text == template_text:
        return ""
    return "\n".join(difflib.unified_diff(template_text.splitlines(), text.splitlines(), "template", "sent",
                                         lineterm=""))


def as_public_reply(draft: Draft, text: str, by: str, snapshot: dict, at: datetime) -> TicketEvent:
    """The sent draft as the matrix sees it: a public comment by an agent on the ticket as last seen,
    so the stop rules that end clocks on any public update end them here too."""
    event = timer_event(draft.platform, draft.key, snapshot, EventKind.COMMENTED, "", at)
    return replace(event, actor=by or TIMER_ACTOR, comment=Comment(text, author=by, public=True, by_agent=True))


def with_text(outbound: list, text: str) -> list:
    """The draft's actions carrying `text` in place of the rendered one (ticket comments and messages)."""
    sent = []
    for action in outbound:
        data = dict(action["data"])
        data["body" if "body" in data else "text"] = text
        sent.append({**action, "data": data})
    return sent


def review_note(draft_text: str, link: str, mode: str, send_at: datetime | None) -> str:
    """The internal note that tells the team on the ticket a customer update waits for them."""
    return (f"Escalator drafted a customer update for you to tailor. {_when(mode, send_at)}\n"
            f"Edit and send it, or discard it: {link}\n\n--- draft ---\n{draft_text}")


def owner_notice(key: str, situation: str, link: str, mode: str, send_at: datetime | None) -> str:
    """The owner's heads-up on their own channel: the link, never the customer-facing text, which may
    be about a ticket whose messages belong on private channels only."""
    return (f"A customer update for {key} ({situation}) waits for you to tailor. {_when(mode, send_at)}\n"
            f"Edit and send it, or discard it: {link}")


def _when(mode: str, send_at: datetime | None) -> str:
    if mode == DRAFT_THEN_AUTO and send_at:
        return f"If nobody acts, it is sent as drafted at {send_at:%Y-%m-%d %H:%M} UTC."
    return "It is not sent until someone sends it."
