"""After-action reviews in a real browser: a team lead finds a ticket's review, writes in it, adds an
action item and changes its status and owner, and the change is still there after a reload."""
from __future__ import annotations

import re

import pytest

from .conftest import outage, screenshot

HOSTILE = '<script>alert("xss")</script>{{7*7}} <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def seeded(live_server):
    live_server.jira(outage("SUP-21"), "d-21")
    return live_server


def review_path(server) -> str:
    return f"/reviews/{server.container.store.review_of('jira', 'SUP-21').id}"


def test_a_lead_edits_an_action_items_status_and_owner_and_it_persists(logged_in, seeded):
    page = logged_in("lead")
    page.goto("/reviews")
    assert page.locator("nav.review-filter a[aria-current=page]").inner_text() == "All"
    screenshot(page, "reviews")
    page.click(f"a[href='{review_path(seeded)}']")
    page.wait_for_url(re.compile(r"/reviews/\d+$"))

    page.fill("#new-action input[name=title]", "Canary every checkout deploy")
    page.select_option("#new-action select[name=owner]", "platform-sre")
    page.fill("#new-action input[name=due]", "2026-12-20")
    page.fill("#new-action input[name=link]", "OPS-12")
    page.click("#new-action button[type=submit]")
    page.wait_for_url(re.compile(r"#actions$"))
    assert page.get_by_text("Action item added.").is_visible()

    page.select_option("#status-1", "done")
    page.select_option("#owner-1", "cto")
    page.click("#form-action-1 button[type=submit]")
    page.wait_for_url(re.compile(r"#action-1$"))
    page.reload()
    assert page.locator("#status-1").input_value() == "done"
    assert page.locator("#owner-1").input_value() == "cto"
    assert page.locator("#due-1").input_value() == "2026-12-20"
    item = seeded.container.store.review(int(review_path(seeded).rsplit("/", 1)[1])).action(1)
    assert (item.status, item.owner) == ("done", "cto")
    screenshot(page, "review-action-item-edited")


def test_a_lead_writes_a_section_and_moves_the_review_on_and_text_stays_text(logged_in, seeded):
    page = logged_in("lead")
    page.goto(review_path(seeded))
    assert "pre-filled from the log" in page.inner_text("#sections")
    page.fill("#section-why_it_happened", HOSTILE)
    page.click("#sections button[type=submit]")
    page.wait_for_url(re.compile(r"#sections$"))
    assert page.locator("#section-why_it_happened").input_value() == HOSTILE      # shown as typed, never run
    page.click("#status button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("h1 .review-status").inner_text() == "In review"
    assert page.locator("script:not([src])").count() == 0 and page.locator("img[src=x]").count() == 0
    screenshot(page, "review")


def test_a_viewer_reads_a_review_without_its_forms(logged_in, seeded):
    page = logged_in("viewer")
    page.goto(review_path(seeded))
    assert page.locator("table.timeline tbody tr").count() >= 1
    assert page.locator("textarea, #new-action").count() == 0
