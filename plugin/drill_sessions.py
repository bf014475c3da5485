"""Drills played through the API: sessions stored in the main database, the drill replayed from them.

A session stores only its scenario, trainees, clock and actions; every request rebuilds the drill by
replaying the actions at their times (a drill is deterministic, and a replay takes milliseconds), so
any instance of the service can serve any session. The drill runs on its own in-memory pipeline:
nothing it does reaches a platform, the outbox or the service's metrics.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import jsonschema

from simulator.drills import answers
from simulator.drills.actions import ROLES, SOLO, Team
from simulator.drills.session import Drill
from simulator.scenarios import Scenario, ScenarioError, format_offset, load_scenario, parse_offset, scenario_files

from .domain.clock import Clock
from .domain.durations import parse_duration
from .store.drills import FINISHED, MODES, DrillRepository, DrillSession

MAX_SPEED = 3600.0      # an hour of story per second is already faster than anyone reads
MAX_TRAINEES = 20


class BadDrillRequest(ValueError):
    """A request the drill cannot take; the message says what to send instead."""


class DrillOver(BadDrillRequest):
    """The session is finished; it takes no more actions or time."""


@lru_cache(maxsize=256)
def _load(path: str, _mtime_ns: int) -> Scenario:
    return load_scenario(path)


class DrillSessions:
    def __init__(self, repo: DrillRepository, scenarios_dir: str | Path, rules: str | Path, clock: Clock):
        self.repo, self.scenarios_dir, self.rules, self.clock = repo, Path(scenarios_dir), rules, clock

    # -- the catalogue --------------------------------------------------------------------------

    def catalogue(self) -> tuple[list[Scenario], list[str]]:
        """The playable scenarios, and the problems of those that do not load."""
        found, problems = [], []
        for path in scenario_files(self.scenarios_dir):
            try:
                found.append(_load(str(path), path.stat().st_mtime_ns))
            except ScenarioError as exc:
                problems += exc.problems
        return found, problems

    def scenario(self, name: str) -> Scenario:
        """A scenario of the catalogue by file name or stem; nothing outside the directory is read."""
        for path in scenario_files(self.scenarios_dir):
            if name in (path.name, path.stem):
                try:
                    return _load(str(path), path.stat().st_mtime_ns)
                except ScenarioError as exc:
                    raise BadDrillRequest(f"scenario {name!r} does not load: {exc}") from None
        known = ", ".join(p.name for p in scenario_files(self.scenarios_dir))
        raise BadDrillRequest(f"no scenario {name!r}; choose one of: {known}")

    # -- a session ------------------------------------------------------------------------------

    def start(self, body: dict) -> tuple[DrillSession, Drill]:
        scenario = self.scenario(_text(body, "scenario", required=True))
        trainees = _trainees(body.get("trainees"))
        mode = _text(body, "mode") or "step"
        if mode not in MODES:
            raise BadDrillRequest(f"mode {mode!r} is not one of: {', '.join(MODES)}")
        speed = _speed(body.get("speed"), mode)
        session = self.repo.create(DrillSession(scenario.path.name, trainees, mode, speed, self.clock.now()))
        return session, self.replay(session, scenario)

    def open(self, session_id: int) -> tuple[DrillSession, Drill]:
        session = self.repo.get(session_id)
        return session, self.replay(session)

    def replay(self, session: DrillSession, scenario: Scenario | None = None) -> Drill:
        """The drill exactly as it stands now: each stored action at its time, then the clock's time."""
        scenario = scenario or self.scenario(session.scenario)
        drill = Drill(scenario, self.rules, team=Team(dict(session.trainees)))
        for raw in session.actions:
            action = answers.action_of(raw)
            drill.advance(action.at)
            drill.act(action)
        drill.advance(self.virtual(session, scenario))
        if session.finished:
            drill.finished = True
        return drill

    def virtual(self, session: DrillSession, scenario: Scenario) -> timedelta:
        """Where the story stands: step mode moves only when told; the others run with the wall clock."""
        at = timedelta(seconds=session.offset_seconds)
        if session.mode != "step" and not session.finished:
            at += (self.clock.now() - session.started_at) * session.speed
        return min(at, scenario.until)

    def advance(self, session_id: int, body: dict) -> tuple[DrillSession, Drill]:
        def move(session: DrillSession) -> DrillSession:
            _playing(session)
            drill = self.replay(session)
            target = self._target(drill, body)
            return self._at(session, min(target, drill.scenario.until))
        session = self.repo.change(session_id, move)
        return session, self.replay(session)

    def _target(self, drill: Drill, body: dict) -> timedelta:
        if body.get("next") is True:
            upcoming = drill.next_inject()
            return upcoming if upcoming is not None else drill.scenario.until
        if "to" in body:
            target = _offset(body["to"], "to")
            if target < drill.now:
                raise BadDrillRequest(f"the drill is already at {format_offset(drill.now)}; time only moves forward")
            return target
        if "by" in body:
            return drill.now + _duration(body["by"])
        raise BadDrillRequest('say how far: {"to": "+20m"} (from the start of the story), {"by": "10m"} '
                              '(from now) or {"next": true} (to the next inject)')

    def _at(self, session: DrillSession, virtual: timedelta) -> DrillSession:
        # The clock is re-based: from now on a running session counts from this virtual time.
        return replace(session, offset_seconds=virtual.total_seconds(), started_at=self.clock.now())

    def act(self, session_id: int, body: dict) -> tuple[DrillSession, Drill, dict]:
        raw = _action(body)
        taken: dict = {}

        def act(session: DrillSession) -> DrillSession:
            _playing(session)
            drill = self.replay(session)
            if drill.over:
                raise DrillOver("the story is over: finish the drill to see the score")
            action = drill.act(answers.action_of(raw))
            taken.update(_stored(action))
            return replace(self._at(session, drill.now), actions=[*session.actions, dict(taken)])
        session = self.repo.change(session_id, act)
        return session, self.replay(session), taken

    def finish(self, session_id: int) -> DrillSession:
        def finish(session: DrillSession) -> DrillSession:
            _playing(session)
            drill = self.replay(session)
            now = self.clock.now()
            result = drill.end().to_json()
            return replace(self._at(session, drill.now), status=FINISHED, result=result, finished_at=now)
        return self.repo.change(session_id, finish)


