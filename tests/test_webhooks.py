"""The webhook endpoints end to end over the Flask test client, on a real SQLite database."""
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.platforms.jira import sign_jira
from plugin.platforms.zendesk import sign_zendesk

from .conftest import FIXTURES, START

JIRA_CREATED = FIXTURES / "jira" / "mattermost__webhook-issue-created.json"
SECRET = "s3cret-for-tests"
ALL_FIXTURES = sorted((FIXTURES / "jira").glob("*.json")) + sorted((FIXTURES / "zendesk").glob("*.json"))


def outage_payload(key="SUP-7", summary="Checkout is down - total outage"):
    payload = json.loads(JIRA_CREATED.read_text())
    payload["issue"]["key"] = key
    payload["issue"]["fields"]["summary"] = summary
    payload["issue"]["fields"]["customfield_10050"] = {"value": "Gold"}
    return payload


def post_jira(client, payload, secret=SECRET, delivery="d-1", **headers):
    """Post a delivery, then let the processor decide what was stored (as it does within a second when serving)."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    if secret:
        headers.setdefault("X-Hub-Signature", sign_jira(body, secret))
    headers.setdefault("X-Atlassian-Webhook-Identifier", delivery)
    answer = client.post("/webhooks/jira", data=body, headers=headers, content_type="application/json")
    drain(client)
    return answer


def drain(client) -> int:
    return client.application.extensions["escalator"].processor.drain()


def latest(client, key="SUP-7") -> dict:
    """The ticket's newest log entry, as the API shows it."""
    return client.get(f"/api/tickets/jira/{key}").json["timeline"][-1]


@pytest.fixture
def client(make_app):
    return make_app(jira_webhook_secret=SECRET, zendesk_webhook_secret=SECRET).test_client()


def test_health_reports_the_matrix_and_dry_run(client):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json["status"] == "ok" and answer.json["dry_run"] == ["jira", "zendesk"]
    assert len(answer.json["matrix_version"]) == 12


def test_a_signed_jira_delivery_is_stored_then_decided_and_explained(client):
    answer = client.post("/webhooks/jira", data=json.dumps(outage_payload()).encode(), content_type="application/json",
                         headers={"X-Hub-Signature": sign_jira(json.dumps(outage_payload()).encode(), SECRET)})
    assert answer.status_code == 202, answer.json
    assert answer.json == {"status": "accepted", "delivery": 1, "ticket": "jira/SUP-7"}
    pending = client.get("/api/tickets/jira/SUP-7").json
    assert pending["status"] == "pending" and pending["pending"][0]["delivery"] == 1 and pending["timeline"] == []
    assert client.get("/healthz").json["backlog"] == 1
    assert drain(client) == 1
    assert client.get("/healthz").json["backlog"] == 0
    ticket = client.get("/api/tickets/jira/SUP-7").json
    assert ticket["status"] == "decided" and ticket["pending"] == []
    assert (ticket["severity"], ticket["level"], ticket["owner"]) == ("critical", "L1", "support-oncall")
    assert ticket["assignee"] == "5b10ac8d82e05b22cc7d4ef5" and ticket["priority"] == "Highest"
    entry = ticket["timeline"][0]
    assert entry["event"] == "created" and entry["at"] == START.isoformat()
    assert entry["trace"][0]["rule"] == "enterprise outage is critical"
    assert entry["trace"][0]["values"]["customer.tier"] == "enterprise"
    assert {t["name"] for t in ticket["timers"]} == {"ack", "plan", "rca", "update"}


def test_dry_run_shows_the_exact_jira_request_it_would_send(client):
    post_jira(client, outage_payload())
    outbox = client.get("/api/tickets/jira/SUP-7").json["outbox"]
    assert [o["kind"] for o in outbox] == ["update", "assign", "note", "note"]
    assert {o["status"] for o in outbox} == {"dry_run"}
    update = outbox[0]["request"][0]
    assert update["method"] == "PUT"
    assert update["url"].endswith("/rest/api/3/issue/SUP-7")
    assert update["json"]["fields"] == {"priority": {"name": "Highest"}}
    assert {"add": "outage"} in update["json"]["update"]["labels"]
    assert outbox[1]["request"][0]["json"] == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}
    acknowledgement = json.dumps(outbox[3]["request"][0]["json"])      # the L1 ack.md.j2, to the customer
    assert "We have received your report" in acknowledgement and "Hello Test User" in acknowledgement


