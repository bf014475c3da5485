"""`/simulations`: the reports `escalator simulate` and `escalator replay` kept, and small simulations
started from the page (in a background thread, one at a time per process), with their JSON under /api."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for

from plugin.access import RUN_DRILLS, VIEW
from plugin.simulation_reports import MAX_FORM_DAYS, MAX_FORM_INCIDENTS, PageSimulations, counted, form_problems
from plugin.store.simulation_runs import SimulationRunNotFound, SimulationRunRepository

from .auth import current_user, requires
from .charts import bar_chart, grouped_bars, plain

simulations = Blueprint("simulations", __name__)

# Starting a simulation costs CPU: the people who run drills and exercises (admins, leads, trainers).
RUN_SIMULATIONS = RUN_DRILLS
PER_PAGE, MAX_PER_PAGE = 20, 100
REFRESH_SECONDS = 3             # how often the list looks again while a simulation runs here
DIFF_PER_PAGE = 100
LARGEST_ID = 999_999_999        # PostgreSQL's integer: a longer id is simply not there
SIDES = ("baseline", "candidate")
UNITS = {"tickets": plain, "rate": lambda v: f"{v:.1%}", "hours": lambda v: f"{v:g} h"}
COMPARED = ("severity", "level", "owner", "first_page", "breaches")     # as `escalator replay` compares
# Each figure of a report, with its definition and what it leaves out (as the run page states them).
SECTIONS = (
    ("volume_by_severity", "Volume by severity", "tickets",
     "Tickets by the severity the matrix gave them last; none when no rule set one."),
    ("escalation_rate_by_area", "Escalation rate by product area", "rate",
     "Share of each product area's tickets that ended beyond L1."),
    ("sla_attainment", "SLA attainment per timer", "rate",
     "Met: stopped by its deadline. Missed: stopped late, or still running past it when the simulation "
     "ended. Timers running within their deadline, paused timers and update cadences count as neither."),
    ("dwell_hours_by_level", "Dwell time per level", "hours",
     "Mean hours a ticket stayed at a level until it moved on, was resolved or the simulation ended."),
    ("load_by_owner", "Load per owner", "tickets", "Tickets each owner held when the simulation ended."),
)


@simulations.record_once
def _set_up(state) -> None:
    container = state.app.extensions["escalator"]
    repo = SimulationRunRepository(container.store.engine)
    state.app.extensions["escalator.simulations"] = PageSimulations(repo, container.settings.rules,
                                                                    container.clock.now)


def page_simulations() -> PageSimulations:
    return current_app.extensions["escalator.simulations"]


def repository() -> SimulationRunRepository:
    return page_simulations().repo


# -- pages ------------------------------------------------------------------------------------------

@simulations.get("/simulations")
@requires(VIEW)
def index():
    page = _number(request.args.get("page"), 1, 1, 10**6)
    repo = repository()
    total = repo.count()
    runs = repo.page(limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    jobs = page_simulations()
    return render_template("simulations/index.html", runs=runs, total=total, page=page, per_page=PER_PAGE,
                           running=jobs.running, last=jobs.last, limits=_limits(), asked=_default_form(),
                           refresh=REFRESH_SECONDS)


@simulations.post("/simulations")
@requires(RUN_SIMULATIONS)
def start():
    asked = {name: request.form.get(name, "").strip() for name in ("incidents", "days", "seed")}
    numbers = {name: _whole(value) for name, value in asked.items()}
    problems = form_problems(numbers["incidents"], numbers["days"], numbers["seed"])
    if problems:
        return _index_with(problems, asked), 400
    if not page_simulations().start(**numbers, by=current_user().name):
        return _index_with(["a simulation started here is still running; start the next one when it is done"],
                           asked), 409
    flash(f"Simulating {counted(numbers['incidents'], 'incident')} over {counted(numbers['days'], 'day')} "
          f"(seed {numbers['seed']}). "
          "Its report appears in this list when it is done.", "info")
    return redirect(url_for("simulations.index"))


@simulations.get("/simulations/<int:run_id>")
@requires(VIEW)
def shown(run_id: int):
    run = _run_or_none(run_id)
    if run is None:
        message = f"There is no simulation run {run_id}. The list at /simulations has every run kept."
        return render_template("error.html", code=404, message=message), 404
    context = {"run": run, "sections": report_sections(run)}
    if run.kind == "replay":
        chosen = request.args.get("field", "")
        rows = diff_rows(run, chosen if chosen in field_names(run) else "")
        page = _number(request.args.get("page"), 1, 1, max(1, -(-len(rows) // DIFF_PER_PAGE)))
        context.update(field=chosen, fields=field_names(run), diff_total=len(rows), page=page,
                       per_page=DIFF_PER_PAGE, rows=rows[(page - 1) * DIFF_PER_PAGE:page * DIFF_PER_PAGE])
    return render_template("simulations/run.html", **context)


# -- JSON -------------------------------------------------------------------------------------------

@simulations.get("/api/simulations")
@requires(VIEW)
def api_list():
    for name in ("limit", "offset"):
        if request.args.get(name, "0").strip() and _whole(request.args.get(name, "0")) is None:
            return jsonify({"error": f"{name} must be a whole number, e.g. {name}=20"}), 400
    limit = _number(request.args.get("limit"), PER_PAGE, 1, MAX_PER_PAGE)
    offset = _number(request.args.get("offset"), 0, 0, 10**9)
    repo = repository()
    return jsonify({"runs": [run.to_json() for run in repo.page(limit=limit, offset=offset)],
                    "total": repo.count(), "limit": limit, "offset": offset})


@simulations.get("/api/simulations/<int:run_id>")
@requires(VIEW)
def api_shown(run_id: int):
    run = _run_or_none(run_id)
    if run is None:
        return jsonify({"error": f"no simulation run {run_id}; GET /api/simulations lists them"}), 404
    return jsonify(run.to_json())


# -- helpers ----------------------------------------------------------------------------------------

def _run_or_none(run_id: int):
    if run_id > LARGEST_ID:
        return None
    try:
        return repository().get(run_id)
    except SimulationRunNotFound:
        return None


def _index_with(problems: list[str], asked: dict):
    """The list again, with the form as typed and what was wrong with it beside it."""
    repo, jobs = repository(), page_simulations()
    return render_template("simulations/index.html", runs=repo.page(limit=PER_PAGE), total=repo.count(), page=1,
                           per_page=PER_PAGE, running=jobs.running, last=jobs.last, limits=_limits(),
                           asked=asked, problems=problems, refresh=REFRESH_SECONDS)


def _limits() -> dict:
    return {"incidents": MAX_FORM_INCIDENTS, "days": MAX_FORM_DAYS}


def _default_form() -> dict:
    return {"incidents": "200", "days": "7", "seed": "1"}


def _whole(text: str) -> int | None:
    """A whole number as typed in a form (digits, an optional minus), else None."""
    stripped = text.lstrip("-")
    return int(text) if stripped.isdigit() and stripped.isascii() and len(stripped) <= 12 else None


def _number(text: str | None, default: int, low: int, high: int) -> int:
    """A paging number from the query: absent or unreadable is the default, out of range the nearer bound."""
    value = _whole(text or "")
    return default if value is None else min(max(value, low), high)


# -- the report as the run page shows it --------------------------------------------------------------

def report_sections(run) -> list[dict]:
    """Each figure as labelled rows of values: one column for a simulation, baseline and candidate for a replay."""
    sides = [run.summary] if run.kind == "simulate" else [run.summary.get("baseline", {}),
                                                            run.summary.get("candidate", {})]
    sections = []
    for key, title, unit, definition in SECTIONS:
        figures = [_values(side.get(key, {}), key) for side in sides]
        labels = list(dict.fromkeys(label for values in figures for label in values))
        rows = [{"label": label, "values": [values.get(label) for values in figures]} for label in labels]
        sections.append({"key": key, "title": title, "unit": unit, "definition": definition, "rows": rows,
                         "chart": _chart(title, unit, rows, run.kind == "replay") if rows else None})
    return sections


def _chart(title: str, unit: str, rows: list[dict], replay: bool):
    fmt = UNITS[unit]
    if not replay:
        return bar_chart(title, {row["label"]: row["values"][0] for row in rows}, fmt)
    return grouped_bars(title, {row["label"]: dict(zip(SIDES, row["values"], strict=True)) for row in rows},
                        SIDES, fmt)


def _values(figure: dict, key: str) -> dict:
    if key == "sla_attainment":
        return {name: row["rate"] for name, row in figure.items()}
    return dict(figure)


def field_names(run) -> list[str]:
    return [name for name in COMPARED if name in run.summary.get("changed_by_field", {})]


def diff_rows(run, field: str = "") -> list[dict]:
    """A replay's changed tickets, each with what changed per compared field (only `field`'s when given)."""
    changed = (run.details or {}).get("changed", {})
    return [{"ticket": ticket, "cells": [_change(fields.get(name)) for name in COMPARED]}
            for ticket, fields in changed.items() if not field or field in fields]


def _change(pair) -> dict | None:
    if pair is None:
        return None
    before, after = (", ".join(v) if isinstance(v, list) else v for v in pair)
    return {"before": before if before not in (None, "") else "–", "after": after if after not in (None, "") else "–"}