def may_open(session: DrillSession, user: str, runs_drills: bool) -> bool:
    """A trainer opens every drill; anyone else only the drills that name them among the trainees."""
    return runs_drills or user in session.trainees


def _playing(session: DrillSession) -> None:
    if session.finished:
        raise DrillOver(f"drill session {session.id} is finished; start a new one to play again")


def _stored(action) -> dict:
    data = {"at": format_offset(action.at), "do": action.do, "ticket": action.ticket}
    for name in ("to", "name", "channel", "template", "text", "rationale", "by", "draft", "reason"):
        if getattr(action, name):
            data[name] = getattr(action, name)
    if action.do == "exception":
        data["apply"] = action.apply
    return data


def _action(body: dict) -> dict:
    """An action as in an answers file (without `at`: it happens now), checked against its schema."""
    if "at" in body:
        raise BadDrillRequest("an action happens at the drill's clock; leave out `at`")
    raw = {**body, "at": "+0s"}
    spec = answers.schema()
    errors = sorted(jsonschema.Draft202012Validator({"$ref": "#/$defs/action", "$defs": spec["$defs"]})
                    .iter_errors(raw), key=lambda e: list(e.absolute_path))
    if errors:
        raise BadDrillRequest("; ".join(f"{'.'.join(map(str, e.absolute_path)) or 'action'}: {e.message}"
                                        for e in errors))
    return raw


def _trainees(value) -> dict[str, str]:
    if value is None:
        return {"Trainee": SOLO}
    if isinstance(value, str) and value.strip():
        value = [value]
    if isinstance(value, list) and all(isinstance(n, str) and n.strip() for n in value) and len(value) == 1:
        return {value[0].strip(): SOLO}
    if not isinstance(value, dict) or not value or len(value) > MAX_TRAINEES:
        raise BadDrillRequest(f"trainees: a name, or an object of name -> role (at most {MAX_TRAINEES}), "
                              f"the role one of: {', '.join((SOLO, *ROLES))}")
    for name, role in value.items():
        if not name.strip() or role not in (SOLO, *ROLES):
            raise BadDrillRequest(f"trainees: {name!r} plays {role!r}; a role is one of: {', '.join((SOLO, *ROLES))}")
    return {name.strip(): role for name, role in value.items()}


def _speed(value, mode: str) -> float:
    if mode == "realtime":
        return 1.0
    if mode == "step":
        return 0.0
    if value is None:
        return 10.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_SPEED:
        raise BadDrillRequest(f"speed: a number of story seconds per second, above 0 and at most {MAX_SPEED:g}")
    return float(value)


def _offset(value, name: str) -> timedelta:
    if not isinstance(value, str):
        raise BadDrillRequest(f'{name}: an offset from the start of the story such as "+20m"')
    try:
        return parse_offset(value if value.startswith("+") else "+" + value)
    except (ValueError, OverflowError) as exc:
        raise BadDrillRequest(f'{name}: {exc}; an offset looks like "+20m" or "+1h30m"') from None


def _duration(value) -> timedelta:
    if not isinstance(value, str):
        raise BadDrillRequest('by: a duration such as "10m"')
    try:
        return parse_duration(value.lstrip("+"))
    except (ValueError, OverflowError) as exc:
        raise BadDrillRequest(f'by: {exc}; a duration looks like "10m" or "1h30m"') from None


def _text(body: dict, name: str, required: bool = False) -> str:
    value = body.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise BadDrillRequest(f"{name}: a non-empty string is required")
    return value.strip()
