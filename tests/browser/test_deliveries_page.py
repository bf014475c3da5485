"""The deliveries page in a real browser: the outbox counts and the dead letters with the platform's own
error shown as text; a viewer only reads, an admin puts a dead letter back in the queue."""
from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from plugin.store.port import OutboxRow
from plugin.store.reviews_sql import outbox_values
from plugin.store.schema import outbox

from .conftest import screenshot

HOSTILE_ERROR = 'PUT /rest/api/3/issue/SUP-9 answered HTTP 503: <img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def dead_letter(live_server) -> int:
    """A write-back that failed its last attempt, as the outbox worker leaves it; its id."""
    now = live_server.container.clock.now()
    row = outbox_values(OutboxRow("jira", "SUP-9", "assign", {"assignee": "user:5b10"}, [], "pending"), now)
    row.update(status="dead", attempts=20, last_error=HOSTILE_ERROR, finished_at=now)
    with live_server.container.store.engine.begin() as conn:
        return conn.execute(insert(outbox).values(row).returning(outbox.c.id)).scalar_one()


def status_of(live_server, outbox_id: int) -> tuple[str, int]:
    with live_server.container.store.engine.connect() as conn:
        return tuple(conn.execute(select(outbox.c.status, outbox.c.attempts).where(outbox.c.id == outbox_id)).one())


def test_a_viewer_sees_the_dead_letter_and_its_error_as_text_without_a_retry(logged_in, dead_letter):
    page = logged_in("viewer")
    page.goto("/deliveries")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Deliveries"
    row = page.locator(f"[data-testid=dead-letters] tr[data-outbox='{dead_letter}']")
    assert row.locator(".error-text").inner_text() == HOSTILE_ERROR
    assert row.locator("td.num").inner_text() == "20"
    assert page.locator("[data-testid=dead-letters] img").count() == 0
    assert page.locator("button", has_text="Retry").count() == 0, "only an admin may retry"
    counts = page.locator("[data-testid=outbox-counts]")
    assert counts.locator("th").all_inner_texts()[-1] == "dead" and counts.locator("td").all_inner_texts()[-1] == "1"
    screenshot(page, "deliveries")


def test_an_admin_puts_a_dead_letter_back_in_the_queue(logged_in, live_server, dead_letter):
    page = logged_in("admin")
    page.goto("/deliveries")
    page.click(f"[data-testid=retry-{dead_letter}]")
    page.wait_for_url("**/deliveries")
    assert page.get_by_role("status").inner_text() == \
        f"Write-back {dead_letter} is queued again, with a fresh count of attempts."
    assert page.get_by_text("No dead letters").is_visible()
    assert status_of(live_server, dead_letter) == ("pending", 0)
