"""The matrix audit on hand-built facts and the shipped matrix: exact figures and the score."""
from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from plugin.audit import (
    PENALTIES,
    AuditFacts,
    OwnerLoad,
    Reach,
    RuleCount,
    TimerFact,
    audit,
    handoffs,
    owners,
    rule_activity,
    timer_targets,
)
from plugin.domain.errors import Problem
from plugin.domain.timers import BREACHED, PAUSED, RUNNING, STOPPED, Timer

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
T0 = NOW - timedelta(days=10)
MINUTE = timedelta(minutes=1)


def wall(calendar: str, start: datetime, end: datetime) -> int:
    """Working time on a 24x7 calendar: every second counts."""
    return int((end - start).total_seconds())


def ack(minutes_taken=None, state=None, target=15, started=T0, met_late=None):
    """A 15-minute ack timer met after `minutes_taken` (None: never stopped)."""
    stopped = started + minutes_taken * MINUTE if minutes_taken is not None and met_late is None else None
    state = state or (STOPPED if stopped else RUNNING)
    timer = Timer("ack", target * 60, "24x7", False, 0.8, state, started, started, started + target * MINUTE,
                  None, stopped_at=stopped)
    return TimerFact("critical", timer, started + met_late * MINUTE if met_late is not None else None)


def test_each_rule_gets_its_firings_per_window_and_the_silent_ones_are_listed(shipped_matrix):
    facts = AuditFacts(NOW, rules=[RuleCount("ticket resolved", "stop", "", 3, 10, 40, 38, NOW - MINUTE)],
                       log_entries=120)
    result = rule_activity(shipped_matrix, facts)
    row = next(r for r in result["rows"] if r["rule"] == "ticket resolved")
    assert (row["last_24h"], row["last_7d"], row["last_30d"], row["tickets_30d"]) == (3, 10, 40, 38)
    assert row["path"] == "stop_timers[4]"
    assert len(result["rows"]) == len(shipped_matrix.rules)
    assert "ticket resolved" not in result["never_fired"]
    assert len(result["never_fired"]) == len(shipped_matrix.rules) - 1


def test_without_any_logged_decision_no_rule_counts_as_never_fired(shipped_matrix):
    result = rule_activity(shipped_matrix, AuditFacts(NOW))
    assert result == {**result, "never_fired": [], "judged": False}


def test_an_owner_without_any_address_and_one_the_settings_cannot_reach_are_told_apart(shipped_matrix):
    parties = dict(shipped_matrix.parties)
    parties["data-eng"] = replace(parties["data-eng"], email="")
    matrix = replace(shipped_matrix, parties=parties)
    reach = Reach(email=False, slack=frozenset({"#support-escalations"}))
    rows = {r["owner"]: r for r in owners(matrix, reach, {})["rows"]}
    assert rows["data-eng"]["has_contact"] is False and rows["data-eng"]["contacts"] == {}
    assert rows["support-oncall"]["reachable"] is True
    assert rows["eu-privacy"] == {**rows["eu-privacy"], "has_contact": True, "reachable": False,
                                  "contacts": {"email": ["privacy-eu@example.com"]}}
    assert rows["vp-support"]["owns_at"] == ["level L3", "trigger 'safety concern goes to executives'"]


def test_an_owner_far_above_the_median_open_load_is_overloaded_and_an_idle_one_inactive(shipped_matrix):
    loads = {o.owner: o for o in (OwnerLoad("support-oncall", 40, 12), OwnerLoad("payments-eng", 9, 3),
                                  OwnerLoad("platform-sre", 6, 2), OwnerLoad("retired-team", 1, 1))}
    result = owners(shipped_matrix, Reach(), loads)
    rows = {r["owner"]: r for r in result["rows"]}
    assert result["median_open"] == 2.5
    assert [name for name, r in rows.items() if r["overloaded"]] == ["support-oncall"]
    assert rows["identity-eng"]["active"] is False and rows["payments-eng"]["active"] is True
    assert result["not_in_matrix"] == ["retired-team"]


