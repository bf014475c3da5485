"""`/drills`: trainers start drills for trainees; trainees play them and read their score and debrief.

The pages drive the same sessions as `/api/drills` (`plugin.drill_sessions.DrillSessions`, stored in
the main database and replayed on every read). A trainee sees only the sessions that name them; a
trainer sees all. A refusal (an unknown owner, a finished drill) is shown beside the form, never as
an error page.
"""
from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for

from plugin import trainees as trainee_records
from plugin.drill_sessions import BadDrillRequest, DrillOver, DrillSessions, may_open
from plugin.drills_api import drill_sessions
from plugin.store.drills import DrillNotFound, DrillSession
from simulator.drills import debrief as debriefs
from simulator.drills.actions import ACTIONS, DRAFT_ACTIONS, ROLES, SOLO
from simulator.drills.debrief import OBJECTIVE_NAMES, ROLE_NAMES
from simulator.drills.onboarding import difficulty, objectives_of
from simulator.drills.session import DraftTaken, DrillError
from simulator.drills.view import state
from simulator.scenarios import STATUSES

from .auth import PLAY_DRILLS, RUN_DRILLS, current_user, requires
from .charts import line_chart

bp = Blueprint("drills", __name__, url_prefix="/drills")

RECENT = 50
MAX_ID = 2**31 - 1          # beyond either database's integer column: no such session
TEAM_SIZE = len(ROLES)      # the start form offers one row per role
MODES = {"step": "Step: the clock moves only when you advance it",
         "accelerated": "Accelerated: the story runs on its own, faster than real time"}
DEFAULT_SPEED = 60          # a minute of story per second: a three-hour scenario in three minutes
TICKET_STATUSES = [name for name in STATUSES if name != "Done"]     # resolving is its own action
POLL_SECONDS = 5
CHART_TRAINEES = 6          # lines a chart keeps apart by marker and dash
LABELS = {"acknowledge": "Acknowledge (take the ticket)", "severity": "Set severity", "level": "Set level",
          "owner": "Set owner", "exception": "Decide an exception", "message": "Send a message",
          "update": "Post a status update", "plan": "Post the remediation plan", "handover": "Hand over",
          "note": "Write an internal note", "status": "Set the ticket status", "resolve": "Resolve",
          "root_cause": "Record the root cause", "send_draft": "Send the drafted message",
          "discard_draft": "Discard the drafted message"}


# -- the list ---------------------------------------------------------------------------------------

@bp.get("")
@requires(PLAY_DRILLS)
def index():
    return _index()


def _index(error: str | None = None, status: int = 200):
    user, sessions = current_user(), _drills()
    trainer = user.can(RUN_DRILLS)
    recent = [s for s in sessions.repo.recent(RECENT) if may_open(s, user.name, trainer)]
    scenarios, problems = sessions.catalogue()
    context = {"trainer": trainer, "playing": [s for s in recent if not s.finished],
               "finished": [s for s in recent if s.finished], "names": _scenario_names(scenarios),
               # A refused form comes back as typed; a "practise next" link pre-fills it.
               "error": error, "form": request.form if error else request.args}
    if trainer:
        users = _trainee_users()
        everyone = sorted(set(sessions.repo.trainees()) | set(users))     # a new trainee too: their first drill
        context |= {"scenarios": [_scenario(s) for s in scenarios], "problems": problems, "roles": ROLES,
                    "role_names": ROLE_NAMES, "modes": MODES, "team_size": TEAM_SIZE,
                    "default_speed": DEFAULT_SPEED, "trainee_users": users,
                    "progress": [trainee_records.report(sessions.repo, name, scenarios) for name in everyone]}
    else:
        context["progress"] = [trainee_records.report(sessions.repo, user.name, scenarios)]
    context["chart"] = _scores_chart(context["progress"])
    return render_template("drills/index.html", **context), status


def _scores_chart(progress: list[dict]):
    """Each trainee's scores, drill after drill (the most practised few when there are many)."""
    played = sorted((p for p in progress if p["drills"]), key=lambda p: -p["drills"])[:CHART_TRAINEES]
    if not played or max(p["drills"] for p in played) < 2:
        return None
    drills = max(p["drills"] for p in played)
    series = {}
    for p in played:
        scores = [row["score"] for row in p["scores"]]
        series[p["trainee"]] = [(f"drill {n + 1}", scores[n] if n < len(scores) else None) for n in range(drills)]
    return line_chart("Scores, drill after drill", series, note="Each trainee's finished drills in order, 0–100.")


