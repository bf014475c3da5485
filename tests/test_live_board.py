"""The live board: open escalations by level, clocks as time left, most urgent first, filters."""
from datetime import UTC, datetime, timedelta

from plugin.live_board import board

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def ticket(key, level="L1", severity="high", owner="support-oncall", area="payments", region="EU"):
    return {"platform": "jira", "key": key, "severity": severity, "level": level, "owner": owner, "assignee": "",
            "snapshot": {"summary": f"about {key}", "product_area": area, "customer_region": region},
            "created_at": NOW - timedelta(hours=2), "updated_at": NOW - timedelta(minutes=5), "simulated": False}


def timer(key, name, due_in=None, warn_in=None, state="running", recurring=False):
    return {"platform": "jira", "key": key, "name": name, "state": state, "recurring": recurring,
            "due_at": NOW + due_in if due_in is not None else None,
            "warn_at": NOW + warn_in if warn_in is not None else None}


def test_clocks_read_as_time_left_warning_breached_or_paused():
    rows = [ticket("A-1")]
    clocks = [timer("A-1", "ack", timedelta(minutes=-3)), timer("A-1", "plan", timedelta(minutes=10), timedelta(0)),
              timer("A-1", "rca", timedelta(hours=20), timedelta(hours=10)), timer("A-1", "resolve", state="paused")]
    (escalation,) = board(rows, clocks, NOW, {}).levels["L1"]
    assert [(c.name, c.state, c.seconds_left) for c in escalation.clocks] == [
        ("ack", "breached", -180.0), ("plan", "warning", 600.0), ("rca", "running", 72000.0),
        ("resolve", "paused", None)]
    assert escalation.worst == "breached"


def test_levels_are_grouped_in_order_and_the_most_urgent_comes_first():
    rows = [ticket("A-1"), ticket("A-2"), ticket("B-1", level="L2"), ticket("C-1", level="")]
    clocks = [timer("A-1", "ack", timedelta(minutes=30)), timer("A-2", "ack", timedelta(minutes=-1)),
              timer("B-1", "plan", timedelta(hours=1)), timer("C-1", "ack", timedelta(hours=1))]
    result = board(rows, clocks, NOW, {})
    assert list(result.levels) == ["L1", "L2", "unassigned"]
    assert [e.key for e in result.levels["L1"]] == ["A-2", "A-1"]
    assert (result.total, result.shown, result.breached) == (4, 4, 1)


def test_a_lapsed_update_cadence_is_not_a_breach():
    (escalation,) = board([ticket("A-1")], [timer("A-1", "update", timedelta(minutes=-1), recurring=True)],
                          NOW, {}).levels["L1"]
    assert escalation.clocks[0].state == "running"


def test_filters_narrow_the_board_and_offer_every_value_seen():
    rows = [ticket("A-1", severity="critical", region="US"), ticket("A-2", area="search"), ticket("A-3", owner="sre")]
    result = board(rows, [], NOW, {"severity": "high", "product_area": "payments", "owner": "", "region": ""})
    assert [e.key for e in result.levels["L1"]] == ["A-3"]
    assert result.choices == {"severity": ["critical", "high"], "product_area": ["payments", "search"],
                              "owner": ["sre", "support-oncall"], "region": ["EU", "US"]}
