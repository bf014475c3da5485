"""A scenario played with trainees on the virtual clock.

The story's injects arrive on schedule; the trainees act; every ticket event either side makes goes
through production's intake and processor (`Pipeline`), so the matrix decides the tickets exactly as
it would live, and that decision is the answer key the drill is scored against. The same calls serve
a terminal session, the web API and a scripted answers file, so the same actions give the same score.
Nothing leaves the process: the store is in memory and no platform client is built.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from plugin import drafting
from plugin.domain.drafts import DISCARD, SEND, Draft, DraftConflict, DraftRefused
from plugin.engine import Evaluator
from plugin.matrix import load_matrix
from plugin.store.rows import timer_of

from ..replay import Pipeline
from ..scenarios import Scenario, Story, format_offset, parse_offset
from .actions import ACTIONS, DRAFT_ACTIONS, HEADINGS, Action, Team

# Story events the scenario's own agent did are the trainees' to do in a drill.
AGENT_ACTIONS = frozenset({"agent_reply", "internal_note", "assigned", "status", "priority", "resolved"})
# Injects that are not ticket events: a chat message, a warning that a timer is about to breach.
CHATTER = frozenset({"chat", "timer_warning"})
DEFAULT_GRACE = timedelta(minutes=5)       # how long trainees have to match a decision
# The matrix's reminders reach the owner; trainees see them as injects. (Its stalled notices name the new
# level, which is the answer key, so they stay hidden.)
NAGS = frozenset({"reminder"})


class DrillError(ValueError):
    """An action the drill cannot take, said so the trainee can correct it."""


class DraftTaken(DrillError):
    """The draft was already sent or discarded (by a trainee or by itself): it is acted on once."""


@dataclass(frozen=True)
class Seen:
    """Something the trainees were shown, at an offset from the start."""
    at: timedelta
    ticket: str
    source: str              # customer, colleague, executive, chat, escalator
    text: str


class Drill:
    def __init__(self, scenario: Scenario, rules: str | Path = "rules", *, engine: str = "python",
                 team: Team | None = None):
        self.scenario, self.team = scenario, team or Team()
        self.pipeline = Pipeline(Evaluator(load_matrix(rules), engine), scenario.start)
        self.matrix = self.pipeline.evaluator.matrix
        self.story = Story(scenario)
        self.agenda = deque(_injects(scenario))
        self.actions: list[Action] = []
        self.seen: list[Seen] = []
        self.now = timedelta(0)
        self.finished = False
        self._log_read = self._drafts_told = 0

    # -- time -------------------------------------------------------------------------------

    @property
    def clock(self) -> datetime:
        return self.scenario.start + self.now

    @property
    def over(self) -> bool:
        return self.now >= self.scenario.until

    @property
    def grace(self) -> timedelta:
        grace = self.scenario.drill.get("grace")
        return parse_offset("+" + grace) if grace else DEFAULT_GRACE

    def next_inject(self) -> timedelta | None:
        return self.agenda[0]["offset"] if self.agenda else None

    def advance(self, to: timedelta) -> list[Seen]:
        """Play the story up to `to` (capped at the end); what the trainees were shown meanwhile."""
        to, shown = min(max(to, self.now), self.scenario.until), len(self.seen)
        while self.agenda and self.agenda[0]["offset"] <= to:
            self._inject(self.agenda.popleft())
        self.pipeline.settle(self.scenario.start + to)
        self.now = to
        self._read_nags()
        return self.seen[shown:]

    def _inject(self, inject: dict) -> None:
        at = self.scenario.start + inject["offset"]
        self.pipeline.settle(at, before=True)
        self.now = inject["offset"]
        self._read_nags()
        if not self._holds(inject.get("when", {}), inject.get("ticket", self.scenario.main)):
            return
        self.seen.append(_seen(inject, self.scenario))
        if inject["do"] not in CHATTER:
            self._send(inject, at)

    def _send(self, event: dict, at: datetime) -> None:
        for delivery in self.story.emit(event, at):
            self.pipeline.deliver(delivery)
        self.pipeline.drain()

    # -- conditional injects ------------------------------------------------------------------

    def _holds(self, when: dict, key: str) -> bool:
        tests = {"missed": lambda timer: self.missed(key, timer),
                 "done": lambda kind: self.done(key, kind),
                 "not_done": lambda kind: not self.done(key, kind)}
        return all(tests[name](value) for name, value in when.items())

    def missed(self, key: str, timer: str) -> bool:
        """Whether `timer` has breached on a ticket by now (for the update cadence: lapsed)."""
        if timer == "update":
            return any(e["event_kind"] == "communication_stalled" for e in self.log(key))
        return any(t["name"] == timer and timer_of(t).breached_at(self.clock) for t in self.timers(key))

    def done(self, key: str, kind: str) -> bool:
        return any(a.do == kind and a.ticket == key for a in self.actions)

    # -- the trainees -------------------------------------------------------------------------

    def act(self, action: Action) -> Action:
        """Take one action now (an action's own `at` is replaced by the drill's clock)."""
        action = replace(action, at=self.now, ticket=action.ticket or self.scenario.main,
                         by=action.by or self.team.default)
        if action.do in DRAFT_ACTIONS:
            return self._on_draft(action)
        self._check(action)
        self.actions.append(action)
        for event in _ticket_events(action):
            self._send(event, self.clock)
        self._read_nags()
        return action

    def _on_draft(self, action: Action) -> Action:
        """Send or discard a draft as its owner would on the dashboard: through `drafting.act`, so the
        processor sends it (or logs the discard) exactly as it would live."""
        draft = self._draft_for(action)
        action = replace(action, ticket=draft.key, draft=draft.id, channel=draft.channel, template=draft.template)
        self._check(action)
        try:
            drafting.act(self.pipeline.store, draft.id, SEND if action.do == "send_draft" else DISCARD, action.by,
                         self.clock, text=action.text or draft.template_text, reason=action.reason)
        except DraftConflict as exc:
            raise DraftTaken(str(exc)) from None
        except DraftRefused as exc:
            raise DrillError(str(exc)) from None
        self.actions.append(action)
        self.pipeline.drain()
        self._read_nags()
        return action

    def _draft_for(self, action: Action) -> Draft:
        """The draft an action names, or the ticket's one waiting draft when it names none."""
        if action.draft:
            found = self.pipeline.store.draft(action.draft)
            if found is None or found.platform != self.scenario.platform:
                raise DrillError(f"there is no draft {action.draft}; `drafts` lists those of a ticket")
            return found
        waiting = [d for d in self.drafts(action.ticket) if d.pending]
        if len(waiting) != 1:
            raise DrillError(f"ticket {action.ticket} has no draft waiting" if not waiting else
                             f"ticket {action.ticket} has {len(waiting)} drafts waiting "
                             f"({', '.join(str(d.id) for d in waiting)}); say which one")
        return waiting[0]

    def _check(self, action: Action) -> None:
        if self.finished:
            raise DrillError("the drill is over; no more actions are taken")
        if action.do not in ACTIONS:
            raise DrillError(f"unknown action {action.do!r}; choose one of: {', '.join(ACTIONS)}")
        if action.ticket not in self.known_tickets():
            raise DrillError(f"there is no ticket {action.ticket} yet; known: {', '.join(self.known_tickets())}")
        choices = self.choices(action.do)
        value = action.name if action.do == "exception" else action.to
        if choices and value not in choices:
            raise DrillError(f"{action.do} {value!r} is not in the matrix; choose one of: {', '.join(choices)}")
        if action.do == "message":
            self._check_message(action)

    def _check_message(self, action: Action) -> None:
        channels = sorted({c.channel for c in self.matrix.communications})
        templates = sorted({c.template for c in self.matrix.communications})
        if action.channel not in channels:
            raise DrillError(f"channel {action.channel!r} is not in the matrix; choose one of: {', '.join(channels)}")
        if action.template not in templates:
            raise DrillError(f"template {action.template!r} is not in the matrix; "
                             f"choose one of: {', '.join(templates)}")

    def choices(self, kind: str) -> list[str]:
        """The values the matrix allows for a decision, for prompts and error messages."""
        m = self.matrix
        return {"severity": [s.name for s in m.severities], "level": [lv.id for lv in m.levels],
                "owner": sorted(m.parties), "exception": [e.name for e in m.exceptions]}.get(kind, [])

    # -- what the drill knows -----------------------------------------------------------------

    def known_tickets(self) -> list[str]:
        platform = self.scenario.platform
        return [key for p, key in self.pipeline.store.tickets if p == platform]

    def ticket(self, key: str) -> dict | None:
        return self.pipeline.store.tickets.get((self.scenario.platform, key))

    def log(self, key: str) -> list[dict]:
        return self.pipeline.store.log_by_ticket.get((self.scenario.platform, key), [])

    def drafts(self, key: str) -> list[Draft]:
        """The messages the matrix drafted on a ticket, waiting or acted on, oldest first."""
        return self.pipeline.store.drafts_of(self.scenario.platform, key)

    def timers(self, key: str) -> list[dict]:
        return self.pipeline.store.timers_of(self.scenario.platform, key)

    def offset(self, at: datetime) -> timedelta:
        return at - self.scenario.start

    def _read_nags(self) -> None:
        """The matrix's reminders to the owner are what the trainees would see as 'about to breach', and
        its drafts what they would be told to tailor."""
        log = self.pipeline.store.log
        for entry in log[self._log_read:]:
            for message in entry["communications"]:
                if message["situation"] in NAGS and message["sent"]:
                    text = f"{message['channel']} {_nag_text(entry, message)}"
                    self.seen.append(Seen(self.offset(entry["at"]), entry["key"], "escalator", text))
        self._log_read = len(log)
        drafted = list(self.pipeline.store.drafts_by_id.values())
        for draft in drafted[self._drafts_told:]:
            self.seen.append(Seen(self.offset(draft.created_at), draft.key, "escalator", _draft_notice(self, draft)))
        self._drafts_told = len(drafted)

    def end(self):
        """Play to the end of the story and score it."""
        from .scoring import DrillRun
        self.advance(self.scenario.until)
        self.finished = True
        return DrillRun.of(self)


