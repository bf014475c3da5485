"""The simulations page in a real browser: the kept reports listed, a simulation's report and a replay's
rule-change diff opened, customer text shown as text, and a trainer's own simulation started from the form."""
from __future__ import annotations

import re

import pytest

from plugin.simulation_reports import simulate_and_record
from plugin.store.simulation_runs import SimulationRunRepository

from ..conftest import RULES
from ..test_web_simulations import HOSTILE, hostile_replay
from .conftest import screenshot


@pytest.fixture(scope="module")
def kept(live_server):
    """A real small simulation and a replay whose tickets carry hostile text, kept in the server's database."""
    repo = SimulationRunRepository(live_server.container.store.engine)
    now = live_server.container.clock.now()
    simulation = simulate_and_record(repo, incidents=40, days=2, seed=6, rules=str(RULES), engine="python",
                                     created_at=now)
    return simulation, repo.record(hostile_replay(simulation))


def test_a_viewer_opens_the_list_then_a_simulation_report(logged_in, kept):
    simulation, replay = kept
    page = logged_in("viewer")
    page.goto("/simulations")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Simulations"
    assert page.locator("table.sim-runs tbody tr").count() == 2
    assert page.locator("form.sim-start").count() == 0, "a viewer cannot start one"
    screenshot(page, "simulations")

    page.click(f"text={simulation.title}")
    page.wait_for_url(re.compile(rf"/simulations/{simulation.id}$"))
    assert page.locator("h1").inner_text() == simulation.title
    assert page.locator("svg.chart").count() == 5
    assert page.locator("#volume_by_severity .definition").inner_text().startswith("Tickets by the severity")
    mtta = page.locator("table.sim-headline tr", has_text="MTTA").locator("td.num").inner_text()
    assert mtta == f"{simulation.summary['mtta_minutes']} min"
    screenshot(page, "simulation-run")


def test_a_replay_shows_its_diff_filtered_by_field_with_customer_text_as_text(logged_in, kept):
    page = logged_in("lead")
    page.goto(f"/simulations/{kept[1].id}")
    assert page.get_by_text("251 of 400 tickets decided differently").is_visible()
    assert page.locator("table.sim-diff tbody tr").count() == 100
    screenshot(page, "simulation-replay")
    page.locator("nav.sim-filter a", has_text="owner").click()
    page.wait_for_url(re.compile(r"field=owner"))
    rows = page.locator("table.sim-diff tbody tr")
    assert rows.count() == 1 and rows.first.locator("ins").first.inner_text() == HOSTILE
    assert page.locator("script", has_text="alert(1)").count() == 0


def test_a_trainer_starts_a_simulation_and_finds_its_report(logged_in, live_server, kept):
    page = logged_in("trainer")
    page.goto("/simulations")
    page.fill("input[name=incidents]", "150")
    page.fill("input[name=days]", "1")
    page.fill("input[name=seed]", "12")
    page.click("form.sim-start button[type=submit]")
    page.wait_for_url(re.compile(r"/simulations$"))
    assert page.get_by_text("Simulating 150 incidents over 1 day (seed 12)").is_visible()
    assert page.locator(".sim-running").is_visible(), "a few seconds of work: still running when the list shows"
    live_server.app.extensions["escalator.simulations"].wait(timeout=120)
    # No reload: while it ran, the list kept fetching itself.
    newest = page.locator("table.sim-runs tbody tr").first
    newest.get_by_text("Simulation: 150 incidents over 1 day, seed 12").wait_for(timeout=15_000)
    assert page.locator("table.sim-runs tbody tr").count() == 3 and page.locator(".sim-running").count() == 0
    screenshot(page, "simulations-started")
