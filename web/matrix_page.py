"""`/matrix`: the matrix in force as a table (levels × severities), whether `rules/` loads, and what
changed between two versions; with the JSON behind it under `/api/matrix`."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, current_app, jsonify, render_template, request

from plugin.access import VIEW
from plugin.matrix.table import matrix_table

from . import matrix_state as state
from .auth import requires

matrix = Blueprint("matrix", __name__)
SECTIONS = ("severities", "levels", "owners", "timers", "triggers", "exceptions", "stops", "communications",
            "calendars", "teams and people", "reviews", "defaults")


def _container():
    return current_app.extensions["escalator"]


@matrix.get("/matrix")
@requires(VIEW)
def index():
    """The matrix in force, or with ?version= a stored one (tickets pinned to it are still decided by it)."""
    container = _container()
    known = state.versions(container)
    try:
        shown, table, problems = _shown(container, known)
    except state.UnknownVersion as exc:
        message = f"No stored matrix has version {exc.args[0]!r}; the versions are listed on the matrix page."
        return render_template("error.html", code=404, message=message), 404
    pair = state.default_pair(known)
    return render_template("matrix/index.html", table=table, shown=shown, problems=problems,
                           validation=state.validation(container), versions=known, pair=pair,
                           on_disk=state.ON_DISK, since=_since_previous(container, shown, pair, known))


def _since_previous(container, shown: state.VersionInfo, pair, known) -> state.Comparison | None:
    """What changed when the matrix in force went live, for the line under the title."""
    if not shown.current or pair is None:
        return None
    return state.compare(container, *pair, known)


def _shown(container, known: list[state.VersionInfo]):
    """The version asked for (the one in force by default), its table (None if it no longer loads) and why."""
    current = container.matrix().matrix.version
    version = request.args.get("version", "").strip() or current
    if version == current:
        info = next((v for v in known if v.current), None) or state.VersionInfo(current, "", None, None, True)
        return info, matrix_table(container.matrix().matrix, info.label), ()
    info, parsed, problems = state.stored(container, version, known)
    return info, (matrix_table(parsed, info.label) if parsed else None), problems


@matrix.get("/matrix/diff")
@requires(VIEW)
def diff():
    container = _container()
    known = state.versions(container)
    pair = _pair(known)
    if pair is None:
        return render_template("matrix/diff.html", comparison=None, versions=known, pair=None,
                               on_disk=state.ON_DISK, validation=state.validation(container))
    try:
        comparison = state.compare(container, *pair, known)
    except state.UnknownVersion as exc:
        message = f"No stored matrix has version {exc.args[0]!r}; pick one of the list on the matrix page."
        return render_template("error.html", code=404, message=message), 404
    return render_template("matrix/diff.html", comparison=comparison, versions=known, pair=pair,
                           on_disk=state.ON_DISK, validation=state.validation(container),
                           sections=_by_section(comparison.changes))


def _pair(known: list[state.VersionInfo]) -> tuple[str, str] | None:
    """The versions asked for; the previous and the current one for what is left out."""
    default = state.default_pair(known) or (None, None)
    old = request.args.get("from", "").strip() or default[0]
    new = request.args.get("to", "").strip() or default[1] or next((v.version for v in known if v.current), None)
    return (old, new) if old and new else None


def _by_section(changes) -> list[tuple[str, list]]:
    order = {name: i for i, name in enumerate(SECTIONS)}
    sections: dict[str, list] = {}
    for change in changes:
        sections.setdefault(change.section, []).append(change)
    return sorted(sections.items(), key=lambda item: order.get(item[0], len(order)))


# -- JSON ---------------------------------------------------------------------------------------------

@matrix.get("/api/matrix")
@requires(VIEW)
def api_matrix():
    container = _container()
    try:
        shown, table, problems = _shown(container, state.versions(container))
    except state.UnknownVersion as exc:
        return jsonify({"error": f"no stored matrix has version {exc.args[0]!r}; "
                                 "GET /api/matrix/versions lists them"}), 404
    return jsonify({"version": shown.version, "label": shown.label, "current": shown.current,
                    "validation": state.validation(container).as_dict(),
                    "table": table.as_dict() if table else None, "problems": [asdict(p) for p in problems]})


@matrix.get("/api/matrix/versions")
@requires(VIEW)
def api_versions():
    container = _container()
    return jsonify({"current": container.matrix().matrix.version,
                    "versions": [v.as_dict() for v in state.versions(container)]})


@matrix.get("/api/matrix/diff")
@requires(VIEW)
def api_diff():
    container = _container()
    known = state.versions(container)
    pair = _pair(known)
    if pair is None:
        return jsonify({"error": "only one matrix version has been live, so there is nothing to compare yet; "
                                 f"pass to={state.ON_DISK} to compare it with rules/ as it stands"}), 404
    try:
        return jsonify(state.compare(container, *pair, known).as_dict())
    except state.UnknownVersion as exc:
        return jsonify({"error": f"no stored matrix has version {exc.args[0]!r}; "
                                 "GET /api/matrix/versions lists them"}), 404