def test_the_shipped_matrix_times_l1_to_l2_for_every_severity_but_l2_to_l3_only_for_critical(shipped_matrix):
    rows = {(h["from"], h["to"], h["severity"]): h["timers"] for h in handoffs(shipped_matrix)}
    assert rows[("L1", "L2", "critical")] == ["ack", "plan", "rca", "update"]
    assert rows[("L1", "L2", "low")] == ["ack"]
    assert rows[("L2", "L3", "critical")] == ["plan", "rca"]
    assert [k for k, timers in rows.items() if not timers] == [("L2", "L3", "high"), ("L2", "L3", "normal"),
                                                               ("L2", "L3", "low")]


def test_a_target_missed_often_is_unrealistic_and_history_suggests_the_time_nine_in_ten_were_met():
    # 20 acks: 12 met within 15 min, 6 met late (2 after a breach, from the log), 2 never met.
    facts = ([ack(m) for m in (2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14)] + [ack(m) for m in (20, 25, 31, 40)]
             + [ack(state=BREACHED, met_late=50), ack(state=BREACHED, met_late=55)]
             + [ack(state=BREACHED), ack(state=BREACHED)])
    [row] = timer_targets(facts, wall, NOW)
    assert (row["timer"], row["target"], row["severities"]) == ("ack", "15m", ["critical"])
    assert (row["started"], row["met"], row["missed"], row["never_met"], row["pending"]) == (20, 12, 8, 2, 0)
    assert row["miss_rate"] == 0.4 and row["unrealistic"] is True
    assert row["supported"] == "55m"        # the 18th of 20 sorted times: 55 min, rounded up to 5 min
    assert [b["count"] for b in row["distribution"]] == [5, 7, 1, 1, 4, 2]


@pytest.mark.parametrize("facts, supported, unrealistic", [
    pytest.param([ack(5)] * 9 + [ack(20)], "5m", False, id="one late in ten: realistic"),
    pytest.param([ack(5)] * 5 + [ack(state=BREACHED)] * 5, None, True, id="half never met: no target supported"),
    pytest.param([ack(5)] * 3, None, False, id="too few to judge"),
])
def test_supported_targets(facts, supported, unrealistic):
    [row] = timer_targets(facts, wall, NOW)
    assert (row["supported"], row["unrealistic"]) == (supported, unrealistic)


def test_running_and_paused_timers_within_their_deadline_are_pending_and_cadences_are_left_out():
    running = ack(started=NOW - 5 * MINUTE)
    paused = replace(ack(), timer=replace(ack().timer, state=PAUSED, due_at=None))
    cadence = replace(ack(5), timer=replace(ack(5).timer, name="update", recurring=True))
    [row] = timer_targets([running, paused, cadence], wall, NOW)
    assert (row["started"], row["pending"], row["met"], row["missed"], row["miss_rate"]) == (2, 2, 0, 0, None)


def test_the_score_is_100_minus_capped_points_and_every_line_is_shown(shipped_matrix):
    findings = [Problem("trigger 'a' is shadowed by 'b': ...", severity="warning"),
                Problem("timer 'x' (started by ...) can never be stopped: ...")]
    facts = AuditFacts(NOW, timers=[ack(m) for m in (5,) * 5] + [ack(state=BREACHED)] * 5, log_entries=1,
                       rules=[RuleCount(r.name, r.kind, "", 1, 1, 1, 1, NOW) for r in shipped_matrix.rules])
    report = audit(shipped_matrix, findings, facts, Reach(), wall)
    lines = {line["what"]: line for line in report["health"]["lines"]}
    assert [f["kind"] for f in report["findings"]] == ["shadowed", "unstoppable timer"]
    assert lines["check errors"]["points"] == 15 and lines["check warnings"]["points"] == 5
    assert lines["timer targets missed at least 25% of the time"]["points"] == 5
    assert lines["level hand-offs no timer drives (per severity)"]["points"] == 3
    assert lines["rules that never fired in 30 days"]["points"] == 0
    assert report["health"]["score"] == 100 - 15 - 5 - 5 - 3
    assert [line["what"] for line in report["health"]["lines"]] == [what for what, _, _ in PENALTIES]


def test_the_exceptions_are_listed_most_used_first(shipped_matrix):
    facts = AuditFacts(NOW, rules=[RuleCount("EU personal-data incident", "exception", "regional_compliance",
                                             0, 2, 30, 4, NOW)], log_entries=30)
    report = audit(shipped_matrix, [], facts, Reach(), wall)
    assert [(e["rule"], e["tickets_30d"]) for e in report["exceptions"]] == [
        ("EU personal-data incident", 4), ("customer-requested urgent priority", 0)]
