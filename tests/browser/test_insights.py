"""The insights page in a real browser, on a simulated month loaded as `escalator simulate --into-db`
loads it: simulated tickets shown once asked, a narrower period picked, the CSV offered for it."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from plugin.store.simulated_sql import load_month
from simulator.generator import generate
from simulator.into_db import month_of, rating_deliveries, recent_start
from simulator.replay import replay

from ..conftest import RULES
from .conftest import screenshot


@pytest.fixture(scope="module")
def month(live_server):
    start = datetime.fromisoformat(recent_start(20)).replace(tzinfo=UTC)
    generated = generate(seed=9, incidents=60, days=20, start=start)
    rated = rating_deliveries(generated)
    month = month_of(replay(generated, RULES, engine="python", lean=True, consume=True), 9, rated)
    load_month(live_server.container.store, month)
    return month


def test_a_lead_sees_the_simulated_month_then_picks_the_last_week(logged_in, live_server, month):
    page = logged_in("lead")
    page.goto("/insights")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Insights"
    assert page.get_by_text(f"{len(month.tickets)} simulated tickets opened in this period are left out").is_visible()
    page.check("input[name=simulated]")
    page.click("form.period button[type=submit]")
    page.wait_for_url(re.compile(r"simulated=1"))
    assert page.locator("svg.chart").count() == 9
    volume = page.locator("#volume h2").inner_text()
    assert int(re.search(r"(\d+) tickets", volume).group(1)) > 0
    assert page.locator("#mtta .definition").inner_text().startswith("Definition: Mean time from the ack timer")
    screenshot(page, "insights")

    today = datetime.now(UTC).date()
    since = (today - timedelta(days=6)).isoformat()
    page.fill("input[name=since]", since)
    page.click("form.period button[type=submit]")
    page.wait_for_url(re.compile(rf"since={since}"))
    assert page.locator("input[name=since]").input_value() == since
    assert page.locator("input[name=simulated]").is_checked()
    compared = page.locator("section[aria-labelledby=h-compare] p.muted").inner_text()
    assert compared.startswith(f"{since} to {today.isoformat()}, compared with {(today - timedelta(days=13))}")
    assert f"since={since}" in page.locator("a.download").get_attribute("href")
    screenshot(page, "insights-week")
