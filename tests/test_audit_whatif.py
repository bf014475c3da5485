"""What if: a broken candidate comes back as its problems with line numbers; a valid one is replayed
with the matrix in force on the same deliveries, and each ticket it decides differently is listed."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plugin.audit_whatif import MAX_MATRIX_BYTES, what_if
from plugin.matrix import load_matrix
from simulator.generator import generate

from .conftest import RULES

START = datetime(2026, 1, 5, tzinfo=UTC)
SHIPPED = (RULES / "matrix.yaml").read_text()


@pytest.fixture(scope="module")
def rows():
    generated = generate(seed=11, incidents=6, days=1, start=START)
    return [{"received_at": d.at, "platform": d.platform, "headers": d.headers, "body": d.body}
            for d in generated if d.at < START + timedelta(days=1)]


def edited(old: str, new: str) -> str:
    assert old in SHIPPED
    return SHIPPED.replace(old, new, 1)


@pytest.mark.parametrize("candidate, message, line", [
    pytest.param(edited("then: {severity: critical, level: L1, labels: [escalation, outage]}",
                        "then: {severity: critcal, level: L1}"), "unknown severity 'critcal'", 160, id="a typo"),
    pytest.param("severities: {critical: {jira: Highest\nlevels: {}\n", "YAML syntax", 1, id="YAML syntax"),
    pytest.param("base: &b {a: 1}\nother: *b\n", "YAML alias *b is not accepted", 2, id="an alias"),
    pytest.param(edited("    timers: [regulator_notice]\n", "    timers: [ack]\n"),
                 "timer 'regulator_notice' (started by exception 'EU personal-data incident') can never be stopped",
                 245, id="a timer nothing stops"),
])
def test_a_broken_candidate_is_refused_with_each_problem_and_its_line(candidate, message, line):
    result = what_if(candidate, RULES, [], 0)
    assert result["valid"] is False
    found = [p for p in result["problems"] if message in p["message"]]
    assert found and found[0]["line"] == line and found[0]["file"] == "matrix.yaml"


def test_a_candidate_too_large_to_read_is_refused_before_it_is_parsed():
    result = what_if("#" * (MAX_MATRIX_BYTES + 1), RULES, [], 0)
    assert [p["message"] for p in result["problems"]] == [
        f"the matrix is {MAX_MATRIX_BYTES + 1:,} bytes; at most {MAX_MATRIX_BYTES:,} are accepted"]


def test_the_matrix_in_force_as_its_own_candidate_changes_nothing(rows):
    result = what_if(SHIPPED, RULES, rows, len(rows) + 50, engine="python")
    assert result["valid"] is True and result["findings"] == []
    assert (result["deliveries"], result["total"]) == (len(rows), len(rows) + 50)
    assert result["tickets"] > 0 and result["changed"] == []
    assert result["current_version"] == result["candidate_version"] == load_matrix(RULES).version
    assert result["totals"]["breaches"][0] == result["totals"]["breaches"][1]


def test_a_stricter_acknowledgement_shows_the_tickets_it_would_breach(rows):
    candidate = edited("critical: {ack: 15m,", "critical: {ack: 1m,").replace(
        "high:     {ack: 1h,", "high:     {ack: 1m,").replace("normal:   {ack: 4h,", "normal:   {ack: 1m,")
    result = what_if(candidate, RULES, rows, len(rows), engine="python")
    assert result["valid"] is True and result["changed"]
    before, after = result["totals"]["breaches"]
    assert after > before
    changed = result["changed"][0]
    assert set(changed["fields"]) <= {"severity", "level", "owner", "first_page", "breaches"}
    assert all(set(v) == {"current", "candidate"} for v in changed["fields"].values())
    assert any("ack" in (v["candidate"] or []) for c in result["changed"] for f, v in c["fields"].items()
               if f == "breaches")