def play(scenario: Scenario, actions: list[Action], rules: str | Path = "rules", *, engine: str = "python",
         team: Team | None = None):
    """A scripted run: each action at its time, then the score."""
    drill = Drill(scenario, rules, engine=engine, team=team)
    for action in sorted(actions, key=lambda a: a.at):
        if action.at > scenario.until:
            raise DrillError(f"an action at {format_offset(action.at)} is after the end of the story "
                             f"({format_offset(scenario.until)})")
        drill.advance(action.at)
        drill.act(action)
    return drill.end()


def _injects(scenario: Scenario) -> list[dict]:
    """The story's events the trainees do not play, and the drill's own injects, in time order."""
    agent = scenario.agent
    story = [e for e in scenario.events
             if e["do"] != "silence" and not (e["do"] in AGENT_ACTIONS and e.get("by", agent) == agent)]
    injects = story + list(scenario.drill.get("injects", ()))
    timed = [{**inject, "offset": parse_offset(inject["at"])} for inject in injects]
    return sorted(timed, key=lambda inject: inject["offset"])     # stable: the story first at equal times


def _ticket_events(action: Action) -> list[dict]:
    """The scenario events an action makes on the ticket; decisions alone make none."""
    base = {"ticket": action.ticket, "by": action.by}
    text = f"{HEADINGS[action.do]}: {action.text}" if action.do in HEADINGS else action.text
    if action.do == "acknowledge":
        return [{**base, "do": "assigned", "to": action.by}]
    if action.do == "handover":
        return [{**base, "do": "assigned", "to": action.to}, {**base, "do": "internal_note", "text": text}]
    channel = action.sent[0] if action.sent else ""
    if action.do in ("plan", "root_cause") or channel == "ticket_comment":
        return [{**base, "do": "agent_reply", **({"text": text} if text else {})}]
    if action.do == "note" or channel == "internal_note":
        return [{**base, "do": "internal_note", **({"text": text} if text else {})}]
    if action.do == "status":
        return [{**base, "do": "status", "to": action.to}]
    if action.do == "resolve":
        return [{**base, "do": "resolved"}]
    return []


