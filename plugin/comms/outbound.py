"""One decided notification turned into what goes out: messages for the senders, actions for write-back.

Nothing here raises for a misconfiguration met while escalating: refusals and problems come back
as text for the caller to log, so one bad template or address never stops the rest of a decision.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from plugin.domain.actions import Action
from plugin.domain.decision import Notification
from plugin.domain.matrix import Matrix

from .channels import Message, messages_for, ticket_action
from .policy import private_recipients, refusal
from .recipients import TICKET_CHANNELS, resolve
from .render import RenderError, render_message


@dataclass(frozen=True)
class Outbound:
    messages: tuple[Message, ...] = ()      # for the channel senders
    actions: tuple[Action, ...] = ()        # ticket_comment / internal_note, for the write-back path
    withheld: tuple[str, ...] = ()          # policy refusals, each starting "withheld: sensitive"
    problems: tuple[str, ...] = ()          # unresolved recipients, template errors


def plan_notification(notification: Notification, *, matrix: Matrix, templates_dir: Path | str,
                      ticket: Mapping, context: Mapping, marker: str = "", render: bool = True) -> Outbound:
    """What `notification` sends for this ticket. `ticket` is the raw field dict (its labels should include
    those the decision adds), `context` the one `message_context` built from it. Without `render`, the
    messages carry no text: replays that compare decisions skip the cost of the templates."""
    channel = notification.channel
    why_not = refusal(channel, sensitive=notification.sensitive, labels=ticket.get("labels") or ())
    if why_not:
        return Outbound(withheld=(why_not,))
    resolved = resolve(notification.recipients, channel, matrix, ticket, context["owner"]["name"])
    kept, refused = private_recipients(resolved.recipients, sensitive=notification.sensitive)
    if not kept:
        return Outbound(withheld=refused, problems=resolved.problems)
    try:
        text = render_message(templates_dir, notification.template, context) if render else ""
    except RenderError as exc:
        return Outbound(withheld=refused, problems=resolved.problems + (str(exc),))
    messages = messages_for(channel, text, kept, **_meta(notification, context))
    if channel in TICKET_CHANNELS:
        return Outbound(actions=tuple(ticket_action(m, marker) for m in messages), withheld=refused,
                        problems=resolved.problems)
    return Outbound(messages=tuple(messages), withheld=refused, problems=resolved.problems)


def _meta(notification: Notification, context: Mapping) -> dict[str, str]:
    ticket = context["ticket"]
    return {"platform": ticket["platform"], "ticket": ticket["key"], "url": ticket["url"],
            "level": context["level"]["id"], "severity": context["severity"]["name"],
            "situation": notification.situation}
