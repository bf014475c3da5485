"""The matrix page in a real browser: the table, picking two stored versions and reading their diff."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest

from plugin.bootstrap import read_sources
from plugin.matrix.stored import matrix_from_files

from ..conftest import RULES
from .conftest import screenshot

HOSTILE = '<script>alert("xss")</script>{{7*7}}'


@pytest.fixture(scope="module")
def older(live_server):
    """A version that was live a day before the shipped one: a longer critical ack, a hostile level name."""
    files = read_sources(RULES)
    text = files["matrix.yaml"]
    for old, new in (("critical: {ack: 15m", "critical: {ack: 20m"),
                     ("name: Frontline triage", f"name: 'Frontline {HOSTILE}'")):
        assert old in text
        text = text.replace(old, new, 1)
    files = {**files, "matrix.yaml": text}
    matrix, problems = matrix_from_files(files)
    assert not problems
    with live_server.container.store.transaction() as tx:
        tx.remember_matrix(matrix.version, files, live_server.container.clock.now() - timedelta(days=1))
    return matrix.version


def test_the_matrix_reads_as_levels_by_severities(logged_in, live_server):
    page = logged_in("trainer")
    page.goto("/matrix")
    assert page.locator("nav a[aria-current=page]").inner_text() == "Matrix"
    cell = page.locator("td.cell[data-severity=critical][data-level=L1]")
    assert "ack 15m" in cell.locator("ul.timers").inner_text()
    assert "ack.md.j2" in cell.locator("ul.messages").inner_text()
    assert page.locator("table.matrix-grid tbody tr").count() == 3
    assert page.get_by_text("✔ loads").is_visible()
    screenshot(page, "matrix")


def test_picking_two_versions_shows_what_changed(logged_in, live_server, older):
    page = logged_in("lead")
    page.goto("/matrix")
    current = live_server.container.matrix().matrix.version
    page.select_option("#diff-from", older)
    page.select_option("#diff-to", current)
    page.click("form.compare button[type=submit]")
    page.wait_for_url(re.compile(rf"/matrix/diff\?from={older}&to={current}$"))
    change = page.locator("table.changes tr", has_text="critical ack")
    assert re.search(r"~ changed\s+20m \(24x7\)\s+15m \(24x7\)", change.inner_text())
    level = page.locator("table.changes tr", has_text="Frontline")
    assert HOSTILE in level.inner_text()                # shown as text, never run or evaluated
    assert page.locator("table.diff tr.del", has_text="ack: 20m").count() == 1
    assert page.locator("table.diff tr.add", has_text="ack: 15m").count() == 1
    assert page.locator("script:not([src])").count() == 0
    screenshot(page, "matrix-diff")


def test_an_earlier_version_reads_as_the_same_table_with_a_note(logged_in, live_server, older):
    page = logged_in("viewer")
    page.goto("/matrix")
    page.click(f"table.versions a[href='/matrix?version={older}']")
    page.wait_for_url(re.compile(rf"/matrix\?version={older}$"))
    assert "not the matrix in force" in page.locator("p.notice").inner_text()
    cell = page.locator("td.cell[data-severity=critical][data-level=L1]")
    assert "ack 20m" in cell.locator("ul.timers").inner_text()
    assert HOSTILE in page.locator("tr#level-L1 th").inner_text()
    page.click("p.notice >> text=compare it with the one in force")
    page.wait_for_url(re.compile(r"/matrix/diff\?from="))
    assert page.locator("table.changes tr", has_text="critical ack").count() == 1
    screenshot(page, "matrix-earlier-version-diff")
