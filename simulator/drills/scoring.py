"""Scoring a drill against the matrix.

Every expectation comes from what the real engine and SLA timers did with the same events: a
severity, level or owner the matrix set, an exception it applied, a message it decided (or withheld),
a timer it started. Each is pass or fail with a weight, and every lost point names the rule, timer or
communication that says so and what the matrix did. Nothing here is a hand-written answer.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from plugin.domain.durations import format_duration
from plugin.store.rows import timer_of

from ..scenarios import Scenario, format_offset
from . import drafts
from .actions import SOLO, Action, Team
from .session import Drill, Seen

# kind -> (weight, role, learning objective)
KINDS = {
    "severity": (3, "incident_owner", "severity"),
    "level": (3, "incident_owner", "routing"),
    "owner": (2, "incident_owner", "routing"),
    "exception": (2, "incident_owner", "exceptions"),
    "message": (2, "communications", "communication"),
    "withheld": (2, "communications", "communication"),
    "timer": (3, "incident_owner", "response_time"),
    "cadence": (2, "communications", "update_cadence"),
    "note": (1, "scribe", "documentation"),
}
OBJECTIVES = ("severity", "routing", "exceptions", "communication", "response_time", "update_cadence",
              "documentation")
# What people send; the matrix's own reminders and stalled notices are nags, not the trainees' job.
HUMAN_SITUATIONS = ("escalated", "update", "resolved")
DOCUMENTATION_TIMERS = ("rca",)


@dataclass(frozen=True)
class Expectation:
    kind: str
    ticket: str
    at: timedelta            # when the matrix decided it
    until: timedelta         # by when the trainees had to match it
    expected: str
    source: str              # the rule, timer or communication that says so
    passed: bool
    reason: str
    role: str
    objective: str
    weight: int

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(at=format_offset(self.at), until=format_offset(self.until))
        return data


def expect(kind: str, ticket: str, at: timedelta, until: timedelta, expected: str, source: str, passed: bool,
           reason: str, *, role: str = "", objective: str = "") -> Expectation:
    weight, default_role, default_objective = KINDS[kind]
    return Expectation(kind, ticket, at, until, expected, source, passed, reason, role or default_role,
                       objective or default_objective, weight)


# -- what the matrix expected -----------------------------------------------------------------

def expectations(drill: Drill) -> list[Expectation]:
    found = []
    for key in _declared(drill):
        judge = _Judge(drill, key)
        found += [*judge.classification(), *judge.exceptions(), *judge.messages(), *judge.timers(),
                  *judge.cadence(), *judge.notes()]
    return sorted(found, key=lambda e: (e.at, e.ticket, list(KINDS).index(e.kind)))


def _declared(drill: Drill) -> list[str]:
    """The tickets the scenario names that exist; reports from other customers are context."""
    return [spec.key for spec in drill.scenario.tickets if drill.ticket(spec.key)]


class _Judge:
    """The expectations of one ticket."""

    def __init__(self, drill: Drill, key: str):
        self.drill, self.key = drill, key
        self.log = drill.log(key)
        self.actions = [a for a in drill.actions if a.ticket == key]
        self.end = drill.now

    def at(self, entry: dict) -> timedelta:
        return self.drill.offset(entry["at"])

    def window(self, start: timedelta, following: timedelta | None = None) -> tuple[timedelta, bool]:
        """By when a decision at `start` must be matched: the grace, or until the matrix changed it again."""
        if following is not None and following <= start + self.drill.grace:
            return following, True
        return min(start + self.drill.grace, self.end), False

    def declared(self, kind: str, by: timedelta, strict: bool, name: str = "") -> Action | None:
        done = [a for a in self.actions if a.do == kind and (a.at < by if strict else a.at <= by)
                and (not name or a.name == name)]
        return done[-1] if done else None

    # -- severity, level, owner ------------------------------------------------------------

    def classification(self) -> Iterator[Expectation]:
        for field_name in ("severity", "level", "owner"):
            changes = [(self.at(e), e["changes"][field_name][1], e["decision"]["reasons"].get(field_name, ""))
                       for e in self.log if e["changes"].get(field_name, ["", ""])[1]]
            for index, (at, value, why) in enumerate(changes):
                following = changes[index + 1][0] if index + 1 < len(changes) else None
                yield self._classified(field_name, at, value, why, following)

    def _classified(self, field_name: str, at: timedelta, value: str, why: str,
                    following: timedelta | None) -> Expectation:
        until, strict = self.window(at, following)
        got = self.declared(field_name, until, strict)
        passed = got is not None and got.to == value
        said = f"you had {got.to} (set at {format_offset(got.at)})" if got else f"you had set no {field_name}"
        reason = (f"{said}, as the matrix did at {format_offset(at)}" if passed else
                  f"the matrix set {field_name} {value} at {format_offset(at)} ({_source(why)}); "
                  f"{said} by {format_offset(until)}")
        return expect(field_name, self.key, at, until, f"{field_name} {value}", _source(why), passed, reason)

    # -- exceptions -----------------------------------------------------------------------

    def exceptions(self) -> Iterator[Expectation]:
        applied = self._applied_by_matrix()
        for name, at in applied.items():
            until, _ = self.window(at)
            got = self.declared("exception", until, False, name)
            passed = bool(got and got.apply)
            said = ("you applied it" if passed else "you refused it" if got else "you did not apply it") \
                + (f" at {format_offset(got.at)}" if got else f" by {format_offset(until)}")
            yield expect("exception", self.key, at, until, f"apply exception {name!r}", f"exception {name!r}",
                         passed, f"the matrix applied {name!r} at {format_offset(at)}; {said}")
        yield from self._refusals(applied)

    def _applied_by_matrix(self) -> dict[str, timedelta]:
        applied: dict[str, timedelta] = {}
        for entry in self.log:
            for fired in entry["decision"].get("trace", []):
                if fired.get("kind") == "exception":
                    applied.setdefault(fired["rule"], self.at(entry))
        return applied

    def _refusals(self, applied: dict[str, timedelta]) -> Iterator[Expectation]:
        """Exceptions the trainees had to refuse: the drill asks for a decision, or they applied one wrongly."""
        considered = [n for n in self.drill.scenario.drill.get("consider_exceptions", ()) if n not in applied]
        wrongly = [a.name for a in self.actions if a.do == "exception" and a.apply and a.name not in applied]
        start = self.at(self.log[0])
        for name in dict.fromkeys(considered + wrongly):
            got = self.declared("exception", self.end, False, name)
            passed = bool(got and not got.apply)
            said = "you refused it" if passed else "you applied it" if got else "you made no decision on it"
            yield expect("exception", self.key, start, self.end, f"refuse exception {name!r}", f"exception {name!r}",
                         passed, f"the matrix does not apply {name!r} to this ticket: its conditions do not hold; "
                                 f"{said}" + (f" at {format_offset(got.at)}" if got else ""))

    # -- communications -------------------------------------------------------------------

    def messages(self) -> Iterator[Expectation]:
        used: set[int] = set()
        for at, message in self._decided_messages():
            held = drafts.held_by(self.drill, self.key, self.drill.scenario.start + at, message) \
                if "drafted" in message else None
            if held is not None:
                yield self._drafted(at, message, held, used)
            elif message["withheld"] and not message["sent"]:
                yield self._withheld(at, message)
            else:
                yield self._sent(at, message, used)

    def _decided_messages(self) -> list[tuple[timedelta, dict]]:
        seen, found = set(), []
        for entry in self.log:
            for message in entry["communications"]:
                mark = (self.at(entry), message["channel"], message["template"])
                if message["situation"] in HUMAN_SITUATIONS and mark not in seen and not drafts.acted_on(message):
                    seen.add(mark)
                    found.append((self.at(entry), message))
        return found

    def _sent(self, at: timedelta, message: dict, used: set[int]) -> Expectation:
        until, _ = self.window(at)
        wanted = (message["channel"], message["template"])
        match = next((i for i, a in enumerate(self.actions)
                      if i not in used and a.sent == wanted and at <= a.at <= until), None)
        source = f"communications: {message['situation']} -> {message['channel']} {message['template']}"
        if match is not None:
            used.add(match)
            reason = f"you sent it at {format_offset(self.actions[match].at)}"
        else:
            reason = (f"the matrix sent {message['template']} on {message['channel']} at {format_offset(at)} "
                      f"({message['situation']}); you sent {_what_you_sent(self.actions, at, until)}")
        return expect("message", self.key, at, until, f"send {message['template']} on {message['channel']}",
                      source, match is not None, reason)

    def _drafted(self, at: timedelta, message: dict, draft, used: set[int]) -> Expectation:
        """A message the matrix drafted: the same expectation as sent, met by what became of the draft."""
        until = drafts.deadline(self.drill, draft, self.window(at)[0])
        passed, reason = drafts.outcome(self.drill, draft, self.actions, at, until, used)
        source = (f"communications: {message['situation']} -> {message['channel']} {message['template']} "
                  f"(send: {draft.mode})")
        return expect("message", self.key, at, until, f"send {message['template']} on {message['channel']}",
                      source, passed, reason)

    def _withheld(self, at: timedelta, message: dict) -> Expectation:
        until, _ = self.window(at)
        wanted = (message["channel"], message["template"])
        sent = [a for a in self.actions if a.sent == wanted and at <= a.at <= until]
        source = f"communications: {message['situation']} -> {message['channel']} (sensitive: withheld)"
        reason = ("you kept it back" if not sent else
                  f"you sent it at {format_offset(sent[0].at)}, but the matrix withholds it on this ticket")
        return expect("withheld", self.key, at, until, f"do not send {message['template']} on "
                      f"{message['channel']}", source, not sent, reason)

    # -- timers ---------------------------------------------------------------------------

    def timers(self) -> Iterator[Expectation]:
        clock, stoppable = self.drill.clock, {name for rule in self.drill.matrix.stops for name in rule.stops}
        for row in self.drill.timers(self.key):
            timer = timer_of(row)
            if timer.recurring or timer.name not in stoppable:
                continue        # the cadence is judged on its own; a deadline nobody can meet is not a duty
            if timer.stopped_at or (timer.due_at and timer.due_at <= clock):     # else not due within the drill
                yield self._timer(timer, clock)

    def _timer(self, timer, clock: datetime) -> Expectation:
        target = format_duration(timedelta(seconds=timer.seconds))
        severity = (self.drill.ticket(self.key) or {}).get("severity", "")
        source = f"timers.{severity}.{timer.name} ({target}, {timer.calendar})"
        start = self.drill.offset(timer.started_at)
        breached = timer.breached_at(clock)
        if not breached:
            took = format_duration(timer.stopped_at - timer.started_at)
            reason = f"done in {took} of {target}"
        else:
            due = self.drill.offset(timer.due_at)
            reason = f"breached at {format_offset(due)} ({target} after {format_offset(start)})"
            reason += self._consequence(due)
        role, objective = ("scribe", "documentation") if timer.name in DOCUMENTATION_TIMERS else ("", "")
        until = self.drill.offset(timer.due_at) if timer.due_at else self.end
        return expect("timer", self.key, start, until, f"{timer.name} within {target}", source, not breached, reason,
                      role=role, objective=objective)

    def _consequence(self, due: timedelta) -> str:
        entry = next((e for e in self.log if self.at(e) == due and e["event_kind"] == "sla_breached"
                      and e["changes"]), None)
        if not entry:
            return ""
        changed = ", ".join(f"{k} {v[1]}" for k, v in entry["changes"].items() if k in ("level", "owner"))
        rules = [f["rule"] for f in entry["decision"].get("trace", []) if f.get("decided")]
        return f"; the matrix escalated: {changed}" + (f" (rule {rules[-1]!r})" if rules else "") if changed else ""

    def cadence(self) -> Iterator[Expectation]:
        rows = [timer_of(t) for t in self.drill.timers(self.key) if t["recurring"]]
        lapses = [self.at(e) for e in self.log if e["event_kind"] == "communication_stalled"]
        for timer in rows:
            every = timedelta(seconds=timer.seconds)
            first = self.drill.offset(self._first_start(timer))
            if not lapses and first + every > self.end:
                continue        # the drill ended before one update was owed
            target = format_duration(every)
            reason = ("no lapse: the customer heard from you within every " + target if not lapses else
                      "the cadence lapsed at " + ", ".join(map(format_offset, lapses))
                      + "; each lapse sent the matrix's own update and logged communication_stalled")
            yield expect("cadence", self.key, first, self.end, f"update the customer every {target}",
                         f"timers.{timer.name} (every {target})", not lapses, reason)

    def _first_start(self, timer) -> datetime:
        starts = [e["at"] for e in self.log for t in e["decision"].get("start_timers", []) if t["name"] == timer.name]
        return starts[0] if starts else timer.started_at

    # -- the decision log -----------------------------------------------------------------

    def notes(self) -> Iterator[Expectation]:
        changes = [(self.at(e), e["changes"]["level"]) for e in self.log if e["changes"].get("level", ["", ""])[0]]
        for at, (old, new) in changes:
            until, _ = self.window(at)
            noted = next((a for a in self.actions if a.do in ("note", "handover") and at <= a.at <= until), None)
            reason = (f"you noted it at {format_offset(noted.at)}" if noted else
                      f"no note or handover between {format_offset(at)} and {format_offset(until)}")
            yield expect("note", self.key, at, until, f"note the move from {old} to {new} in the log",
                         "the decision log: every level change is written down", noted is not None, reason)


def _source(why: str) -> str:
    """A decision's reason as the part of the matrix that says so."""
    if why.startswith("rule:"):
        return f"rule {why[5:]!r}"
    if why.startswith("level:"):
        level, _, by = why[6:].partition(" by ")
        return f"levels.{level}.owner" + (f" ({by})" if by else "")
    if why.startswith("priority:"):
        return f"the priority the ticket arrived with ({why[9:]})"
    if why.startswith("human:"):
        return f"an agent set the priority by hand ({why[6:]})"
    return {"current": "kept from before", "unowned": "no owner in the matrix",
            "default": "the matrix's defaults"}.get(why, why or "the matrix")


