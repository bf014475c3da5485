"""What the trainees see during a drill: the ticket as an agent sees it on the platform, the injects
so far and the decisions they recorded. Never the matrix's own decision: that is the answer key. The
messages it drafts are shown, since live they wait for the owner on the ticket and the dashboard."""
from __future__ import annotations

from ..scenarios import format_offset
from .drafts import record
from .session import Drill

STATUS_NAMES = {"new": "Open", "open": "In Progress", "waiting": "Waiting for customer", "solved": "Done"}


def ticket_view(drill: Drill, key: str) -> dict:
    """One ticket as the agent sees it, with what the trainees have decided about it so far."""
    ticket = drill.story.tickets[key]
    customer = ticket.customer
    conversation = [{"at": format_offset(s.at), "from": s.source, "text": s.text}
                    for s in drill.seen if s.ticket == key]
    return {
        "key": key, "platform": drill.scenario.platform, "summary": ticket.summary,
        "description": ticket.description, "status": STATUS_NAMES.get(ticket.status, ticket.status),
        "product_area": ticket.area, "labels": list(ticket.labels),
        "requested_priority": ticket.requested_priority or "",
        "customer": {"name": customer.name, "tier": customer.tier, "region": customer.region,
                     "contact": ticket.reporter.name,
                     "account_manager": customer.account_manager.name if customer.account_manager else ""},
        "assignee": ticket.assignee.name if ticket.assignee else "",
        "conversation": conversation,
        "decided": decided(drill, key),
        "drafts": [record(drill, draft) for draft in drill.drafts(key)],
    }


def decided(drill: Drill, key: str) -> dict:
    """The trainees' latest severity, level, owner and exception decisions on a ticket."""
    latest: dict = {}
    for action in drill.actions:
        if action.ticket != key:
            continue
        if action.do in ("severity", "level", "owner"):
            latest[action.do] = action.to
        elif action.do == "exception":
            latest.setdefault("exceptions", {})[action.name] = "applied" if action.apply else "refused"
    return latest


def state(drill: Drill) -> dict:
    """The whole drill as the trainees see it now: clock, tickets, injects, their decision log."""
    return {
        "scenario": drill.scenario.name, "file": drill.scenario.path.name,
        "description": drill.scenario.description,
        "now": format_offset(drill.now), "clock": drill.clock.isoformat(),
        "until": format_offset(drill.scenario.until), "over": drill.over or drill.finished,
        "next_inject": format_offset(drill.next_inject()) if drill.next_inject() is not None else None,
        "tickets": [ticket_view(drill, key) for key in drill.known_tickets() if key in drill.story.tickets],
        "seen": [{"at": format_offset(s.at), "ticket": s.ticket, "from": s.source, "text": s.text}
                 for s in drill.seen],
        "actions": [{"at": format_offset(a.at), "do": a.do, "ticket": a.ticket, "by": a.by,
                     "value": _value(a), "text": a.text or a.reason, "rationale": a.rationale} for a in drill.actions],
        "choices": {kind: drill.choices(kind) for kind in ("severity", "level", "owner", "exception")}
        | {"channel": sorted({c.channel for c in drill.matrix.communications}),
           "template": sorted({c.template for c in drill.matrix.communications})},
    }


def _value(action) -> str:
    if action.draft:
        return f"draft {action.draft} ({action.template} on {action.channel})"
    return action.to or action.name or (f"{action.channel} {action.template}" if action.do == "message" else "")