def _seen(inject: dict, scenario: Scenario) -> Seen:
    who = {"customer_reply": "customer", "created": "customer", "rating": "customer", "reopened": "customer",
           "exec_asks_status": "executive", "chat": "chat", "timer_warning": "escalator"}.get(inject["do"], "colleague")
    text = inject.get("text") or _describe(inject, scenario)
    if inject["do"] == "chat":
        text = f"{inject.get('channel', 'slack')} from {inject.get('from', 'a colleague')}: {text}"
    return Seen(inject["offset"], inject.get("ticket", scenario.main), who, text)


def _describe(inject: dict, scenario: Scenario) -> str:
    spec = next((t for t in scenario.tickets if t.key == inject.get("ticket", scenario.main)), scenario.tickets[0])
    return {"created": f"New ticket {spec.key}: {spec.summary}\n{spec.description}",
            "more_reports": f"{inject.get('n', 1)} more customers report the same problem",
            "timer_warning": f"the {inject.get('timer', 'ack')} clock is about to run out",
            "duplicate_delivery": "the platform sent the last event again",
            }.get(inject["do"], inject["do"].replace("_", " ") + (f" {inject['to']}" if "to" in inject else ""))


def _draft_notice(drill: Drill, draft: Draft) -> str:
    """What the owner is told of a new draft, as the internal note and their channel say it live."""
    when = (f"it goes out as drafted at {format_offset(drill.offset(draft.send_at))} unless you send or discard it"
            if draft.send_at else "nothing goes out until you send it")
    return (f"draft {draft.id} of {draft.template} on {draft.channel} (to {', '.join(draft.recipients)}) waits "
            f"for you to tailor: {when}")


def _nag_text(entry: dict, message: dict) -> str:
    sent = message["sent"][0]
    first = next((line for line in sent.get("text", "").splitlines() if line.strip()), message["situation"])
    return f"{', '.join(sent.get('to', []))}: {first}"
