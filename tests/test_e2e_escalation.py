"""The whole loop on the real server: a critical ticket nobody acknowledges escalates to L2 on its
own, and the Slack and SMTP fakes receive the rendered messages."""
import json
import shutil
import time
from datetime import datetime, timedelta

import pytest
import requests
from aiosmtpd.controller import Controller

from .conftest import RULES
from .test_serve import free_port, serve  # noqa: F401 - the fixture
from .test_webhooks import outage_payload


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def fast_rules(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    matrix = rules / "matrix.yaml"
    text = matrix.read_text()
    text = text.replace("critical: {ack: 15m, plan: 2h, rca: 24h, update_every: 30m, calendar: 24x7, warn_at: 0.8}",
                        "critical: {ack: 3s, plan: 2h, rca: 24h, update_every: 30m, calendar: 24x7, warn_at: 0.8}")
    text = text.replace("    - {on: escalated, notify: [owner], channel: slack, template: escalation_notice.md.j2}",
                        "    - {on: escalated, notify: [owner], channel: slack, template: escalation_notice.md.j2}\n"
                        "    - {on: escalated, notify: [owner], channel: email, template: escalation_notice.md.j2}")
    matrix.write_text(text)
    return rules


def test_an_unacknowledged_critical_ticket_reaches_l2_with_its_messages(serve, httpserver, smtp, fast_rules):  # noqa: F811
    smtp_port, inbox = smtp
    httpserver.expect_request("/slack/payments", method="POST").respond_with_data("ok")
    base = serve(ESCALATOR_RULES=str(fast_rules),
                 ESCALATOR_SLACK_WEBHOOKS=json.dumps({"#payments-incidents": httpserver.url_for("/slack/payments")}),
                 ESCALATOR_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}", ESCALATOR_SMTP_FROM="escalator@example.com")
    payload = outage_payload()
    payload["issue"]["fields"]["components"] = [{"name": "Payments"}]
    posted_at = time.monotonic()
    assert requests.post(base + "/webhooks/jira", json=payload, timeout=10).json()["status"] == "accepted"
    ticket = wait_for(lambda: requests.get(base + "/api/tickets/jira/SUP-7", timeout=5).json(),
                      lambda t: t.get("level") == "L2", seconds=20)
    escalated_after = time.monotonic() - posted_at
    # Due 3 s after receipt; firing precision itself is measured by bench/timers.py, so only a
    # bound a busy machine cannot break is asserted on the wall clock.
    assert 3 <= escalated_after <= 15
    assert ticket["owner"] == "payments-eng"
    created, breach = ticket["timeline"][0], next(e for e in ticket["timeline"] if e["event"] == "sla_breached")
    assert created["changes"]["level"] == ["", "L1"]
    assert datetime.fromisoformat(breach["at"]) - datetime.fromisoformat(created["at"]) == timedelta(seconds=3)
    assert "missed acknowledgement escalates to L2" in [t["rule"] for t in breach["trace"]]
    assert breach["changes"]["level"] == ["L1", "L2"]

    wait_for(lambda: (httpserver.log, inbox.messages), lambda got: got[0] and got[1], seconds=10)
    slack = json.loads(httpserver.log[0][0].get_data())
    assert "SUP-7 escalated to L2 (Specialist investigation)" in slack["text"]
    recipients, email = inbox.messages[0]
    assert recipients == ["payments-oncall@example.com"]
    assert "Subject:" in email and "escalated to L2" in email
    assert "Checkout is down" in email


def wait_for(read, done, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            assert done(value), value
            return value
        time.sleep(0.2)