def test_the_escalation_log_keeps_every_message_with_its_rendered_text(client):
    post_jira(client, outage_payload())
    entry = client.get("/api/tickets/jira/SUP-7").json["timeline"][0]
    [ack] = entry["communications"]
    assert (ack["situation"], ack["channel"], ack["template"]) == ("escalated", "ticket_comment", "ack.md.j2")
    assert ack["sent"][0]["public"] is True and "classified it as" in ack["sent"][0]["text"]


@pytest.mark.parametrize("fixture", ALL_FIXTURES, ids=lambda p: p.name)
def test_every_fixture_is_accepted_or_ignored_end_to_end(make_app, fixture):
    client = make_app().test_client()
    answer = client.post(f"/webhooks/{fixture.parent.name}", data=fixture.read_bytes(),
                         content_type="application/json")
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] in ("accepted", "ignored")
    drain(client)
    [delivery] = client.get("/api/deliveries").json["deliveries"]
    assert delivery["status"] == ("decided" if answer.json["status"] == "accepted" else "ignored")


def test_a_redelivery_is_a_duplicate_and_decides_nothing_twice(client):
    first = post_jira(client, outage_payload(), delivery="same")
    second = post_jira(client, outage_payload(), delivery="same")
    assert (first.json["status"], second.json["status"]) == ("accepted", "duplicate")
    assert len(client.get("/api/tickets/jira/SUP-7").json["timeline"]) == 1


def test_without_a_delivery_id_an_identical_body_is_a_duplicate(make_app):
    client = make_app().test_client()
    body = json.dumps(outage_payload()).encode()
    answers = [client.post("/webhooks/jira", data=body, content_type="application/json").json["status"]
               for _ in range(2)]
    assert answers == ["accepted", "duplicate"]


@pytest.mark.parametrize("headers, message", [
    ({"X-Hub-Signature": "sha256=" + "0" * 64}, "does not match the body"),
    ({"X-Hub-Signature": "md5=abc"}, ""),
    ({}, "X-Hub-Signature"),
])
def test_a_bad_or_missing_jira_signature_is_401(client, headers, message):
    answer = post_jira(client, outage_payload(), secret="", **headers)
    assert answer.status_code == 401
    assert message in answer.json["error"]
    assert SECRET not in answer.json["error"]


def test_a_body_changed_after_signing_is_401(client):
    body = json.dumps(outage_payload()).encode()
    answer = post_jira(client, body.replace(b"outage", b"Outage"), secret="",
                       **{"X-Hub-Signature": sign_jira(body, SECRET)})
    assert answer.status_code == 401


def test_a_stale_zendesk_delivery_is_401(client):
    body = (FIXTURES / "zendesk" / "escalator__ticket_created.json").read_bytes()
    signature, stamp = sign_zendesk(body, SECRET, "2020-01-01T00:00:00Z")
    answer = client.post("/webhooks/zendesk", data=body, content_type="application/json",
                         headers={"X-Zendesk-Webhook-Signature": signature,
                                  "X-Zendesk-Webhook-Signature-Timestamp": stamp})
    assert answer.status_code == 401
    assert "old" in answer.json["error"]


