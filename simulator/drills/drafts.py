"""Drafted customer messages in a drill: what became of each, and how it answers the communication
the matrix decided.

Sending the draft in time, as drafted or rewritten, meets the expectation an automatic message
would. A draft_then_auto draft that went out by itself does not: the customer heard on time, but
nobody did the duty the drill trains. A discarded or forgotten draft leaves the customer unheard,
unless another update reached them on that channel in time.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from plugin.domain.drafts import AUTO_SENT, DISCARDED, SENT, Draft, diff_from_template

from ..scenarios import format_offset
from .actions import Action
from .session import Drill

AUTO_SENT_EVENT = "draft_auto_sent"     # the log entry of a draft that went out by itself


def held_by(drill: Drill, key: str, at: datetime, message: dict) -> Draft | None:
    """The draft a logged decision held back: same ticket, moment, channel and template."""
    return next((d for d in drill.drafts(key) if d.created_at == at
                 and (d.channel, d.template) == (message["channel"], message["template"])), None)


def deadline(drill: Drill, draft: Draft, grace_until: timedelta) -> timedelta:
    """By when the customer had to hear: when the draft goes out by itself, else the usual grace."""
    return drill.offset(draft.send_at) if draft.send_at else grace_until


def outcome(drill: Drill, draft: Draft, actions: list[Action], start: timedelta, until: timedelta,
            used: set[int]) -> tuple[bool, str]:
    """Whether the customer heard in time through this draft (or another update), and how it is said."""
    mine = next((i for i, a in enumerate(actions) if a.do == "send_draft" and a.draft == draft.id), None)
    if draft.status == SENT and mine is not None:
        used.add(mine)
        at = actions[mine].at
        said = f"you sent the draft at {format_offset(at)}, {'tailored' if tailored(draft) else 'as drafted'}"
        return (True, said) if at <= until else (False, f"{said}, after {format_offset(until)}")
    if draft.status == AUTO_SENT:      # the customer heard on time, but the duty drilled here is the tailoring
        return False, (f"nobody acted on the draft, so it went out by itself as drafted at "
                       f"{format_offset(drill.offset(draft.acted_at))}: the cadence held, but the customer got the "
                       "template, not words from you")
    why = (f"you discarded the draft at {format_offset(drill.offset(draft.acted_at))} ({draft.reason})"
           if draft.status == DISCARDED else "nobody sent the draft")
    other = next((i for i, a in enumerate(actions) if i not in used and a.sent and a.sent[0] == draft.channel
                  and a.draft != draft.id and start <= a.at <= until), None)
    if other is not None:
        used.add(other)
        return True, f"{why}, and you updated the customer yourself at {format_offset(actions[other].at)}"
    return False, f"{why}; the customer did not hear from us on {draft.channel} by {format_offset(until)}"


def tailored(draft: Draft) -> bool:
    return bool(draft.text) and draft.text != draft.template_text


def record(drill: Drill, draft: Draft) -> dict:
    """A draft as the trainees' view, the run's JSON and the debrief show it, times as story offsets."""
    def at(moment: datetime | None) -> str | None:
        return format_offset(drill.offset(moment)) if moment else None

    return {"id": draft.id, "ticket": draft.key, "at": at(draft.created_at), "situation": draft.situation,
            "channel": draft.channel, "template": draft.template, "to": list(draft.recipients),
            "mode": draft.mode, "sends_at": at(draft.send_at), "status": draft.status,
            "template_text": draft.template_text, "text": draft.text,
            "diff": diff_from_template(draft.template_text, draft.text) if draft.text else "",
            "by": draft.acted_by, "acted_at": at(draft.acted_at), "reason": draft.reason}


def acted_on(message: dict) -> bool:
    """A log record of a draft sent or discarded: what became of an earlier decision, not a new one."""
    return "draft" in message


def said(message: dict, event_kind: str) -> str:
    """A message of the matrix's as its timeline says it: sent, withheld, drafted, or a draft sent by itself."""
    text = f"{message['template']} on {message['channel']}"
    if "drafted" in message:
        return text + " (drafted for the trainees)"
    if acted_on(message) and event_kind == AUTO_SENT_EVENT:
        return text + " (the draft, as drafted: nobody acted on it)"
    return text + (" (withheld)" if message["withheld"] and not message["sent"] else "")
