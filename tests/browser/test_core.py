"""Logging in, the live board and a ticket's timeline, in a real browser."""
from __future__ import annotations

import re

import pytest

from .conftest import PASSWORD, outage, screenshot

HOSTILE = '<script>alert("xss")</script>{{7*7}} <img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def seeded(live_server):
    live_server.jira(outage("SUP-7"), "d-7")
    live_server.jira(outage("SUP-8", summary=f"Payments failing {HOSTILE}",
                            description="See [details|javascript:alert(2)] and javascript:alert(3)"), "d-8")
    return live_server


def test_a_newcomer_is_sent_to_log_in_and_back_to_the_page_they_asked_for(anonymous, seeded):
    seeded.user("lead")
    anonymous.goto("/tickets/jira/SUP-7")
    assert "/login" in anonymous.url
    anonymous.fill("input[name=name]", "lead-1")
    anonymous.fill("input[name=password]", "wrong password!")
    anonymous.click("button[type=submit]")
    assert anonymous.get_by_text("Wrong name or password.").is_visible()
    anonymous.fill("input[name=name]", "lead-1")
    anonymous.fill("input[name=password]", PASSWORD)
    anonymous.click("button[type=submit]")
    anonymous.wait_for_url(re.compile(r"/tickets/jira/SUP-7$"))
    screenshot(anonymous, "ticket")


def test_login_never_redirects_off_the_site(anonymous, seeded):
    seeded.user("viewer")
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example/", "javascript:alert(1)"):
        anonymous.goto(f"/login?next={target}")
        anonymous.fill("input[name=name]", "viewer-1")
        anonymous.fill("input[name=password]", PASSWORD)
        anonymous.click("button[type=submit]")
        anonymous.wait_for_load_state()
        assert anonymous.url.startswith(seeded.url), target
        anonymous.context.clear_cookies()


def test_the_live_board_lists_open_escalations_by_level_and_filters_them(logged_in, seeded):
    page = logged_in("viewer")
    page.goto("/")
    assert page.locator("tr[data-key='jira/SUP-7']").is_visible()
    assert page.locator("tr[data-key='jira/SUP-8']").is_visible()
    assert page.locator("section.level-group").count() >= 1
    assert page.locator("tr[data-key='jira/SUP-7'] .state").first.inner_text().strip()    # a clock is shown
    screenshot(page, "live")
    page.select_option("select[name=severity]", "critical")
    page.wait_for_url(re.compile(r"severity=critical"))
    page.wait_for_selector("tr[data-key='jira/SUP-8']", state="detached")
    assert "1 of 2 open escalations shown" in page.get_by_test_id("summary").inner_text()
    assert page.locator("tr[data-key='jira/SUP-7']").is_visible()


def test_customer_text_is_shown_as_text_and_never_runs(logged_in, seeded):
    page = logged_in("lead")
    page.goto("/tickets/jira/SUP-8")
    summary = page.locator("p.summary").inner_text()
    assert HOSTILE in summary and "49" not in summary           # escaped, and never evaluated as a template
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("img[src=x]").count() == 0
    assert page.locator("a[href^='javascript:']").count() == 0
    page.goto("/")
    assert page.locator("tr[data-key='jira/SUP-8']").inner_text().count("<script>") == 1
    screenshot(page, "ticket-hostile-text")


def test_a_timeline_explains_each_decision_with_its_rules(logged_in, seeded):
    page = logged_in("viewer")
    page.goto("/")
    page.click("a[href='/tickets/jira/SUP-7']")
    page.wait_for_url(re.compile(r"/tickets/jira/SUP-7$"))
    first = page.locator("li.entry").first
    assert "created" in first.inner_text()
    first.locator("details.trace summary").click()
    assert first.locator("details.trace table").is_visible()
    assert page.locator("table.timers tbody tr").count() >= 1


def test_a_trainee_cannot_see_live_tickets_and_is_told_why(logged_in, seeded):
    page = logged_in("trainee")
    answer = page.goto("/tickets/jira/SUP-7")
    assert answer.status == 403
    assert "needs one of" in page.inner_text("main")


def test_logging_out_ends_the_session(logged_in, seeded):
    page = logged_in("viewer")
    page.click("text=Log out")
    page.wait_for_url(re.compile(r"/login"))
    page.goto("/")
    assert "/login" in page.url
