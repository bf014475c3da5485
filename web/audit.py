"""`/audit`: the matrix's health (admins and leads), as a page and as JSON at `/api/audit`; and "what if":
the recorded deliveries of the last days replayed through the matrix in force and a pasted or uploaded
candidate (`/api/audit/what-if`). Simulated tickets count only when asked."""
from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, request

from plugin.access import AUDIT
from plugin.audit import FORMULA, PERIOD, Reach, audit
from plugin.audit_whatif import GENERATED_INCIDENTS, MAX_DELIVERIES, MAX_MATRIX_BYTES, generated_rows, what_if
from plugin.engine.limits import engine_problems
from plugin.matrix.lint import lint
from plugin.matrix.loader import MATRIX_FILE, read_matrix
from plugin.sla import clocks_for
from plugin.store.audit_sql import deliveries_for_replay, read_facts
from plugin.store.insights_sql import simulated_count

from . import charts
from .auth import requires

audit_page = Blueprint("audit", __name__)
DAYS = (1, 7, 30)           # how far back a what-if reaches for recorded deliveries
DEFAULT_DAYS = 7
SOURCES = ("recorded", "generated")


class BadCandidate(ValueError):
    """A what-if request without a readable candidate matrix."""


class Busy(RuntimeError):
    """Another what-if is replaying in this process."""


# A what-if keeps a core busy for seconds: one at a time per process, the next is told to retry.
_replaying = threading.Lock()


def compute(container, simulated: bool) -> dict:
    """Every audit figure of the matrix in force, with what `escalator check` says of rules/ now."""
    matrix = container.matrix().matrix
    with container.store.reading() as tx:
        facts = read_facts(tx.conn, container.clock.now(), simulated=simulated)
    checked_version, findings = _check(container.settings)
    report = audit(matrix, findings, facts, _reach(container.settings.comms), _spent(matrix))
    return {**report, "checked_version": checked_version}


def _check(settings) -> tuple[str, list]:
    """`escalator check` of the rules directory: the version it holds and every problem and finding."""
    matrix, source = read_matrix(settings.rules)
    if matrix is None:
        return "", list(source.problems)
    return matrix.version, list(source.problems) + lint(matrix, source) + engine_problems(matrix, settings.engine)


def _reach(comms) -> Reach:
    return Reach(email=bool(comms.smtp_url), slack=frozenset(comms.slack_webhooks),
                 teams=frozenset(comms.teams_webhooks))


def _spent(matrix):
    """Working time on the matrix's calendars; wall time on a calendar a newer matrix no longer has."""
    clocks = clocks_for(matrix)

    def spent(calendar, start, end):
        if calendar in clocks.clocks:
            return clocks.spent(calendar, start, end)
        return max(int((end - start).total_seconds()), 0)
    return spent


def _simulated() -> bool:
    return request.values.get("simulated") in ("1", "true", "on")


@audit_page.get("/audit")
@requires(AUDIT)
def index():
    container = current_app.extensions["escalator"]
    simulated = _simulated()
    report = compute(container, simulated)
    with container.store.reading() as tx:
        hidden = 0 if simulated else simulated_count(tx.conn)
    return render_template("audit/index.html", r=report, simulated=simulated, hidden=hidden, formula=FORMULA,
                           charts=_charts(report), template=_template(container.settings.rules), days=DAYS,
                           default_days=DEFAULT_DAYS, limit=MAX_DELIVERIES, max_bytes=MAX_MATRIX_BYTES,
                           generated=GENERATED_INCIDENTS,
                           period_days=PERIOD.days)


@audit_page.get("/api/audit")
@requires(AUDIT)
def api():
    return jsonify(compute(current_app.extensions["escalator"], _simulated()))


@audit_page.post("/audit/what-if")
@requires(AUDIT)
def what_if_page():
    try:
        candidate, days = _form_candidate(), _days(request.form.get("days"))
        source = _source(request.form.get("source"))
    except BadCandidate as exc:
        return _what_if_view({"valid": False, "problems": [], "error": str(exc)}, 400)
    try:
        result = run_what_if(current_app.extensions["escalator"], candidate, days, _simulated(), source)
    except Busy as exc:
        return _what_if_view({"valid": False, "problems": [], "error": str(exc)}, 503)
    return _what_if_view(result, 200 if result["valid"] else 422)


