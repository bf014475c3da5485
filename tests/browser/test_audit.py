"""The audit page in a real browser: a lead reads the matrix's health on a simulated month plus two real
deliveries, then runs a what-if with a candidate that lowers enterprise outages to high, and a broken one."""
from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from plugin.store.simulated_sql import load_month
from simulator.generator import generate
from simulator.into_db import month_of, rating_deliveries, recent_start
from simulator.replay import replay

from ..conftest import RULES
from .conftest import outage, screenshot

HOSTILE = "<script>alert(1)</script>{{7*7}}"


@pytest.fixture(scope="module")
def seeded(live_server):
    start = datetime.fromisoformat(recent_start(20)).replace(tzinfo=UTC)
    generated = generate(seed=5, incidents=40, days=20, start=start)
    month = month_of(replay(generated, RULES, engine="python", lean=True, consume=True), 5,
                     rating_deliveries(generated))
    load_month(live_server.container.store, month)
    live_server.jira(outage("SUP-71"), "audit-71")
    live_server.jira(outage("SUP-72", summary=f"Checkout is down {HOSTILE}"), "audit-72")
    return month


def test_a_lead_reads_the_health_of_the_matrix_with_simulated_tickets(logged_in, live_server, seeded):
    page = logged_in("lead")
    page.goto("/audit")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Audit"
    assert page.get_by_text(f"{len(seeded.tickets)} simulated tickets are left out").is_visible()
    page.check("form[data-testid=audit-options] input[name=simulated]")
    page.click("form[data-testid=audit-options] button[type=submit]")
    page.wait_for_url(re.compile(r"simulated=1"))
    score = int(page.get_by_test_id("score").inner_text())
    assert 0 <= score <= 100
    assert "100 minus" in page.get_by_test_id("health").inner_text()
    rules = page.get_by_test_id("rules").inner_text()
    assert "enterprise outage is critical" in rules and "regulator notice recorded" in rules
    assert "no timer" in page.get_by_test_id("handoffs").inner_text()
    assert page.locator("#timers svg.chart").count() == 1
    assert "unrealistic" in page.get_by_test_id("timers").inner_text()
    screenshot(page, "audit")


def test_a_what_if_shows_the_tickets_a_candidate_decides_differently(logged_in, live_server, seeded):
    page = logged_in("lead")
    page.goto("/audit")
    area = page.locator("#candidate")
    text = area.input_value()
    assert text.startswith("# Escalator escalation matrix")
    area.fill(text.replace("then: {severity: critical, level: L1, labels: [escalation, outage]}",
                           "then: {severity: high, level: L1, labels: [escalation, outage]}", 1))
    page.select_option("select[name=days]", "1")
    page.get_by_test_id("run-what-if").click()
    summary = page.get_by_test_id("what-if-summary")
    summary.wait_for(timeout=60_000)
    assert re.search(r"2 of 2 tickets", summary.inner_text())
    changes = page.get_by_test_id("what-if-changes").inner_text()
    assert "jira/SUP-71" in changes and "critical" in changes and "high" in changes
    assert page.url.endswith("/audit")           # htmx put the result under the form
    screenshot(page, "audit-what-if")

    area.fill("levels: [\n")
    page.get_by_test_id("run-what-if").click()
    problems = page.get_by_test_id("what-if-problems")
    problems.wait_for(timeout=30_000)
    assert "matrix.yaml:" in problems.inner_text() and "YAML syntax" in problems.inner_text()


def test_a_trainer_may_not_open_the_audit(logged_in, live_server):
    page = logged_in("trainer")
    assert page.goto("/audit").status == 403
    assert page.locator("nav").get_by_text("Audit").count() == 0
