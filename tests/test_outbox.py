"""Write-back through the outbox worker against a local fake Jira over real HTTP."""
import json
from datetime import timedelta

import pytest
from werkzeug import Response

from plugin.outbox import OutboxWorker

from .test_webhooks import outage_payload


@pytest.fixture
def jira(httpserver):
    return httpserver


@pytest.fixture
def app_and_worker(make_app, jira, clock):
    def make(**worker_options):
        app = make_app(jira_base_url=jira.url_for("/").rstrip("/"), jira_email="bot@example.com",
                       jira_api_token="api-token-123")
        container = app.extensions["escalator"]
        worker = OutboxWorker(container.store, container.clients, clock, rng=_NoJitter(), **worker_options)
        return app, worker
    return make


class _NoJitter:
    def random(self):
        return 1.0     # the full backoff, so due times are exact


def post(app, body: bytes | None = None, platform: str = "jira") -> dict:
    """Deliver, then let the processor decide (which queues the write-backs)."""
    body = body or json.dumps(outage_payload()).encode()
    answer = app.test_client().post(f"/webhooks/{platform}", data=body, content_type="application/json").json
    app.extensions["escalator"].processor.drain()
    return answer


def outbox(app):
    return app.test_client().get("/api/tickets/jira/SUP-7").json["outbox"]


def test_the_worker_sends_the_exact_jira_calls(app_and_worker, jira):
    app, worker = app_and_worker()
    jira.expect_ordered_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_data("", status=204)
    jira.expect_ordered_request("/rest/api/3/issue/SUP-7/assignee", method="PUT").respond_with_data("", status=204)
    jira.expect_ordered_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json(
        {"comments": [], "total": 0})
    jira.expect_ordered_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({"id": "1"},
                                                                                                    status=201)
    jira.expect_ordered_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json(
        {"comments": [], "total": 0})
    jira.expect_ordered_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({"id": "2"},
                                                                                                    status=201)
    post(app)
    assert [o["status"] for o in outbox(app)] == ["pending"] * 4
    assert worker.run_once() == 4
    jira.check_assertions()
    calls = [(request.method, request.path, request.get_data()) for request, _ in jira.log]
    assert json.loads(calls[0][2])["fields"] == {"priority": {"name": "Highest"}}
    assert json.loads(calls[1][2]) == {"accountId": "5b10ac8d82e05b22cc7d4ef5"}
    note = json.dumps(json.loads(calls[3][2]))
    assert "Escalator: severity critical, level L1" in note and "escalator-1" in note
    acknowledgement = json.dumps(json.loads(calls[5][2]))
    assert "Hello Test User" in acknowledgement and "escalator-1-0" in acknowledgement
    assert all(r.headers["Authorization"].startswith("Basic ") for r, _ in jira.log)
    assert [o["status"] for o in outbox(app)] == ["sent"] * 4


def test_429_waits_for_retry_after_then_succeeds(app_and_worker, jira, clock):
    app, worker = app_and_worker()
    jira.expect_oneshot_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_response(
        Response("slow down", status=429, headers={"Retry-After": "30"}))
    jira.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_data("", status=204)
    jira.expect_request("/rest/api/3/issue/SUP-7/assignee", method="PUT").respond_with_data("", status=204)
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json({"comments": []})
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({}, status=201)
    post(app)
    worker.run_once()
    first = outbox(app)[0]
    assert first["status"] == "pending" and first["attempts"] == 1
    assert first["next_attempt_at"] == (clock.now() + timedelta(seconds=30)).isoformat()
    assert "429" in first["last_error"]
    assert [o["next_attempt_at"] for o in outbox(app)[1:]] == [first["next_attempt_at"]] * 3   # all of Jira waits
    clock.advance(timedelta(seconds=29))
    assert worker.run_once() == 0
    clock.advance(timedelta(seconds=1))
    assert worker.run_once() == 4
    assert [o["status"] for o in outbox(app)] == ["sent"] * 4
    assert [r.method for r, _ in jira.log] == ["PUT", "PUT", "PUT", "GET", "POST", "GET", "POST"]    # in order


def test_server_errors_back_off_exponentially_then_go_dead(app_and_worker, jira, clock):
    app, worker = app_and_worker(max_attempts=3, base_delay=2.0)
    jira.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_data("boom", status=500)
    jira.expect_request("/rest/api/3/issue/SUP-7/assignee", method="PUT").respond_with_data("", status=204)
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json({"comments": []})
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({}, status=201)
    client = app.test_client()
    post(app)
    delays = []
    for _ in range(3):
        worker.run_once()
        row = outbox(app)[0]
        if row["status"] == "pending":
            due = row["next_attempt_at"]
            delays.append(due)
            clock.current = type(clock.current).fromisoformat(due)
    assert outbox(app)[0]["status"] == "dead" and outbox(app)[0]["attempts"] == 3
    assert len(delays) == 2
    deliveries = client.get("/api/deliveries").json
    assert [d["kind"] for d in deliveries["dead_letters"]] == ["update"]
    assert "500" in deliveries["dead_letters"][0]["last_error"]
    assert 'escalator_outbox_rows{status="dead"} 1.0' in client.get("/metrics").get_data(as_text=True)