@bp.context_processor
def helpers() -> dict:
    return {"objective_name": lambda o: OBJECTIVE_NAMES.get(o, o.replace("_", " ").capitalize()),
            "strong": debriefs.STRONG}


def _scenario(s) -> dict:
    return {"file": s.path.name, "name": s.name, "description": s.description, "difficulty": difficulty(s),
            "objectives": [OBJECTIVE_NAMES.get(o, o) for o in objectives_of(s)], "tickets": len(s.tickets)}


def _scenario_names(scenarios) -> dict[str, str]:
    return {s.path.name: s.name for s in scenarios}


def _trainee_users() -> list[str]:
    store = current_app.extensions["escalator.users"]
    return sorted(u.name for u in store.all() if u.role == "trainee" and u.active)


# -- starting ---------------------------------------------------------------------------------------

@bp.post("")
@requires(RUN_DRILLS)
def start():
    try:
        body = _start_body(request.form)
        session, _ = _drills().start(body)
    except BadDrillRequest as exc:
        return _index(str(exc), 400)
    flash(f"Drill {session.id} started for {', '.join(session.trainees)}.", "info")
    return redirect(url_for("drills.session", session_id=session.id), code=303)


def _start_body(form) -> dict:
    """The API's start request from the form: a lone trainee plays every role, a team one role each."""
    team = {}
    for row in range(TEAM_SIZE):
        name = form.get(f"trainee_{row}", "").strip()
        if not name:
            continue
        if name in team:
            raise BadDrillRequest(f"{name} is named twice; each trainee plays one role")
        team[name] = form.get(f"role_{row}", "")
    if not team:
        raise BadDrillRequest("name at least one trainee (their user name, so the drill shows up for them)")
    if len(team) == 1:
        team = dict.fromkeys(team, SOLO)
    elif len(set(team.values())) != len(team) or SOLO in team.values():
        raise BadDrillRequest(f"in a team each trainee plays a different role: {', '.join(ROLES)}")
    mode = form.get("mode", "step")
    body = {"scenario": form.get("scenario", ""), "trainees": team, "mode": mode}
    if mode == "accelerated":
        body["speed"] = _number(form.get("speed", ""), "speed")
    return body


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadDrillRequest(f"{name}: a number of story seconds per second, such as {DEFAULT_SPEED}") from None


# -- one session ------------------------------------------------------------------------------------

@bp.get("/<int:session_id>")
@requires(PLAY_DRILLS)
def session(session_id: int):
    return _session_page(session_id)


@bp.get("/<int:session_id>/live")
@requires(PLAY_DRILLS)
def live(session_id: int):
    """The clock, the tickets and the feed alone, for htmx to refresh while the story runs."""
    stored = _open(session_id)
    if stored.finished:
        # The story ended meanwhile: htmx follows this header to the result page.
        return Response("", 204, headers={"HX-Redirect": url_for("drills.session", session_id=session_id)})
    return render_template("drills/_live.html", s=stored, view=state(_replayed(stored)), poll=POLL_SECONDS)


@bp.post("/<int:session_id>/actions")
@requires(PLAY_DRILLS)
def act(session_id: int):
    stored = _open(session_id)
    try:
        body = _action_body(request.form, stored)
        _, _, taken = _drills().act(session_id, body)
    except (BadDrillRequest, DrillError) as exc:
        return _session_page(session_id, str(exc), 409 if isinstance(exc, DrillOver | DraftTaken) else 400)
    flash(f"{LABELS[taken['do']]}: recorded at {taken['at']}.", "info")
    return redirect(url_for("drills.session", session_id=session_id, _anchor="act"), code=303)


@bp.post("/<int:session_id>/advance")
@requires(PLAY_DRILLS)
def advance(session_id: int):
    _open(session_id)
    body = _advance_body(request.form)
    try:
        _drills().advance(session_id, body)
    except BadDrillRequest as exc:
        return _session_page(session_id, str(exc), 409 if isinstance(exc, DrillOver) else 400)
    return redirect(url_for("drills.session", session_id=session_id), code=303)


def _advance_body(form) -> dict:
    """To the next inject, by a duration (a button), or to a story time typed as +1h30m."""
    how = form.get("how", "next")
    if how == "next":
        return {"next": True}
    if how == "to":
        return {"to": form.get("to", "").strip()}
    return {"by": how}


