"""`/insights`, `/api/insights` and `/insights.csv` in the Flask test client, on a simulated month
loaded as `escalator simulate --into-db` does, beside a real ticket whose fields are hostile."""
from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest

from plugin.store.schema import tickets
from plugin.store.simulated_sql import load_month
from simulator.generator import generate
from simulator.into_db import month_of, rating_deliveries
from simulator.replay import replay
from web import charts

from .conftest import RULES, START
from .openapi_check import check_response
from .test_web_reviews import browser, log_in

HOSTILE = '<script>alert(1)</script>{{7*7}}'
FORMULA = "=HYPERLINK(\"http://x\")"


@pytest.fixture(scope="module")
def month():
    generated = generate(seed=5, incidents=40, days=20, start=START - timedelta(days=25))
    rated = rating_deliveries(generated)
    return month_of(replay(generated, RULES, engine="python", lean=True, consume=True), 5, rated)


@pytest.fixture
def client(make_app, month):
    client = browser(make_app())
    store = client.application.extensions["escalator"].store
    load_month(store, month)
    opened = START - timedelta(days=2)
    with store.engine.begin() as conn:
        conn.execute(tickets.insert().values(platform="jira", key="SUP-1", severity="high", level="L2", owner="oncall",
                                             labels=[], snapshot={"product_area": FORMULA + HOSTILE}, created_at=opened,
                                             updated_at=opened))
    return client


@pytest.fixture
def lead(client):
    log_in(client, "lead")
    return client


def test_the_page_shows_every_figure_with_its_definition_and_what_it_left_out(lead):
    page = lead.get("/insights?simulated=1")
    assert page.status_code == 200
    for heading in ("Volume by severity", "Escalation rate by product area", "MTTA by severity over time",
                    "MTTR (resolve) by severity over time", "SLA attainment per timer and level",
                    "Dwell time per level", "CSAT after resolution by escalation path", "Bottlenecks"):
        assert heading in page.text
    assert page.text.count('role="img"') == 9
    assert page.text.count("<strong>Definition:</strong>") == 8
    assert re.search(r"Left out:</strong>\s*\d+ — tickets never acknowledged", page.text)


def test_simulated_tickets_are_left_out_until_asked_and_the_page_says_how_many(lead, month):
    real = lead.get("/insights").text
    assert f"{len(month.tickets)} simulated tickets opened in this period are left out" in real
    assert "1 tickets</small>" in real
    shown = lead.get("/insights?simulated=1").text
    assert f"{len(month.tickets) + 1} tickets</small>" in shown and "are left out" not in shown


def test_customer_text_is_shown_escaped_in_html_and_in_the_charts(lead):
    page = lead.get("/insights").text
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}" in page and "{{7*7}} (1)</text>" in page


def test_a_period_picks_tickets_by_opening_day_and_is_compared_with_the_one_before(lead):
    page = lead.get(f"/insights?since={(START - timedelta(days=3)).date()}&until={START.date()}").text
    assert 'value="2026-11-27"' in page and 'value="2026-11-30"' in page
    assert "compared with 2026-11-23 to 2026-11-27" in page
    answer = check_response(lead.get("/api/insights?since=2026-11-27&until=2026-11-30&simulated=1"), "GET",
                            "/api/insights?since=2026-11-27&until=2026-11-30&simulated=1")
    body = answer.get_json()
    assert body["period"]["since"] == "2026-11-27T00:00:00+00:00"
    assert body["previous_period"] == {**body["previous_period"], "since": "2026-11-23T00:00:00+00:00",
                                       "until": "2026-11-27T00:00:00+00:00"}
    assert body["comparison"]["tickets"]["current"] == body["volume"]["total"]


def test_the_api_is_described_by_its_openapi_fragment(lead):
    body = check_response(lead.get("/api/insights?simulated=1"), "GET", "/api/insights?simulated=1").get_json()
    assert body["simulated"] is True and body["volume"]["total"] > 1
    assert body["mtta"]["excluded"]["what"].startswith("tickets never acknowledged")


@pytest.mark.parametrize("query, problem", [
    ("since=2026-13-01", "YYYY-MM-DD"), ("since=2026-11-20&until=2026-11-01", "is after until"),
    ("since=2024-01-01&until=2026-01-01", "at most 366 days"),
    ("since=0001-01-01&until=0001-01-02", "between 1970-01-01 and 9998-12-31"),
    ("until=9999-12-31", "between 1970-01-01 and 9998-12-31")])
