"""The communication protocol: turn a decision's notifications into rendered messages.

Messages to the ticket itself become write-back actions; Slack, Teams, email, status page and
webhook messages become outbox rows of the `comms` channel. Either way they are sent by the
outbox worker (retries, dead letters, dry-run) and their rendered text goes into the log.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from .comms import CommsSettings, Message, build_senders, message_context, plan_notification
from .comms.channels import owner_messages
from .comms.render import template_variables, uses_variable
from .domain.actions import NOTE, Action
from .domain.decision import Decision
from .domain.drafts import AUTO, owner_notice, review_note
from .domain.matrix import Matrix
from .domain.ticket import TicketEvent
from .domain.timers import PAUSED, RUNNING, Timer
from .drafting import new_draft
from .store.port import NewDraft
from .writeback.base import SENT, WriteResult

COMMS = "comms"         # the outbox "platform" of messages Escalator sends itself
MAX_TIMELINE = 50       # templates see the latest entries; a long-running ticket's history stays in the log
MESSAGE = "message"


@dataclass
class Planned:
    actions: list[Action] = field(default_factory=list)       # ticket comments, through the platform writers
    messages: list[Action] = field(default_factory=list)      # everything else, through CommsClient
    log: list[dict] = field(default_factory=list)             # what was sent or withheld, for the escalation log
    drafts: list[NewDraft] = field(default_factory=list)      # messages held for a person to tailor


class Notifier:
    def __init__(self, comms_settings: CommsSettings, ticket_urls: Mapping[str, str], *, render: bool = True,
                 dashboard_url: str = ""):
        self.senders = build_senders(comms_settings)
        self.ticket_urls = ticket_urls      # platform -> URL pattern with {key}
        self.render = render                # off in replays that only compare decisions
        self.dashboard_url = dashboard_url.rstrip("/")      # where people edit drafts; links are paths without it
        self._shows_log: dict[tuple[str, str], bool] = {}   # (matrix version, template): does it show the log

    def plan(self, event: TicketEvent, decision: Decision, matrix: Matrix, now, marker: str, *,
             snapshot: Mapping, timers: Iterable[Timer], history: Callable[[], list[Mapping]]) -> Planned:
        """The messages of `decision`; `history` gives the ticket's log, read only if a template shows it."""
        planned = Planned()
        if not decision.notifications:
            return planned
        ticket = self._ticket(event, decision, snapshot)
        if self.render:
            needs_log = any(self._shows(matrix, n.template) for n in decision.notifications)
            context = self._context(decision, matrix, ticket, timers, history() if needs_log else (), now)
        else:
            context = _addressing(decision, ticket)
        for index, notification in enumerate(decision.notifications):
            outbound = plan_notification(notification, matrix=matrix, templates_dir=matrix.templates_dir,
                                         ticket=ticket, context=context, marker=f"{marker}-{index}",
                                         render=self.render)
            messages = [Action(COMMS, event.key, MESSAGE, m.as_dict()) for m in outbound.messages]
            held = notification.send != AUTO and bool(outbound.actions or messages)
            if held:
                self._hold(planned, notification, [*outbound.actions, *messages], event, decision, matrix, context,
                           now, f"{marker}-{index}-draft")
            else:
                planned.actions += outbound.actions
                planned.messages += messages
            planned.log.append({
                "situation": notification.situation, "channel": notification.channel,
                "template": notification.template,
                **({"drafted": {"mode": notification.send, "to": _addressees(outbound)}} if held else {}),
                "sent": [] if held else _addressees(outbound, with_text=True),
                "withheld": list(outbound.withheld), "problems": list(outbound.problems)})
        return planned

    def _hold(self, planned: Planned, notification, queued: list[Action], event, decision, matrix, context, now,
              marker: str) -> None:
        """Keep the rendered message (`queued`: what an automatic send would queue) as a draft, and tell the
        team where to tailor it: an internal note on the ticket (with a marker of its own: the decision's
        note has the default one, and a note whose marker is already on the ticket is taken as sent) and a
        message on the owner's own channel."""
        variables = self._used(matrix, notification, context)
        draft = new_draft(notification, queued, event, decision, variables=variables, now=now)
        planned.drafts.append(draft)
        link = f"{self.dashboard_url}/tickets/{event.platform}/{quote(event.key, safe='')}#drafts"
        note = review_note(draft.template_text, link, draft.mode, draft.send_at)
        planned.actions.append(Action(event.platform, event.key, NOTE, {"body": note, "public": False,
                                                                       "marker": marker}))
        notice = owner_notice(event.key, notification.situation, link, draft.mode, draft.send_at)
        told = owner_messages(decision.owner, notice, matrix, self.is_live, platform=event.platform,
                              ticket=event.key, url=link, situation="draft")
        planned.messages += [Action(COMMS, event.key, MESSAGE, m.as_dict()) for m in told]

    def _used(self, matrix: Matrix, notification, context: Mapping) -> dict:
        """The variables the template read, as they were: shown beside the draft so the editor can check them."""
        if not self.render:
            return {}
        names = template_variables(matrix.templates_dir, notification.template)
        return json.loads(json.dumps({n: context[n] for n in sorted(names) if n in context}, default=str))

    def _shows(self, matrix: Matrix, template: str) -> bool:
        # A matrix version hashes its templates too, so the answer holds for the version's lifetime.
        if (matrix.version, template) not in self._shows_log:
            self._shows_log[(matrix.version, template)] = uses_variable(matrix.templates_dir, template, "timeline")
        return self._shows_log[(matrix.version, template)]

    def _ticket(self, event: TicketEvent, decision: Decision, snapshot: Mapping) -> dict:
        url = self.ticket_urls.get(event.platform, "")
        return {**snapshot, "key": event.key, "platform": event.platform,
                "reporter": snapshot.get("reporter_name") or snapshot.get("reporter", ""),
                "reporter_email": snapshot.get("reporter", "") if "@" in snapshot.get("reporter", "") else "",
                "url": url.format(key=event.key) if url else "",
                "labels": list(dict.fromkeys(list(snapshot.get("labels", [])) + list(decision.labels)))}

    def _context(self, decision, matrix, ticket, timers, log, now) -> dict:
        running = [{"name": t.name, "due": t.due_at, "state": t.state} for t in timers
                   if t.state in (RUNNING, PAUSED)]
        timeline = [{"at": e["at"], "what": f"{e['event_kind']}: " + ", ".join(f"{k} {v[0] or '-'} → {v[1]}"
                                                                             for k, v in e["changes"].items()),
                     "why": "; ".join(f["rule"] for f in e["decision"].get("trace", []))}
                    for e in log[-MAX_TIMELINE:]]
        reason = "; ".join(f.rule for f in decision.trace if f.decided) or "the matrix's default path"
        return message_context(ticket, matrix, severity=decision.severity, level=decision.level,
                               owner=decision.owner, timers=running, timeline=timeline, reason=reason, now=now)

    def is_live(self, message: Mapping) -> bool:
        """Whether this message's channel is configured to send; otherwise it is dry-run."""
        sender = self.senders.get(message["channel"])
        if sender is None:
            return False
        if message["channel"] == "email":
            return getattr(sender, "target", None) is not None
        return bool(sender.url_for(Message.from_dict(message)))

    def describe(self, message: Mapping) -> dict:
        """The request that would send `message`; none for a message that was not written."""
        if not self.render:
            return {}
        return self.senders[message["channel"]].build_request(Message.from_dict(message))


class CommsClient:
    """The outbox's client for messages: sends one through its channel's sender."""

    def __init__(self, notifier: Notifier):
        self.notifier = notifier

    def apply(self, action: Action) -> WriteResult:
        delivery = self.notifier.senders[action.data["channel"]].send(Message.from_dict(action.data))
        return WriteResult(SENT, None, delivery.status)


def _addressees(outbound, *, with_text: bool = False) -> list[dict]:
    """Who an outbound message reaches (and what it says), as the escalation log records it."""
    found = [{"to": list(m.to), **({"text": m.text} if with_text else {})} for m in outbound.messages]
    return found + [{"to": ["ticket"], **({"text": a.data.get("body", "")} if with_text else {}),
                     "public": a.data.get("public", False)} for a in outbound.actions]


def _addressing(decision: Decision, ticket: Mapping) -> dict:
    """The part of the message context that decides who hears what, for messages not rendered."""
    return {"owner": {"name": decision.owner}, "level": {"id": decision.level},
            "severity": {"name": decision.severity},
            "ticket": {"platform": ticket["platform"], "key": ticket["key"], "url": ticket["url"]}}