def _what_if_view(result: dict, status: int):
    # htmx puts the result under the form (it swaps only a 2xx answer, so a refusal is a 200 there);
    # without JavaScript the form posts and gets a whole page with the status that fits.
    if request.headers.get("HX-Request"):
        return render_template("audit/what_if.html", w=result, limit=MAX_DELIVERIES)
    return render_template("audit/what_if_page.html", w=result, limit=MAX_DELIVERIES), status


@audit_page.post("/api/audit/what-if")
@requires(AUDIT)
def what_if_api():
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("matrix"), str) or not body["matrix"].strip():
        return jsonify({"error": "send a JSON object with `matrix`: the candidate matrix.yaml as text"}), 400
    try:
        days, source = _days(body.get("days")), _source(body.get("source"))
    except BadCandidate as exc:
        return jsonify({"error": str(exc)}), 400
    simulated = body.get("simulated") is True
    try:
        result = run_what_if(current_app.extensions["escalator"], body["matrix"], days, simulated, source)
    except Busy as exc:
        return jsonify({"error": str(exc)}), 503
    if not result["valid"]:
        return jsonify({"error": "the candidate matrix is not valid", **result}), 422
    return jsonify(result)


def run_what_if(container, candidate: str, days: int, simulated: bool, source: str = "recorded") -> dict:
    """Replay the last `days` of recorded deliveries (at most MAX_DELIVERIES), or a generated sample over
    those days, through both matrices."""
    if not _replaying.acquire(blocking=False):
        raise Busy("another what-if is replaying right now; try again in a few seconds")
    try:
        until = container.clock.now()
        since = until - timedelta(days=days)
        rows, total = _deliveries(container, since, until, simulated, source)
        result = what_if(candidate, container.settings.rules, rows, total, engine=container.settings.engine)
    finally:
        _replaying.release()
    # The replay's own baseline is the rules directory, whose version says what really ran.
    return {"current_version": container.matrix().matrix.version, **result, "since": since.isoformat(),
            "until": until.isoformat(), "days": days, "source": source, "simulated": simulated}


def _deliveries(container, since, until, simulated: bool, source: str) -> tuple[list[dict], int]:
    if source == "generated":
        rows = generated_rows(since, until)
        return rows, len(rows)
    with container.store.reading() as tx:
        return deliveries_for_replay(tx.conn, since, until, MAX_DELIVERIES, simulated=simulated)


def _form_candidate() -> str:
    """The candidate from the upload if one was chosen, else from the text area."""
    upload = request.files.get("matrix_file")
    if upload is not None and upload.filename:
        data = upload.read(MAX_MATRIX_BYTES + 1)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise BadCandidate(f"{upload.filename} is not UTF-8 text; upload a matrix.yaml") from None
    text = request.form.get("matrix", "")
    if not text.strip():
        raise BadCandidate("paste a candidate matrix.yaml or choose a file to upload")
    return text


def _days(value) -> int:
    if value in (None, ""):
        return DEFAULT_DAYS
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise BadCandidate(f"days is one of {', '.join(map(str, DAYS))}, not {value!r}") from None
    if days not in DAYS:
        raise BadCandidate(f"days is one of {', '.join(map(str, DAYS))}, not {days}")
    return days


def _source(value) -> str:
    if value in (None, ""):
        return "recorded"
    if value not in SOURCES:
        raise BadCandidate(f"source is recorded or generated, not {value!r}")
    return value


def _template(rules: str | Path) -> str:
    """The matrix.yaml of the rules directory in force: where a candidate starts from."""
    path = Path(rules)
    path = path / MATRIX_FILE if path.is_dir() else path
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _charts(r: dict) -> dict:
    return {"miss_rate": charts.bar_chart("Share of deadlines missed, by timer and target", {
        f"{row['timer']} {row['target']}": row["miss_rate"] for row in r["timers"]}, charts.percent)}
