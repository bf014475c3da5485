"""Drills in a real browser: a trainer starts a drill for a trainee; the trainee logs in, finds it, plays
the matrix's own answers through the page's forms, finishes and reads the score and debrief."""
from __future__ import annotations

import re

import pytest

from simulator.drills.scoring import _action_json
from simulator.drills.solution import solve
from simulator.scenarios import load_scenario

from ..conftest import ROOT, RULES
from .conftest import screenshot

SCENARIO = "01-checkout-outage-unacknowledged.yaml"
SELECTS = ("to", "channel", "template", "name")


@pytest.fixture(scope="module")
def solution() -> list[dict]:
    return [_action_json(a) for a in solve(load_scenario(ROOT / "scenarios" / SCENARIO), RULES)]


def start_drill(page, trainee: str) -> str:
    page.goto("/drills")
    page.select_option("#start select[name=scenario]", SCENARIO)
    page.fill("#start input[name=trainee_0]", trainee)
    page.check("#start input[name=mode][value=step]")
    screenshot(page, "drills-trainer")
    page.click("#start button[type=submit]")
    page.wait_for_url(re.compile(r"/drills/\d+$"))
    return page.url.rsplit("/", 1)[1]


def act(page, action: dict) -> None:
    """Fill and send the action's own form, as a trainee would."""
    form = page.locator(f"#do-{action['do']}")
    for name in SELECTS:
        if name in action and form.locator(f"select[name={name}]").count():
            form.locator(f"select[name={name}]").select_option(action[name])
    if action["do"] == "handover":
        form.locator("input[name=to]").fill(action["to"])
    if "text" in action:
        form.locator("textarea[name=text]").fill(action["text"])
    form.locator("input[name=rationale]").fill(action.get("rationale", ""))
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"#act$"))
    assert page.locator("#drill-error").count() == 0, page.locator("#drill-error").inner_text()


def advance_to(page, at: str) -> None:
    if page.locator(".drill-clock .now").inner_text() == at:
        return
    page.fill(".advance-to input[name=to]", at)
    page.click(".advance-to button[type=submit]")
    page.wait_for_function("at => document.querySelector('.drill-clock .now').textContent === at", arg=at)


def test_a_trainer_starts_a_drill_and_the_trainee_plays_it_to_the_debrief(logged_in, live_server, solution):
    trainee = live_server.user("trainee", "ana")
    session = start_drill(logged_in("trainer"), trainee)

    page = logged_in("trainee", "ana")
    page.goto("/drills")
    page.click(f"a[href='/drills/{session}']")
    page.wait_for_url(re.compile(rf"/drills/{session}$"))
    assert "SUP-412: Checkout down for all our shoppers" in page.inner_text("#live")
    assert page.locator(".drill-clock .now").inner_text() == "+0m"
    for action in solution:
        advance_to(page, action["at"])
        act(page, action)
        if action["at"] == "+22m":
            screenshot(page, "drill-play")
    assert page.locator("table.decisions tbody tr").count() == len(solution)

    page.click("button.finish")
    page.wait_for_selector("#score")
    assert page.locator("#score").inner_text().startswith("100")
    assert page.locator("tr.failed").count() == 0 and page.locator("tr.passed").count() > 5
    assert page.get_by_role("heading", name="Corrective actions").is_visible()
    assert page.get_by_role("heading", name="Timeline: the trainees beside the matrix").is_visible()
    screenshot(page, "drill-result")
    page.goto("/drills")
    assert page.locator(f"a[href='/drills/{session}']").inner_text() == f"Result {session}"
    screenshot(page, "drills-trainee")


def test_another_trainee_cannot_open_someone_elses_drill(logged_in, live_server):
    session = start_drill(logged_in("trainer"), live_server.user("trainee", "ana"))
    page = logged_in("trainee", "ben")
    page.goto("/drills")
    assert page.locator(f"a[href='/drills/{session}']").count() == 0
    assert page.goto(f"/drills/{session}").status == 404


def test_an_accelerated_drill_runs_on_its_own_and_the_page_follows_it(logged_in, live_server):
    trainer = logged_in("trainer")
    trainer.goto("/drills")
    trainer.select_option("#start select[name=scenario]", SCENARIO)
    trainer.fill("#start input[name=trainee_0]", live_server.user("trainee", "ana"))
    trainer.check("#start input[name=mode][value=accelerated]")
    trainer.fill("#start input[name=speed]", "1200")                 # the three hours in nine seconds
    trainer.click("#start button[type=submit]")
    trainer.wait_for_url(re.compile(r"/drills/\d+$"))
    assert trainer.locator(".advance").count() == 0                   # no stepping: the clock runs
    assert trainer.locator(".drill-clock .over").count() == 0
    # htmx refreshes the clock every few seconds (no script of ours inline) until the story is over.
    trainer.wait_for_selector(".drill-clock .over", timeout=30_000)
    assert trainer.locator(".drill-clock .now").inner_text() == "+3h"
    trainer.click("button.finish")
    trainer.wait_for_selector("#score")
    trainer.goto("/drills")                                         # ana has two results now: a chart
    assert trainer.locator("figure.scores-chart svg[role=img]").is_visible()
    screenshot(trainer, "drills-progress")