def test_a_signed_zendesk_delivery_is_accepted_on_the_service_clock(client, clock):
    body = (FIXTURES / "zendesk" / "escalator__ticket_priority_changed__urgent.json").read_bytes()
    signature, stamp = sign_zendesk(body, SECRET, (clock.now() - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    answer = client.post("/webhooks/zendesk", data=body, content_type="application/json",
                         headers={"X-Zendesk-Webhook-Signature": signature,
                                  "X-Zendesk-Webhook-Signature-Timestamp": stamp,
                                  "X-Zendesk-Webhook-Invocation-Id": "inv-1"})
    assert answer.status_code == 202 and answer.json["status"] == "accepted"
    drain(client)
    key = answer.json["ticket"].split("/", 1)[1]
    assert client.get(f"/api/tickets/zendesk/{key}").json["severity"] == "critical"


@pytest.mark.parametrize("body, content_type, status, message", [
    (b"{not json", "application/json", 400, "not valid JSON"),
    (b"[1, 2]", "application/json", 400, "does not look like a jira webhook"),
    (b'{"hello": "world"}', "application/json", 400, "does not look like a jira webhook"),
    (b"webhookEvent=x", "application/x-www-form-urlencoded", 415, "expected a JSON body"),
    (b'{"webhookEvent": "x"}', "text/plain", 415, "expected a JSON body"),
])
def test_malformed_deliveries_get_a_clear_error(make_app, body, content_type, status, message):
    answer = make_app().test_client().post("/webhooks/jira", data=body, content_type=content_type)
    assert answer.status_code == status
    assert message in answer.json["error"]


@pytest.mark.parametrize("depth", [65, 5_000, 200_000])
def test_json_nested_past_the_limit_is_400_never_a_retry(make_app, depth):
    """Deeper than any platform sends: refused as malformed (a 503 would make the sender retry forever)."""
    payload = outage_payload()
    # The body, issue and fields are three levels; the lists under them make up the rest.
    payload["issue"]["fields"]["description"] = json.loads("[" * (depth - 3) + "]" * (depth - 3)) \
        if depth < 900 else None
    body = json.dumps(payload).encode() if depth < 900 else b"[" * depth + b"]" * depth
    answer = make_app().test_client().post("/webhooks/jira", data=body, content_type="application/json")
    assert answer.status_code == 400, answer.get_data()
    assert "deeper than 64 levels" in answer.json["error"]


def test_json_at_the_depth_limit_is_parsed(make_app):
    payload = outage_payload()
    payload["issue"]["fields"]["customfield_99999"] = json.loads("[" * 61 + "]" * 61)     # 64 levels in all
    answer = make_app().test_client().post("/webhooks/jira", json=payload)
    assert answer.status_code == 202 and answer.json["status"] == "accepted"


def test_a_body_over_the_limit_is_413(make_app):
    client = make_app(max_body_bytes="1000").test_client()
    answer = client.post("/webhooks/jira", data=b'{"x": "' + b"a" * 2000 + b'"}', content_type="application/json")
    assert answer.status_code == 413
    assert "larger than the limit of 1000 bytes" in answer.json["error"]


def test_an_unsupported_event_is_acknowledged_as_ignored(make_app):
    client = make_app().test_client()
    answer = client.post("/webhooks/jira", json={"webhookEvent": "jira:worklog_updated", "timestamp": 1})
    assert answer.status_code == 202
    assert answer.json["status"] == "ignored" and "worklog" in answer.json["reason"]


def test_an_unknown_platform_is_404_with_the_right_paths(make_app):
    answer = make_app().test_client().post("/webhooks/github", json={})
    assert answer.status_code == 404 and "/webhooks/jira" in answer.json["error"]


def test_the_api_requires_the_token_when_one_is_set(make_app):
    client = make_app(api_token="t0ken").test_client()
    client.post("/webhooks/jira", json=outage_payload())
    assert client.get("/api/tickets/jira/SUP-7").status_code == 401
    assert client.get("/api/tickets/jira/SUP-7", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/tickets/jira/SUP-7", headers={"Authorization": "Bearer t0ken"}).status_code == 200
    assert client.get("/healthz").status_code == 200     # health stays open for load balancers


def test_an_unknown_ticket_is_404(make_app):
    answer = make_app().test_client().get("/api/tickets/jira/NOPE-1")
    assert answer.status_code == 404 and "NOPE-1" in answer.json["error"]


def test_deliveries_list_shows_every_outcome(make_app):
    client = make_app().test_client()
    client.post("/webhooks/jira", json=outage_payload(), headers={"X-Atlassian-Webhook-Identifier": "a"})
    client.post("/webhooks/jira", json=outage_payload(), headers={"X-Atlassian-Webhook-Identifier": "a"})
    client.post("/webhooks/jira", json={"webhookEvent": "sprint_started", "timestamp": 1})
    assert [d["status"] for d in client.get("/api/deliveries").json["deliveries"]] == ["ignored", "received"]
    drain(client)
    answer = client.get("/api/deliveries?limit=10").json
    assert [d["status"] for d in answer["deliveries"]] == ["ignored", "decided"]
    assert answer["deliveries"][1]["ticket_key"] == "SUP-7"
    assert answer["outbox"] == {"dry_run": 4}
    assert client.get("/api/deliveries?limit=abc").status_code == 400


def test_metrics_count_deliveries_the_backlog_and_the_outbox(make_app):
    client = make_app().test_client()
    client.post("/webhooks/jira", json=outage_payload())
    text = client.get("/metrics").get_data(as_text=True)
    assert 'escalator_deliveries_total{platform="jira",status="accepted"} 1.0' in text
    assert "escalator_backlog 1.0" in text
    drain(client)
    text = client.get("/metrics").get_data(as_text=True)
    assert "escalator_backlog 0.0" in text and 'escalator_decided_total{kind="delivery"} 1.0' in text
    assert 'escalator_outbox_rows{status="dry_run"} 4.0' in text
    assert "escalator_decision_lag_seconds_count 1.0" in text


def test_our_own_write_echoed_back_causes_no_new_write(make_app, clock):
    client = make_app(jira_bot_account_id="bot-1").test_client()
    client.post("/webhooks/jira", json=outage_payload(), headers={"X-Atlassian-Webhook-Identifier": "1"})
    # The echo of our priority write, by the bot account: ignored outright.
    echo = outage_payload()
    echo["webhookEvent"] = "jira:issue_updated"
    echo["user"] = {"accountId": "bot-1"}
    echo["issue"]["fields"]["priority"] = {"name": "Highest"}
    echo["changelog"] = {"items": [{"field": "priority", "fromString": "High", "toString": "Highest"}]}
    answer = client.post("/webhooks/jira", json=echo, headers={"X-Atlassian-Webhook-Identifier": "2"})
    assert answer.json["status"] == "ignored" and "echo" in answer.json["reason"]
    # The same change by someone else (or with no bot configured): evaluated, nothing new to write.
    echo["user"] = {"accountId": "human-1"}
    clock.advance(timedelta(minutes=1))
    answer = client.post("/webhooks/jira", json=echo, headers={"X-Atlassian-Webhook-Identifier": "3"})
    assert answer.json["status"] == "accepted"
    assert drain(client) == 2
    assert latest(client)["changes"] == {} and latest(client)["delivery"] == answer.json["delivery"]
    assert len(client.get("/api/tickets/jira/SUP-7").json["outbox"]) == 4


def test_a_human_lowering_the_priority_is_not_fought(make_app):
    client = make_app().test_client()
    client.post("/webhooks/jira", json=outage_payload(), headers={"X-Atlassian-Webhook-Identifier": "1"})
    lowered = outage_payload(summary="Checkout question")
    lowered["webhookEvent"] = "jira:issue_updated"
    lowered["issue"]["fields"]["priority"] = {"name": "Low"}
    lowered["changelog"] = {"items": [{"field": "priority", "fromString": "Highest", "toString": "Low"}]}
    answer = client.post("/webhooks/jira", json=lowered, headers={"X-Atlassian-Webhook-Identifier": "2"})
    drain(client)
    ticket = client.get("/api/tickets/jira/SUP-7").json
    assert ticket["severity"] == "low"
    kinds = [o["kind"] for o in ticket["outbox"] if o["created_at"] == ticket["timeline"][-1]["at"]]
    assert kinds[4:] == ["note"]        # said on the ticket, never written back over the agent's choice
    assert answer.json["delivery"] == ticket["timeline"][-1]["delivery"]


_FUZZ_APP: dict = {}     # one app for all examples: building one per example would dominate the test


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12).map(lambda v: json.dumps(v).encode()))
def test_no_input_produces_a_server_error(make_app, body):
    app = _FUZZ_APP.setdefault("app", make_app())
    for platform in ("jira", "zendesk"):
        answer = app.test_client().post(f"/webhooks/{platform}", data=body, content_type="application/json")
        assert answer.status_code in (202, 400), (answer.status_code, answer.get_data())
        assert answer.json and ("error" in answer.json or "status" in answer.json)


def test_the_webhook_path_works_on_postgresql(make_app):
    from .conftest import fresh_postgres_store
    store = fresh_postgres_store()
    client = make_app(store=store, jira_webhook_secret=SECRET).test_client()
    assert post_jira(client, outage_payload(), delivery="pg-1").json["status"] == "accepted"
    assert post_jira(client, outage_payload(), delivery="pg-1").json["status"] == "duplicate"
    ticket = client.get("/api/tickets/jira/SUP-7").json
    assert ticket["severity"] == "critical" and len(ticket["outbox"]) == 4
    store.dispose()
