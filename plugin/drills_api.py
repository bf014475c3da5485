"""`/api/drills` and `/api/trainees`: drills played over HTTP for the web pages, and trainees' progress.

Same Bearer token and JSON errors as the rest of `/api`. A drill runs on its own in-memory pipeline
(`plugin.drill_sessions`), so nothing here reaches Jira, Zendesk, the outbox or the service's metrics.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, jsonify, request
from flask_login import current_user

from simulator.drills.onboarding import difficulty, objectives_of
from simulator.drills.session import DraftTaken, DrillError
from simulator.drills.view import state

from . import api_auth, trainees
from .access import PLAY_DRILLS, RUN_DRILLS, allowed
from .drill_sessions import BadDrillRequest, DrillOver, DrillSessions, may_open
from .store.drills import DrillNotFound, DrillRepository

drills = Blueprint("drills_api", __name__, url_prefix="/api")    # "drills" is the page at /drills


@drills.before_request
def require_access():
    """Starting drills and reading trainees' records is the trainers'; playing one's drill, anyone's
    but a viewer's."""
    starting = request.method == "POST" and request.path.rstrip("/").endswith("/drills")
    refused = api_auth.check(RUN_DRILLS if starting or request.path.startswith("/api/trainees") else PLAY_DRILLS)
    session_id = (request.view_args or {}).get("session_id")
    if refused is None and session_id is not None and not _visible(drill_sessions().repo.get(_id(session_id))):
        raise DrillNotFound(f"no drill session {session_id}")     # someone else's drill: as if there were none
    return refused


def _visible(session) -> bool:
    """A dashboard user sees their own drills, a trainer all; the API token sees all."""
    if request.headers.get("Authorization") or not current_user.is_authenticated:
        return True
    return may_open(session, current_user.name, allowed(current_user.role, RUN_DRILLS))


def _player(session, asked: str | None) -> str | None:
    """A logged-in trainee acts as themself, as on the pages; a trainer or the token may name anyone."""
    me = current_user.name if current_user.is_authenticated and not request.headers.get("Authorization") else None
    if me is None or me not in session.trainees:
        return asked
    if asked not in (None, "", me):
        raise BadDrillRequest(f"you play this drill as {me}; you cannot act as {asked}")
    return me


MAX_ID = 2**31 - 1          # beyond what either database's integer column holds: no such session
RECENT = 20


def drill_sessions() -> DrillSessions:
    """The app's drill sessions, shared by this API and the dashboard's pages."""
    found = current_app.extensions.get("escalator.drills")
    if found is None:
        container = current_app.extensions["escalator"]
        scenarios = current_app.config.get("ESCALATOR_SCENARIOS") or Path(container.settings.rules).parent / "scenarios"
        found = DrillSessions(_repository(container.store), scenarios, container.settings.rules, container.clock)
        current_app.extensions["escalator.drills"] = found
    return found


def _repository(store) -> DrillRepository:
    engine = getattr(store, "engine", None)
    if engine is None:      # the in-memory store (tests, the simulator): drills keep to an in-memory database
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        from .store.drills import drill_sessions
        engine = create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
        drill_sessions.create(engine)
    return DrillRepository(engine)


def _body() -> dict:
    body = request.get_json(silent=True) if request.content_length or request.data else {}
    if not isinstance(body, dict):
        raise BadDrillRequest("send a JSON object with Content-Type: application/json")
    return body


def _playing(session, drill) -> dict:
    return {"session": session.to_json(), "state": state(drill), "result": session.result}


def _id(session_id: int) -> int:
    if session_id > MAX_ID:
        raise DrillNotFound(f"no drill session {session_id}")
    return session_id


@drills.errorhandler(BadDrillRequest)
@drills.errorhandler(DrillError)
def bad_request(exc):
    return jsonify({"error": str(exc)}), 409 if isinstance(exc, DrillOver | DraftTaken) else 400


@drills.errorhandler(DrillNotFound)
def not_found(exc):
    return jsonify({"error": f"{exc}; GET /api/drills lists the recent ones"}), 404


@drills.get("/drills")
def catalogue():
    sessions = drill_sessions()
    scenarios, problems = sessions.catalogue()
    return jsonify({
        "scenarios": [{"file": s.path.name, "name": s.name, "description": s.description,
                       "difficulty": difficulty(s), "objectives": objectives_of(s),
                       "roles": s.drill.get("roles", []), "tickets": len(s.tickets)} for s in scenarios],
        "problems": problems,
        "sessions": [s.to_json() for s in sessions.repo.recent(RECENT) if _visible(s)],
    })


@drills.post("/drills")
def start():
    session, drill = drill_sessions().start(_body())
    return jsonify(_playing(session, drill)), 201


@drills.get("/drills/<int:session_id>")
def show(session_id: int):
    return jsonify(_playing(*drill_sessions().open(_id(session_id))))


@drills.post("/drills/<int:session_id>/advance")
def advance(session_id: int):
    return jsonify(_playing(*drill_sessions().advance(_id(session_id), _body())))


@drills.post("/drills/<int:session_id>/actions")
def act(session_id: int):
    body = _body()
    player = _player(drill_sessions().repo.get(_id(session_id)), body.get("by"))
    if player:
        body["by"] = player
    session, drill, taken = drill_sessions().act(_id(session_id), body)
    return jsonify({"action": taken, **_playing(session, drill)}), 201


@drills.post("/drills/<int:session_id>/finish")
def finish(session_id: int):
    session = drill_sessions().finish(_id(session_id))
    return jsonify({"session": session.to_json(), **session.result})


@drills.get("/drills/<int:session_id>/debrief.<kind>")
def debrief(session_id: int, kind: str):
    from simulator.drills import debrief as render
    session = drill_sessions().repo.get(_id(session_id))
    if not session.finished:
        raise DrillOver(f"drill session {session_id} is still playing; finish it to get the debrief")
    if kind == "md":
        return Response(render.markdown(session.result), mimetype="text/markdown")
    if kind == "html":       # self-contained with its own inline CSS, and no script at all
        return Response(render.html(session.result), mimetype="text/html", headers={"Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'")})
    return jsonify({"error": "a debrief is debrief.md or debrief.html"}), 404


@drills.get("/trainees")
def trainee_list():
    return jsonify({"trainees": [{"name": name, "drills": count}
                                 for name, count in drill_sessions().repo.trainees().items()]})


@drills.get("/trainees/<name>")
def trainee(name: str):
    sessions = drill_sessions()
    return jsonify(trainees.report(sessions.repo, name, sessions.catalogue()[0]))