def _what_you_sent(actions: list[Action], start: timedelta, until: timedelta) -> str:
    sent = [f"{a.sent[1]} on {a.sent[0]} at {format_offset(a.at)}" for a in actions
            if a.sent and start <= a.at <= until]
    return ", ".join(sent) if sent else f"nothing between {format_offset(start)} and {format_offset(until)}"


# -- the run ----------------------------------------------------------------------------------

def score_of(found: list[Expectation]) -> float:
    possible = sum(e.weight for e in found)
    return round(100 * sum(e.weight for e in found if e.passed) / possible, 1) if possible else 100.0


@dataclass
class DrillRun:
    """A finished drill: what happened, what the matrix expected, and the score."""
    scenario: Scenario
    team: Team
    actions: list[Action]
    seen: list[Seen]
    expectations: list[Expectation]
    matrix_timeline: list[dict] = field(default_factory=list)
    response_times: list[dict] = field(default_factory=list)
    drafts: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, drill: Drill) -> DrillRun:
        return cls(drill.scenario, drill.team, list(drill.actions), list(drill.seen), expectations(drill),
                   _matrix_timeline(drill), _response_times(drill),
                   [drafts.record(drill, d) for key in _declared(drill) for d in drill.drafts(key)])

    @property
    def score(self) -> float:
        return score_of(self.expectations)

    def by_role(self) -> dict[str, dict]:
        if self.team.solo:
            return {}
        roles = dict.fromkeys(self.scenario.drill.get("roles") or sorted({e.role for e in self.expectations}))
        return {role: {"trainee": self.team.player(role),
                       "score": score_of([e for e in self.expectations if e.role == role])} for role in roles}

    def by_objective(self) -> dict[str, dict]:
        result = {}
        for objective in OBJECTIVES:
            mine = [e for e in self.expectations if e.objective == objective]
            if mine:
                result[objective] = {"earned": sum(e.weight for e in mine if e.passed),
                                     "possible": sum(e.weight for e in mine)}
        return result

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario.name, "file": self.scenario.path.name, "score": self.score,
            "trainees": self.team.roles or {self.team.default: SOLO},
            "roles": self.by_role(), "objectives": self.by_objective(),
            "expectations": [e.to_json() for e in self.expectations],
            "actions": [_action_json(a) for a in self.actions],
            "seen": [{"at": format_offset(s.at), "ticket": s.ticket, "source": s.source, "text": s.text}
                     for s in self.seen],
            "matrix_timeline": self.matrix_timeline, "response_times": self.response_times,
            "drafts": self.drafts,
        }


