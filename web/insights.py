"""`/insights`: the team lead's figures for a period, compared with the period before, as SVG charts,
JSON (`/api/insights`) and CSV (`/insights.csv`). Simulated tickets count only when asked."""
from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from plugin.access import VIEW
from plugin.insights import Period, compared, figures, good_rating
from plugin.store.insights_sql import newest_ticket, read_facts, simulated_count

from . import charts
from .auth import requires

insights = Blueprint("insights", __name__)
DEFAULT_DAYS = 30
LONGEST = timedelta(days=366)
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)     # so the period before is a date too
PRESETS = (7, 30, 90)


class BadPeriod(ValueError):
    pass


def compute(container, period: Period, simulated: bool) -> dict:
    """The period's figures, the previous period's headline and the comparison of the two."""
    now = container.clock.now()
    with container.store.reading() as tx:
        current = read_facts(tx.conn, period, simulated=simulated, rating=good_rating)
        before = read_facts(tx.conn, period.previous(), simulated=simulated, rating=good_rating)
    first = min(container.matrix().matrix.levels, key=lambda level: level.rank).id
    result = figures(current, period, now, first)
    previous = figures(before, period.previous(), now, first)
    return {**result, "simulated": simulated, "previous_period": previous["period"],
            "comparison": compared(result, previous)}


def period_from(args, today: date) -> Period:
    """`since` and `until` are days (YYYY-MM-DD), both included; by default the last 30 days."""
    try:
        until = date.fromisoformat(args["until"]) if args.get("until") else today
        since = date.fromisoformat(args["since"]) if args.get("since") else until - timedelta(days=DEFAULT_DAYS - 1)
    except ValueError as exc:
        raise BadPeriod(f"since and until are days written YYYY-MM-DD ({exc})") from None
    if since > until:
        raise BadPeriod(f"since ({since}) is after until ({until})")
    if since < EARLIEST or until > LATEST:
        raise BadPeriod(f"a period lies between {EARLIEST} and {LATEST}")
    period = Period(_midnight(since), _midnight(until + timedelta(days=1)))
    if period.until - period.since > LONGEST:
        raise BadPeriod("a period is at most 366 days")
    return period


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _request_period() -> tuple[Period, bool]:
    container = current_app.extensions["escalator"]
    return period_from(request.args, container.clock.now().date()), request.args.get("simulated") in ("1", "true")


@insights.get("/insights")
@requires(VIEW)
def index():
    container = current_app.extensions["escalator"]
    try:
        period, simulated = _request_period()
    except BadPeriod as exc:
        return render_template("error.html", code=400, message=str(exc)), 400
    result = compute(container, period, simulated)
    with container.store.reading() as tx:
        hidden = 0 if simulated else simulated_count(tx.conn, period)
        newest = newest_ticket(tx.conn, simulated)
    return render_template("insights/index.html", r=result, period=period, simulated=simulated, hidden=hidden,
                           newest=newest, shown=_shown(period), presets=_presets(container.clock.now().date()),
                           charts=_charts(result), query=request.query_string.decode())


@insights.get("/api/insights")
@requires(VIEW)
def api():
    try:
        period, simulated = _request_period()
    except BadPeriod as exc:
        return jsonify({"error": str(exc)}), 400
    return jsonify(compute(current_app.extensions["escalator"], period, simulated))


