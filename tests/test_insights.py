"""The insights figures on hand-built facts: exact values, their definitions and what each left out."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from plugin.domain.timers import BREACHED, RUNNING, STOPPED, Timer
from plugin.insights import (
    DEFINITIONS,
    Facts,
    LogFact,
    Period,
    RatingFact,
    TicketFact,
    acknowledged_after,
    compared,
    figures,
    judged,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
PERIOD = Period(T0, T0 + timedelta(days=7))
NOW_MINUTES = 10 * 24 * 60


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ticket(key, severity="critical", level="L1", owner="oncall", area="payments", opened=0):
    return TicketFact("jira", key, severity, level, owner, area, at(opened))


def change(key, minutes, kind="updated", level=None, owner=None):
    return LogFact("jira", key, at(minutes), kind, level, owner)


def timer(key, name="ack", started=0, stopped=None, due=15, state=None, recurring=False):
    state = state or (STOPPED if stopped is not None else RUNNING)
    return ("jira", key, Timer(name, due * 60, "24x7", recurring, 0.8, state, at(started), at(started),
                               at(started + due), None, stopped_at=at(stopped) if stopped is not None else None))


# A: critical payments, acked in 10 min, L1 -> L2 at 30 min, resolved at 2 h, rated good after.
# B: critical payments, never acked (ack breached), stays at L1, open.
# C: high search, acked in 40 min (within its 1 h), L1 -> L2 -> L3, resolved at 5 h, rated bad before and good after.
# D: low, no level ever given (the matrix ignored it).
FACTS = Facts(
    tickets=[ticket("A", level="L2"), ticket("B", opened=60), ticket("C", "high", "L3", "vp", "search", opened=120),
             ticket("D", "low", "", "", "", opened=180)],
    log=[change("A", 0, "created", "L1", "oncall"), change("A", 30, level="L2", owner="payments-eng"),
         change("A", 120, "resolved"),
         change("B", 60, "created", "L1", "oncall"),
         change("C", 120, "created", "L1", "oncall"), change("C", 180, level="L2", owner="search-eng"),
         change("C", 300, level="L3", owner="vp"), change("C", 420, "resolved")],
    timers=[timer("A", stopped=10), timer("B", started=60, state=BREACHED),
            timer("C", started=120, stopped=160, due=60), timer("A", "plan", started=30, due=120),
            timer("C", "update", started=120, due=30, recurring=True)],
    ratings=[RatingFact("jira", "A", at(150), True), RatingFact("jira", "C", at(200), False),
             RatingFact("jira", "C", at(500), True)],
)


@pytest.fixture(scope="module")
def result():
    return figures(FACTS, PERIOD, NOW)


def test_volume_counts_every_ticket_by_its_severity_and_excludes_none(result):
    assert result["volume"]["by_severity"] == {"critical": 2, "high": 1, "low": 1}
    assert result["volume"]["total"] == 4
    assert result["volume"]["excluded"]["count"] == 0


def test_escalation_rate_counts_reaching_l2_at_any_time_and_leaves_out_tickets_without_a_level(result):
    rate = result["escalation_rate"]
    assert rate["by_area"] == {"payments": {"tickets": 2, "escalated": 1, "rate": 0.5},
                               "search": {"tickets": 1, "escalated": 1, "rate": 1.0}}
    assert rate["overall"] == 0.667
    assert rate["excluded"] == {"count": 1, "what": DEFINITIONS["escalation_rate"][1]}


def test_mtta_averages_stopped_ack_timers_and_says_how_many_tickets_were_never_acknowledged(result):
    mtta = result["mtta"]
    assert mtta["by_severity"] == {"critical": {"count": 1, "mean": 10.0, "median": 10.0},
                                   "high": {"count": 1, "mean": 40.0, "median": 40.0}}
    assert mtta["overall"] == 25.0 and mtta["unit"] == "minutes"
    assert mtta["excluded"]["count"] == 2       # B (breached, unanswered) and D (no ack timer)
    assert "never acknowledged" in mtta["excluded"]["what"]


def test_mtta_over_time_has_one_point_per_day_of_the_period(result):
    series = result["mtta"]["series"]
    assert result["mtta"]["step"] == "day"
    assert series["critical"][0] == ["2026-03-02", 10.0]
    assert [value for _, value in series["critical"][1:]] == [None] * 6
    assert len(series["high"]) == 7


def test_mttr_runs_from_opening_to_the_first_resolution_and_leaves_out_open_tickets(result):
    mttr = result["mttr"]
    assert mttr["by_severity"] == {"critical": {"count": 1, "mean": 2.0, "median": 2.0},
                                   "high": {"count": 1, "mean": 5.0, "median": 5.0}}
    assert mttr["excluded"]["count"] == 2


def test_sla_judges_deadlines_by_timer_and_level_and_leaves_out_running_and_cadences(result):
    assert result["sla"]["rows"] == [
        {"timer": "ack", "level": "L1", "met": 2, "missed": 1, "rate": 0.667},
        # A's plan timer still runs at NOW past its 2 h deadline: missed, at the level it started under
        {"timer": "plan", "level": "L2", "met": 0, "missed": 1, "rate": 0.0},
    ]
    assert result["sla"]["excluded"]["count"] == 1      # C's update cadence


def test_dwell_ends_a_level_at_the_next_change_or_resolution_and_counts_open_ones_until_now(result):
    dwell = result["dwell"]["by_level"]
    # L1: A 30 min, B open 10 days minus 1 h, C 1 h; L2: A 90 min, C 2 h; L3: C 2 h
    assert dwell["L1"] == {"count": 3, "mean": round((0.5 + 239 + 1) / 3, 2), "median": 1.0}
    assert dwell["L2"] == {"count": 2, "mean": 1.75, "median": 1.75}
    assert dwell["L3"] == {"count": 1, "mean": 2.0, "median": 2.0}


def test_csat_takes_the_last_rating_after_resolution_by_path_and_counts_early_ones_as_excluded(result):
    csat = result["csat"]
    assert csat["by_path"] == {"L1 → L2": {"rated": 1, "good": 1, "rate": 1.0},
                               "L1 → L2 → L3": {"rated": 1, "good": 1, "rate": 1.0}}
    assert csat["overall"] == 1.0 and csat["rated"] == 2
    assert csat["excluded"]["count"] == 1


def test_bottlenecks_rank_owners_and_areas_by_mean_dwell(result):
    owners = result["bottlenecks"]["owners"]
    assert owners[0] == {"name": "oncall", "count": 3, "mean": round((0.5 + 239 + 1) / 3, 2)}
    assert [o["name"] for o in owners] == ["oncall", "search-eng", "vp", "payments-eng"]
    assert result["bottlenecks"]["areas"][0]["name"] == "payments"


def test_every_figure_states_its_definition_and_what_it_excluded(result):
    for name in DEFINITIONS:
        assert result[name]["definition"] == DEFINITIONS[name][0]
        assert set(result[name]["excluded"]) == {"count", "what"}


def test_comparison_with_the_previous_period_gives_the_change_or_none():
    before = figures(Facts(tickets=[]), PERIOD.previous(), NOW)
    headline = compared(figures(FACTS, PERIOD, NOW), before)
    assert headline["tickets"] == {"current": 4, "previous": 0, "change": 4}
    assert headline["mtta_minutes"] == {"current": 25.0, "previous": None, "change": None}
    assert headline["sla_attainment"]["current"] == 0.5


def test_previous_period_has_the_same_length_and_ends_where_this_one_starts():
    assert PERIOD.previous() == Period(T0 - timedelta(days=7), T0)
    with pytest.raises(ValueError):
        Period(T0, T0)


def test_a_long_period_is_drawn_week_by_week():
    year = Period(T0, T0 + timedelta(days=91))
    result = figures(FACTS, year, NOW)
    assert result["mttr"]["step"] == "week" and len(result["mttr"]["series"]["critical"]) == 13


@pytest.mark.parametrize("row, verdict", [
    (timer("A", stopped=10), "met"),                          # stopped before its 15 min deadline
    (timer("A", stopped=15), "missed"),                       # stopped at the deadline: too late
    (timer("A", state=BREACHED), "missed"),
    (timer("A", started=NOW_MINUTES - 5), None),              # still running within its deadline at NOW
    (timer("A", started=0), "missed"),                        # still running long past it
    (timer("A", "update", recurring=True, started=0), None),  # a cadence is never missed
])
def test_a_deadline_is_judged_met_missed_or_not_yet(row, verdict):
    assert judged(row[2], NOW) == verdict


@pytest.mark.parametrize("row, seconds", [(timer("A", stopped=10), 600.0), (timer("A", started=NOW_MINUTES - 5), None),
                                          (timer("A", "plan", stopped=10), None)])
def test_acknowledged_after_is_the_stopped_ack_timers_run(row, seconds):
    assert acknowledged_after(row[2]) == seconds


def test_a_matrix_with_its_own_level_names_counts_escalations_beyond_its_first_level():
    tiers = Facts(tickets=[ticket("A", level="T1"), ticket("B", level="T2")],
                  log=[change("A", 0, "created", "T1"), change("B", 0, "created", "T1"), change("B", 5, level="T2")])
    rate = figures(tiers, PERIOD, NOW, first_level="T1")["escalation_rate"]
    assert rate["by_area"]["payments"] == {"tickets": 2, "escalated": 1, "rate": 0.5}
