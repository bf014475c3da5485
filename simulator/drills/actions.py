"""What trainees can do in a drill, the roles they play, and the answers file that scripts a run.

An action is a decision (severity, level, owner, exception, which message on which channel) or a
ticket event (acknowledge, update, plan, hand over, note, status, resolve, root cause). Decisions
are judged against the matrix; ticket events also go through the real pipeline, so the matrix's
timers see when the trainee acknowledged, planned or updated. When the matrix drafts a customer
message, the trainees send it (as drafted or as they rewrote it) or discard it with a reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

# The fields each action takes; `at`, `ticket`, `rationale` and `by` are common to all.
ACTIONS: dict[str, tuple[str, ...]] = {
    "acknowledge": (),                          # take the ticket: assigned to the trainee
    "severity": ("to",),
    "level": ("to",),
    "owner": ("to",),
    "exception": ("name", "apply"),             # apply: true, or false to refuse it on the record
    "message": ("channel", "template", "text"),
    "update": ("text",),                        # a public status update: message/ticket_comment/status_update
    "plan": ("text",),                          # the remediation plan, posted publicly
    "handover": ("to", "text"),                 # reassigned to a person, with a handover note
    "note": ("text",),                          # an internal note for the decision log
    "status": ("to",),                          # Open, In Progress, Waiting for customer
    "resolve": ("text",),
    "root_cause": ("text",),
    "send_draft": ("draft", "text"),            # a drafted message: with no text, sent as drafted
    "discard_draft": ("draft", "reason"),
}
DRAFT_ACTIONS = ("send_draft", "discard_draft")
# Headings that make a comment what it is, as an agent would write it on the ticket.
HEADINGS = {"plan": "Remediation plan", "root_cause": "Root cause", "handover": "Handover"}
UPDATE_TEMPLATE = "status_update.md.j2"
ROLES = ("incident_owner", "communications", "scribe")
SOLO = "solo"                                   # one trainee playing every role


@dataclass(frozen=True)
class Action:
    """One thing a trainee did, `at` an offset from the scenario's start."""
    at: timedelta
    do: str
    ticket: str
    to: str = ""
    name: str = ""
    apply: bool = True
    channel: str = ""
    template: str = ""
    text: str = ""
    rationale: str = ""
    by: str = ""
    draft: int = 0                  # which draft; the drill fills in its channel and template
    reason: str = ""                # discard_draft: why, kept in the escalation log

    @property
    def sent(self) -> tuple[str, str] | None:
        """(channel, template) when this action sends a message."""
        if self.do in ("message", "send_draft"):
            return self.channel, self.template
        if self.do == "update":
            return "ticket_comment", UPDATE_TEMPLATE
        return None


@dataclass(frozen=True)
class Team:
    """Who plays: trainee name -> role. One trainee with no role plays them all."""
    roles: dict[str, str] = field(default_factory=dict)

    @property
    def solo(self) -> bool:
        return len(self.roles) <= 1

    def role_of(self, trainee: str) -> str:
        return SOLO if self.solo else self.roles.get(trainee, "")

    def player(self, role: str) -> str:
        """Who is scored on a role."""
        if self.solo:
            return self.default
        return next((name for name, played in self.roles.items() if played == role), "(nobody)")

    @property
    def default(self) -> str:
        return next(iter(self.roles), "Trainee")