@bp.post("/<int:session_id>/finish")
@requires(PLAY_DRILLS)
def finish(session_id: int):
    _open(session_id)
    try:
        _drills().finish(session_id)
    except BadDrillRequest as exc:
        return _session_page(session_id, str(exc), 409)
    return redirect(url_for("drills.session", session_id=session_id), code=303)


@bp.get("/<int:session_id>/debrief.<kind>")
@requires(PLAY_DRILLS)
def debrief_file(session_id: int, kind: str):
    """The debrief to keep or share: Markdown, or the self-contained page for someone with no login."""
    stored = _open(session_id)
    if not stored.finished or kind not in ("md", "html"):
        abort(404)
    text = debriefs.markdown(stored.result) if kind == "md" else debriefs.html(stored.result)
    return Response(text, mimetype="text/markdown" if kind == "md" else "text/html", headers={
        "Content-Disposition": f'attachment; filename="drill-{stored.id}-debrief.{kind}"'})


def _session_page(session_id: int, error: str | None = None, status: int = 200):
    stored, user = _open(session_id), current_user()
    if stored.finished:
        return render_template("drills/result.html", s=stored, r=stored.result, error=error,
                               d=debriefs.debrief(stored.result), objective_names=OBJECTIVE_NAMES), status
    drill = _replayed(stored)
    view = state(drill)
    return render_template(
        "drills/play.html", s=stored, view=view, error=error, form=request.form if error else {},
        poll=POLL_SECONDS, labels=LABELS, fields={do: f for do, f in ACTIONS.items() if do not in DRAFT_ACTIONS},
        statuses=TICKET_STATUSES,
        main=drill.scenario.main, me=user.name if user.name in stored.trainees else None,
        role_names=ROLE_NAMES, can_advance=stored.mode == "step",
    ), status


def _action_body(form, stored: DrillSession) -> dict:
    """An action request from its form, with only the fields that action takes."""
    do = form.get("do", "")
    if do not in ACTIONS:
        raise BadDrillRequest(f"unknown action {do!r}; choose one of: {', '.join(ACTIONS)}")
    body: dict = {"do": do, "ticket": form.get("ticket", "").strip() or None, "by": _player(form, stored)}
    for name in ACTIONS[do]:
        value = form.get(name, "").strip()
        if name == "apply":
            body["apply"] = value != "refuse"
        elif name == "draft":
            body["draft"] = _draft_number(value)
        elif value:
            body[name] = value
    if do == "status" and body.get("to") not in TICKET_STATUSES:
        raise BadDrillRequest(f"status: one of {', '.join(TICKET_STATUSES)}")
    if rationale := form.get("rationale", "").strip():
        body["rationale"] = rationale
    return {k: v for k, v in body.items() if v is not None}


def _draft_number(value: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise BadDrillRequest(f"draft: {value!r} is not a draft number")
    return int(value)


def _player(form, stored: DrillSession) -> str:
    """Who acts: a trainee acts as themself; a trainer running a tabletop enters it for a trainee."""
    user = current_user()
    if user.name in stored.trainees:
        return user.name
    chosen = form.get("by", "").strip() or next(iter(stored.trainees))
    if chosen not in stored.trainees:
        raise BadDrillRequest(f"{chosen!r} does not play in this drill; the trainees are: "
                              f"{', '.join(stored.trainees)}")
    return chosen


def _open(session_id: int) -> DrillSession:
    """The stored session, or a 404 when it is not there or not the user's: a trainee sees only the
    drills that name them."""
    try:
        stored = _drills().repo.get(session_id) if session_id <= MAX_ID else None
    except DrillNotFound:
        stored = None
    user = current_user()
    if stored is None or not may_open(stored, user.name, user.can(RUN_DRILLS)):
        abort(404)
    return stored


def _replayed(stored: DrillSession):
    """The drill as it stands now; a scenario removed or a matrix changed since it started is said so."""
    try:
        return _drills().replay(stored)
    except (BadDrillRequest, DrillError) as exc:
        message = (f"Drill {stored.id} cannot be replayed any more: {exc}. The scenario or the matrix changed "
                   "since it started; start a new drill.")
        abort(Response(render_template("error.html", code=409, message=message), 409))


def _drills() -> DrillSessions:
    return drill_sessions()