def test_a_rejected_write_is_dead_at_once_with_jiras_reason(app_and_worker, jira):
    app, worker = app_and_worker()
    jira.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_json(
        {"errorMessages": [], "errors": {"priority": "Priority name 'Highest' is not valid"}}, status=400)
    jira.expect_request("/rest/api/3/issue/SUP-7/assignee", method="PUT").respond_with_data("", status=204)
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json({"comments": []})
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({}, status=201)
    post(app)
    worker.run_once()
    first = outbox(app)[0]
    assert first["status"] == "dead" and first["attempts"] == 1
    assert "is not valid" in first["last_error"]
    assert "api-token-123" not in first["last_error"]


def test_a_note_already_posted_is_not_posted_again(app_and_worker, jira):
    app, worker = app_and_worker()
    jira.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_data("", status=204)
    jira.expect_request("/rest/api/3/issue/SUP-7/assignee", method="PUT").respond_with_data("", status=204)
    # Both comments landed before a lost response: the retry finds their markers and posts nothing.
    already = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
        {"type": "text", "text": "[escalator-1]"}, {"type": "text", "text": " [escalator-1-0]"}]}]}
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json(
        {"comments": [{"id": "9", "body": already}]})
    post(app)
    worker.run_once()
    assert [o["status"] for o in outbox(app)] == ["sent", "sent", "skipped", "skipped"]
    assert not any(r.method == "POST" for r, _ in jira.log)


def test_an_unreachable_jira_is_retried_not_lost(make_app, clock):
    app = make_app(jira_base_url="http://127.0.0.1:9", jira_email="bot@example.com", jira_api_token="t")
    container = app.extensions["escalator"]
    worker = OutboxWorker(container.store, container.clients, clock, rng=_NoJitter())
    post(app)
    worker.run_once()
    rows = outbox(app)
    assert {o["status"] for o in rows} == {"pending"}
    assert rows[0]["last_error"] and [o["attempts"] for o in rows] == [1, 0, 0, 0]     # the rest wait their turn


def test_the_worker_sends_the_exact_zendesk_calls(make_app, httpserver, clock):
    from .conftest import FIXTURES
    app = make_app(zendesk_base_url=httpserver.url_for("/").rstrip("/"), zendesk_email="bot@example.com",
                   zendesk_api_token="zd-token")
    container = app.extensions["escalator"]
    worker = OutboxWorker(container.store, container.clients, clock, rng=_NoJitter())
    body = (FIXTURES / "zendesk" / "escalator__ticket_priority_changed__urgent.json").read_bytes()
    key = post(app, body, platform="zendesk")["ticket"]
    ticket_id = key.split("/")[1]
    path = f"/api/v2/tickets/{ticket_id}.json"
    httpserver.expect_request(path, method="PUT").respond_with_json({"ticket": {}})
    httpserver.expect_request(f"/api/v2/tickets/{ticket_id}/comments.json", method="GET").respond_with_json(
        {"comments": []})
    # The ticket already shows priority urgent: the assignment, the internal note and the public
    # acknowledgement are written.
    assert worker.run_once() == 3
    puts = [json.loads(r.get_data()) for r, _ in httpserver.log if r.method == "PUT"]
    assert puts[0] == {"ticket": {"group_id": 360001234567}}
    assert puts[1]["ticket"]["comment"]["public"] is False
    assert "Escalator: severity critical" in puts[1]["ticket"]["comment"]["body"]
    assert puts[2]["ticket"]["comment"]["public"] is True
    assert "We have received your report" in puts[2]["ticket"]["comment"]["body"]
    import base64
    auth = httpserver.log[0][0].headers["Authorization"].split()[1]
    assert base64.b64decode(auth).decode() == "bot@example.com/token:zd-token"


def test_writes_to_one_jira_issue_are_spaced_by_its_pacing(app_and_worker, jira, clock):
    app, worker = app_and_worker(pacing={"jira": 0.5})
    for path, method in [("/rest/api/3/issue/SUP-7", "PUT"), ("/rest/api/3/issue/SUP-7/assignee", "PUT"),
                         ("/rest/api/3/issue/SUP-7/comment", "POST")]:
        jira.expect_request(path, method=method).respond_with_data("", status=204)
    jira.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json({"comments": []})
    post(app)
    for _ in range(4):
        assert worker.run_once() == 1          # the issue's next write is held half a second
        assert worker.run_once() == 0
        clock.advance(timedelta(seconds=0.5))
    assert [o["status"] for o in outbox(app)] == ["sent"] * 4


def test_a_retry_after_counts_from_when_it_was_answered_not_from_when_the_request_left(app_and_worker, jira, clock):
    app, worker = app_and_worker()
    sent_at = clock.now()

    def slow_429(request):
        clock.advance(timedelta(seconds=10))       # the platform took ten seconds to say "wait 30"
        return Response("slow down", status=429, headers={"Retry-After": "30"})

    jira.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_handler(slow_429)
    post(app)
    worker.run_once()
    assert outbox(app)[0]["next_attempt_at"] == (sent_at + timedelta(seconds=40)).isoformat()
