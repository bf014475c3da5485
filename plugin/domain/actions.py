"""What a decision changes on the ticket itself, as platform-neutral write-back actions.

Only differences are written: an action exists because the decision differs from what we last
wrote, which also keeps our own write-backs, echoed back as webhooks, from causing new writes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .decision import Decision
from .ticket import TicketState

UPDATE, ASSIGN, NOTE = "update", "assign", "note"


@dataclass(frozen=True)
class Action:
    """One write to one ticket. `data` by kind:
    update: {"priority": "Highest" (optional), "add_labels": ["a", ...] (optional)}
    assign: {"assignee": "<Jira accountId>" | "user:<id>" | "group:<id>"}
    note:   {"body": "plain text", "public": false}
    """
    platform: str
    key: str
    kind: str
    data: dict = field(default_factory=dict)


def plan_actions(platform: str, key: str, before: TicketState, decision: Decision,
                 priority_now: str = "") -> list[Action]:
    """The writes that bring the ticket in line with `decision`, given what we wrote before and the
    priority the ticket shows now (an agent may already have set it)."""
    actions = []
    update = {}
    if decision.priority and decision.priority not in (before.priority, priority_now):
        update["priority"] = decision.priority
    new_labels = [lb for lb in decision.labels if lb not in before.labels]
    if new_labels:
        update["add_labels"] = new_labels
    if update:
        actions.append(Action(platform, key, UPDATE, update))
    if decision.assignee and decision.assignee != before.assignee:
        actions.append(Action(platform, key, ASSIGN, {"assignee": decision.assignee}))
    if decision.level != before.level or decision.severity != before.severity:
        actions.append(Action(platform, key, NOTE, {"body": escalation_note(before, decision), "public": False}))
    return actions


def escalation_note(before: TicketState, decision: Decision) -> str:
    """The internal note that tells agents on the ticket what changed and why."""
    lines = [f"Escalator: severity {decision.severity}, level {decision.level}, owner {decision.owner or 'none'}."]
    if before.level and before.level != decision.level:
        lines.append(f"Escalated from {before.level} to {decision.level}.")
    if decision.human_severity and decision.human_severity != before.human_severity:
        lines.append(f"Severity set to {decision.severity} by an agent's priority change; Escalator keeps it.")
    elif before.severity and before.severity != decision.severity:
        lines.append(f"Severity raised from {before.severity} to {decision.severity}.")
    for fired in decision.trace:
        if fired.decided:
            lines.append(f"- {fired.kind} \"{fired.rule}\" decided {', '.join(fired.decided)}")
    return "\n".join(lines)
