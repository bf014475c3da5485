"""On the real server: a critical ticket nobody answers climbs to L3 on its own and gets exactly one
after-action review, whose pre-filled timeline is the ticket's escalation log; a quiet ticket gets none."""
import json
import shutil
from datetime import datetime, timedelta

import pytest
import requests

from plugin.platforms.jira import sign_jira

from .conftest import RULES
from .test_e2e_escalation import wait_for
from .test_serve import serve  # noqa: F401 - the fixture
from .test_webhooks import outage_payload

SECRET, TOKEN = "e2e-webhook-secret", "e2e-api-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def fast_rules(tmp_path):
    """The shipped matrix with critical ack and plan deadlines of 3 s and 6 s."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    matrix = rules / "matrix.yaml"
    old = "critical: {ack: 15m, plan: 2h, rca: 24h"
    assert old in matrix.read_text()
    matrix.write_text(matrix.read_text().replace(old, "critical: {ack: 3s, plan: 6s, rca: 24h"))
    return rules


def deliver(base, payload, delivery):
    body = json.dumps(payload).encode()
    answer = requests.post(base + "/webhooks/jira", data=body, timeout=10, headers={
        "Content-Type": "application/json", "X-Hub-Signature": sign_jira(body, SECRET),
        "X-Atlassian-Webhook-Identifier": delivery})
    assert answer.json()["status"] == "accepted"


def get(base, path):
    return requests.get(base + path, headers=AUTH, timeout=5).json()


def test_an_escalation_to_l3_gets_one_review_prefilled_from_its_log(serve, fast_rules):  # noqa: F811
    base = serve(ESCALATOR_RULES=str(fast_rules), ESCALATOR_JIRA_WEBHOOK_SECRET=SECRET, ESCALATOR_API_TOKEN=TOKEN)
    deliver(base, outage_payload("SUP-7"), "e2e-7")
    quiet = outage_payload("SUP-8", summary="How do I export a report to CSV?")
    quiet["issue"]["fields"]["customfield_10050"] = {"value": "Bronze"}
    deliver(base, quiet, "e2e-8")
    ticket = wait_for(lambda: get(base, "/api/tickets/jira/SUP-7"), lambda t: t.get("level") == "L3", seconds=30)

    [listed] = get(base, "/api/reviews")["reviews"]
    assert (listed["platform"], listed["key"], listed["status"]) == ("jira", "SUP-7", "draft")
    assert ticket["review"] == {"id": listed["id"], "status": "draft", "url": f"/api/reviews/{listed['id']}"}
    assert get(base, "/api/tickets/jira/SUP-8")["review"] is None
    assert listed["created_at"] == ticket["timeline"][0]["at"]      # created with the first, critical, decision

    review = get(base, listed["url"])
    ticket = get(base, "/api/tickets/jira/SUP-7")       # nothing more is due for 24 minutes: the same log
    timeline = review["prefill"]["timeline"]
    assert [(e["id"], e["at"], e["event"], e["changes"], e["rules"]) for e in timeline] == [
        (e["id"], e["at"], e["event"], e["changes"], [t["rule"] for t in e["trace"]])
        for e in ticket["timeline"]]
    opened = datetime.fromisoformat(review["prefill"]["opened_at"])
    levels = review["prefill"]["levels"]
    assert [(s["level"], datetime.fromisoformat(s["entered_at"]) - opened) for s in levels] == [
        ("L1", timedelta(0)), ("L2", timedelta(seconds=3)), ("L3", timedelta(seconds=6))]
    assert [s["dwell_seconds"] for s in levels[:2]] == [3, 3] and levels[2]["ongoing"]
    assert {t["name"]: t["outcome"] for t in review["prefill"]["timers"]}["plan"] == "breached"
    assert "+6s: level L2 → L3" in review["sections"][0]["text"]
