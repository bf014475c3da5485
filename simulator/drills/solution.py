"""The matrix's own answers: a player who does at once what the matrix decides, and the duties
(plan, root cause, customer updates) at three quarters of their targets, before the matrix's
reminders. Its answers file scores 100: how a trainer checks that a scenario is winnable and shows
what good looks like."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from plugin.domain.timers import RUNNING
from plugin.store.rows import timer_of

from ..scenarios import Scenario
from . import drafts
from .actions import Action, Team
from .scoring import HUMAN_SITUATIONS, _declared, _source
from .session import Drill

PLAYER = "Model Answer"
DUTY_AT = 0.75
# Each timer a person stops, the action that stops it, and the words it is written with.
DUTIES = {"plan": "plan", "rca": "root_cause", "update": "update", "regulator_notice": "note"}
TEXTS = {
    "regulator_notice": "Supervisory authority notified; the notice and its evidence are attached.",
    "plan": "restore service first (roll back the last change, fail over if needed), then fix forward; "
            "next update within the cadence.",
    "root_cause": "documented with the timeline, the trigger and the fix; follow-up actions are tracked.",
    "update": "We are still working on this with the specialists; next update within the agreed cadence.",
}


def solve(scenario: Scenario, rules: str | Path = "rules", *, engine: str = "python") -> list[Action]:
    """Play the scenario as the matrix would and return the actions, each with the reason as rationale."""
    drill = Drill(scenario, rules, engine=engine, team=Team({PLAYER: "solo"}))
    player = _Player(drill)
    drill.advance(timedelta(0))
    while True:
        player.react()
        upcoming = [t for t in (drill.next_inject(), _next_timer(drill), player.next_duty()) if t is not None]
        upcoming = [t for t in upcoming if t > drill.now]
        if not upcoming or min(upcoming) > scenario.until:
            break
        drill.advance(min(upcoming))
    return drill.actions


def _next_timer(drill: Drill) -> timedelta | None:
    due = drill.pipeline.store.next_timer_at()
    return drill.offset(due) if due else None


@dataclass
class _Player:
    drill: Drill
    answered: set = field(default_factory=set)      # (ticket, time, channel, template) already sent

    def react(self) -> None:
        """Act until the matrix has nothing more to say at this instant."""
        while moves := list(self._moves()):
            for action in moves:
                self.drill.act(action)

    def _moves(self) -> Iterator[Action]:
        for key in _declared(self.drill):
            yield from self._take(key)
            yield from self._classify(key)
            yield from self._exceptions(key)
            yield from self._messages(key)
            yield from self._notes(key)
            yield from self._duties(key)

    def _act(self, do: str, key: str, why: str, **values) -> Action:
        return Action(self.drill.now, do, key, rationale=why, by=PLAYER, **values)

    def _take(self, key: str) -> Iterator[Action]:
        if not self.drill.done(key, "acknowledge"):
            yield self._act("acknowledge", key, "take ownership the moment the ticket arrives")

    def _classify(self, key: str) -> Iterator[Action]:
        ticket, log = self.drill.ticket(key), self.drill.log(key)
        for name in ("severity", "level", "owner"):
            mine = [a.to for a in self.drill.actions if a.ticket == key and a.do == name]
            if ticket[name] and (not mine or mine[-1] != ticket[name]):
                why = next((e["decision"]["reasons"].get(name, "") for e in reversed(log) if name in e["changes"]), "")
                yield self._act(name, key, _source(why), to=ticket[name])

    def _exceptions(self, key: str) -> Iterator[Action]:
        decided = {a.name for a in self.drill.actions if a.ticket == key and a.do == "exception"}
        applied = {f["rule"] for e in self.drill.log(key) for f in e["decision"].get("trace", [])
                   if f.get("kind") == "exception"}
        for name in sorted(applied - decided):
            yield self._act("exception", key, "its conditions hold", name=name, apply=True)
        for name in self.drill.scenario.drill.get("consider_exceptions", ()):
            if name not in applied | decided:
                yield self._act("exception", key, "its conditions do not hold", name=name, apply=False)

    def _messages(self, key: str) -> Iterator[Action]:
        for entry in self.drill.log(key):
            for message in entry["communications"]:
                mark = (key, entry["at"], message["channel"], message["template"])
                if message["situation"] not in HUMAN_SITUATIONS or mark in self.answered or drafts.acted_on(message):
                    continue
                self.answered.add(mark)
                held = drafts.held_by(self.drill, key, entry["at"], message) if "drafted" in message else None
                if held is not None:        # sent at once, as drafted
                    yield self._act("send_draft", key, f"communications: {message['situation']}", draft=held.id)
                elif message["sent"] or not message["withheld"]:
                    yield self._act("message", key, f"communications: {message['situation']}",
                                    channel=message["channel"], template=message["template"])

    def _notes(self, key: str) -> Iterator[Action]:
        noted = sum(1 for a in self.drill.actions if a.ticket == key and a.do == "note"
                    and a.text.startswith("Escalated from"))      # not the regulator's notice
        moves = [e["changes"]["level"] for e in self.drill.log(key) if e["changes"].get("level", ["", ""])[0]]
        for old, new in moves[noted:]:
            yield self._act("note", key, "every level change is written down", text=f"Escalated from {old} to {new}.")

    def _duties(self, key: str) -> Iterator[Action]:
        for name, when in self._duty_times(key):
            if when <= self.drill.clock:
                yield self._act(DUTIES[name], key, f"{name} before its target",
                                text=TEXTS.get(name) or TEXTS[DUTIES[name]])

    def _duty_times(self, key: str) -> list[tuple[str, datetime]]:
        """Each running timer a person must stop, at three quarters of the time it allows."""
        duties = []
        for row in self.drill.timers(key):
            timer = timer_of(row)
            if timer.name in DUTIES and timer.state == RUNNING and timer.due_at:
                when = timer.segment_start + (timer.due_at - timer.segment_start) * DUTY_AT
                duties.append((timer.name, when.replace(second=0, microsecond=0)))
        return duties

    def next_duty(self) -> timedelta | None:
        times = [when for key in _declared(self.drill) for _, when in self._duty_times(key)]
        return self.drill.offset(min(times)) if times else None