@insights.get("/insights.csv")
@insights.get("/api/insights.csv")      # the same file for scripts, with the API token
@requires(VIEW)
def download():
    try:
        period, simulated = _request_period()
    except BadPeriod as exc:
        if request.path.startswith("/api/"):
            return jsonify({"error": str(exc)}), 400
        return Response(str(exc) + "\n", status=400, mimetype="text/plain")
    result = compute(current_app.extensions["escalator"], period, simulated)
    shown = _shown(period)
    return Response(to_csv(result), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="insights-{shown["since"]}-{shown["until"]}.csv"'})


def _shown(period: Period) -> dict:
    return {"since": period.since.date().isoformat(), "until": (period.until - timedelta(days=1)).date().isoformat()}


def _presets(today: date) -> list[dict]:
    return [{"days": days, "since": (today - timedelta(days=days - 1)).isoformat(), "until": today.isoformat()}
            for days in PRESETS]


# -- CSV ------------------------------------------------------------------------------------------

def to_csv(result: dict) -> str:
    """One row per number: figure, group, item, measure, value; exclusions and definitions included."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["figure", "group", "item", "measure", "value"])
    writer.writerows([_cell(c) for c in row] for row in csv_rows(result))
    return out.getvalue()


def csv_rows(r: dict):
    yield "period", "", "", "since", r["period"]["since"]
    yield "period", "", "", "until", r["period"]["until"]
    yield from (("volume", "severity", sev, "tickets", n) for sev, n in r["volume"]["by_severity"].items())
    for area, row in r["escalation_rate"]["by_area"].items():
        yield from (("escalation_rate", "product_area", area, m, row[m]) for m in ("tickets", "escalated", "rate"))
    for name in ("mtta", "mttr"):
        unit = r[name]["unit"]
        for sev, row in r[name]["by_severity"].items():
            yield from ((name, "severity", sev, f"{m}_{unit}", row[m]) for m in ("count", "mean", "median"))
        for sev, points in r[name]["series"].items():
            yield from ((name, f"by_{r[name]['step']}:{sev}", day, f"mean_{unit}", v) for day, v in points)
    for row in r["sla"]["rows"]:
        yield from (("sla", row["timer"], row["level"], m, row[m]) for m in ("met", "missed", "rate"))
    for level, row in r["dwell"]["by_level"].items():
        yield from (("dwell", "level", level, f"{m}_hours", row[m]) for m in ("count", "mean", "median"))
    for path, row in r["csat"]["by_path"].items():
        yield from (("csat", "path", path, m, row[m]) for m in ("rated", "good", "rate"))
    for kind in ("owners", "areas"):
        for row in r["bottlenecks"][kind]:
            yield "bottlenecks", kind, row["name"], "mean_hours", row["mean"]
    for name in ("volume", "escalation_rate", "mtta", "mttr", "sla", "dwell", "csat", "bottlenecks"):
        yield name, "excluded", r[name]["excluded"]["what"], "count", r[name]["excluded"]["count"]
    for name, row in r["comparison"].items():
        yield from (("comparison", name, "", m, row[m]) for m in ("current", "previous", "change"))


def _cell(value) -> str:
    """Text as a spreadsheet will not run it: a leading = + - @ would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _number(text) else text


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# -- charts ---------------------------------------------------------------------------------------

def _charts(r: dict) -> dict:
    hours = lambda v: f"{charts.plain(v)} h"        # noqa: E731
    minutes = lambda v: f"{charts.plain(v)} min"    # noqa: E731
    sla_levels = sorted({row["level"] for row in r["sla"]["rows"]})
    sla_groups = {}
    for row in r["sla"]["rows"]:
        sla_groups.setdefault(row["timer"], {})[row["level"]] = row["rate"]
    return {
        "volume": charts.bar_chart("Tickets opened by severity", r["volume"]["by_severity"]),
        "escalation": charts.bar_chart("Escalation rate by product area", {
            f"{area} ({row['tickets']})": row["rate"] for area, row in r["escalation_rate"]["by_area"].items()},
            charts.percent),
        "mtta": charts.line_chart(f"Mean time to acknowledge by {r['mtta']['step']} of opening",
                                  r["mtta"]["series"], minutes),
        "mttr": charts.line_chart(f"Mean time to resolve by {r['mttr']['step']} of opening",
                                  r["mttr"]["series"], hours),
        "sla": charts.grouped_bars("SLA attainment by timer and level", sla_groups, sla_levels, charts.percent),
        "dwell": charts.bar_chart("Mean dwell per level", {
            level: row["mean"] for level, row in r["dwell"]["by_level"].items()}, hours),
        "csat": charts.bar_chart("Good ratings after resolution by escalation path", {
            f"{path} ({row['rated']})": row["rate"] for path, row in r["csat"]["by_path"].items()}, charts.percent),
        "owners": charts.bar_chart("Owners: mean time holding a ticket", {
            f"{row['name']} ({row['count']})": row["mean"] for row in r["bottlenecks"]["owners"]}, hours),
        "areas": charts.bar_chart("Product areas: mean dwell per level", {
            f"{row['name']} ({row['count']})": row["mean"] for row in r["bottlenecks"]["areas"]}, hours),
    }