def _action_json(action: Action) -> dict:
    data = {k: v for k, v in asdict(action).items() if v not in ("", None) and k != "at"}
    if not action.draft:
        data.pop("draft")
    if action.do != "exception":
        data.pop("apply", None)
    return {"at": format_offset(action.at), **data}


def _matrix_timeline(drill: Drill) -> list[dict]:
    rows = []
    for key in _declared(drill):
        for entry in drill.log(key):
            changes = {k: v[1] for k, v in entry["changes"].items() if k in ("severity", "level", "owner")}
            sent = [drafts.said(m, entry["event_kind"]) for m in entry["communications"]
                    if not drafts.acted_on(m) or entry["event_kind"] == drafts.AUTO_SENT_EVENT]
            rules = [f["rule"] for f in entry["decision"].get("trace", []) if f.get("decided")]
            if changes or sent:
                rows.append({"at": format_offset(drill.offset(entry["at"])), "ticket": key,
                             "event": entry["event_kind"], "changes": changes, "rules": rules, "messages": sent})
    return rows


def _response_times(drill: Drill) -> list[dict]:
    """Per level entered, how long until the trainees' first action on the ticket."""
    rows = []
    for key in _declared(drill):
        for entry in drill.log(key):
            level = entry["changes"].get("level", ["", ""])[1]
            if not level:
                continue
            entered = drill.offset(entry["at"])
            first = next((a.at for a in drill.actions if a.ticket == key and a.at >= entered), None)
            rows.append({"ticket": key, "level": level, "entered": format_offset(entered),
                         "first_action": format_offset(first) if first is not None else None,
                         "seconds": int((first - entered).total_seconds()) if first is not None else None})
    return rows
