"""The replay: production's path on a virtual clock, with timers that fire in virtual time."""
import json
import time as time_module
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from plugin.domain import clock as clock_module
from simulator.replay import replay
from simulator.report import per_ticket, summarize

from .conftest import RULES
from .test_webhooks import outage_payload

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Delivery:
    at: datetime
    platform: str
    headers: dict
    body: bytes


def jira(at, payload, delivery_id):
    return Delivery(at, "jira", {"X-Atlassian-Webhook-Identifier": delivery_id}, json.dumps(payload).encode())


def agent_reply(key, at):
    payload = outage_payload(key)
    payload["webhookEvent"] = "comment_created"
    payload["comment"] = {"id": "1", "body": "We are on it.", "author": {"accountId": "agent-1"}}
    return payload


def test_an_unacknowledged_outage_escalates_in_virtual_time():
    hour = replay([jira(START, outage_payload("SUP-1"), "d1")], RULES, until=START + timedelta(hours=1))
    after_an_hour = per_ticket(hour.store, hour.ended)["jira/SUP-1"]
    assert after_an_hour["level"] == "L2" and after_an_hour["breaches"] == ["ack"]
    assert after_an_hour["first_page"] == (START + timedelta(minutes=15)).isoformat()
    whole = replay([jira(START, outage_payload("SUP-1"), "d1")], RULES)
    later = per_ticket(whole.store, whole.ended)["jira/SUP-1"]
    assert later["level"] == "L3" and "plan" in later["breaches"]    # no remediation plan within 2 h


def test_an_acknowledged_outage_stays_with_frontline_triage_until_its_cadence_lapses():
    deliveries = [jira(START, outage_payload("SUP-2"), "d1"),
                  jira(START + timedelta(minutes=5), agent_reply("SUP-2", START), "d2")]
    result = replay(deliveries, RULES, until=START + timedelta(minutes=20))
    assert per_ticket(result.store, result.ended)["jira/SUP-2"]["level"] == "L1"
    assert summarize(result.store, result.ended)["mtta_minutes"] == 5.0


def test_a_redelivered_webhook_is_counted_once():
    result = replay([jira(START, outage_payload("SUP-3"), "same"), jira(START, outage_payload("SUP-3"), "same")],
                    RULES, until=START + timedelta(minutes=1))
    assert (result.deliveries, result.duplicates) == (2, 1)


def resolved(key):
    payload = outage_payload(key)
    payload["webhookEvent"] = "jira:issue_updated"
    payload["issue"]["fields"]["status"] = {"name": "Done", "statusCategory": {"key": "done"}}
    payload["changelog"] = {"items": [{"field": "resolution", "fromString": None, "toString": "Done"}]}
    return payload


def test_a_30_day_replay_never_reads_the_wall_clock(monkeypatch):
    deliveries = [jira(START + timedelta(days=d), outage_payload(f"SUP-{d}"), f"d{d}") for d in range(30)]
    deliveries += [jira(START + timedelta(days=d, hours=20), resolved(f"SUP-{d}"), f"r{d}") for d in range(30)]

    def wall_clock(*_args):
        raise AssertionError("the replay read the wall clock")
    monkeypatch.setattr(clock_module.SystemClock, "now", wall_clock)
    monkeypatch.setattr(time_module, "time", wall_clock)
    result = replay(deliveries, RULES, engine="python")
    assert result.ended == deliveries[-1].at + timedelta(days=2)
    assert len(result.store.tickets) == 30 and result.timer_firings > 30


def test_nothing_to_replay_is_a_clear_error():
    with pytest.raises(ValueError, match="nothing to replay"):
        replay([], RULES)