def test_a_bad_period_is_a_400_that_says_what_to_send(lead, query, problem):
    answer = check_response(lead.get(f"/api/insights?{query}"), "GET", f"/api/insights?{query}")
    assert answer.status_code == 400 and problem in answer.get_json()["error"]
    page = lead.get(f"/insights?{query}")
    assert page.status_code == 400 and problem in page.text


def test_the_csv_has_one_row_per_number_and_no_cell_a_spreadsheet_would_run(lead):
    answer = lead.get("/insights.csv?simulated=1&since=2026-11-01&until=2026-11-30")
    assert answer.mimetype == "text/csv"
    assert 'filename="insights-2026-11-01-2026-11-30.csv"' in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["figure", "group", "item", "measure", "value"]
    figures = {row[0] for row in rows[1:]}
    assert {"volume", "escalation_rate", "mtta", "mttr", "sla", "dwell", "csat", "bottlenecks",
            "comparison"} <= figures
    excluded = next(row for row in rows if row[:2] == ["mtta", "excluded"])
    assert excluded[2].startswith("tickets never acknowledged") and excluded[3] == "count"
    areas = {row[2] for row in rows if row[:2] == ["escalation_rate", "product_area"]}
    assert "'" + FORMULA + HOSTILE in areas and FORMULA + HOSTILE not in areas


def test_scripts_get_the_csv_from_the_api_with_the_token(make_app):
    client = make_app(api_token="t0ken").test_client()
    bearer = {"Authorization": "Bearer t0ken"}
    assert client.get("/api/insights.csv").status_code == 401
    answer = check_response(client.get("/api/insights.csv", headers=bearer), "GET", "/api/insights.csv")
    assert answer.mimetype == "text/csv" and answer.text.startswith("figure,group,item,measure,value\n")
    refused = client.get("/api/insights.csv?since=nope", headers=bearer)
    assert check_response(refused, "GET", "/api/insights.csv?since=nope").status_code == 400


@pytest.mark.parametrize("role, status", [("viewer", 200), ("trainer", 200), ("trainee", 403)])
def test_every_role_that_views_may_read_insights(client, role, status):
    log_in(client, role)
    assert client.get("/insights").status_code == status
    assert client.get("/api/insights").status_code == status


def test_a_visitor_who_is_not_logged_in_is_sent_to_log_in(client):
    answer = client.get("/insights")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_a_bar_chart_writes_values_on_the_bars_and_escapes_labels():
    svg = charts.bar_chart("Tickets <by> area", {HOSTILE: 3, "search": None}, note="a & b")
    assert "<title" in svg and "Tickets &lt;by&gt; area" in svg
    assert HOSTILE not in svg and "&lt;script&gt;" in svg
    assert ">3</text>" in svg and ">no data</text>" in svg
    assert "search: no data" in svg and "a &amp; b" in svg


def test_grouped_bars_tell_series_apart_by_hatching_and_a_legend():
    svg = charts.grouped_bars("SLA", {"ack": {"L1": 0.5, "L2": 1.0}}, ["L1", "L2"], charts.percent)
    assert svg.count("<pattern") == 1 and "url(#" in svg
    assert ">50%</text>" in svg and ">100%</text>" in svg and ">L2</text>" in svg


def test_a_line_chart_marks_each_series_with_its_own_shape_and_leaves_gaps():
    svg = charts.line_chart("MTTA", {"critical": [("2026-11-01", 10.0), ("2026-11-02", None), ("2026-11-03", 12.0)],
                                     "high": [("2026-11-01", 30.0), ("2026-11-02", 20.0), ("2026-11-03", None)]})
    assert svg.count("<polyline") == 3      # critical's two runs either side of its gap, and high's one
    assert "<circle" in svg and "<rect" in svg and 'stroke-dasharray="6 3"' in svg
    assert "critical, 2026-11-03: 12" in svg


def test_an_empty_database_gets_a_page_that_says_how_to_fill_it(make_app):
    client = browser(make_app())
    log_in(client, "viewer")
    page = client.get("/insights")
    assert page.status_code == 200
    assert "No ticket was opened from 2026-11-01 to 2026-11-30" in page.text
    assert "escalator simulate --into-db" in page.text
    body = check_response(client.get("/api/insights"), "GET", "/api/insights").get_json()
    assert body["mtta"]["overall"] is None and body["comparison"]["mttr_hours"]["change"] is None
