"""`/audit`, `/api/audit` and what-if in the Flask test client: who may see them, the figures of real
deliveries as described, a broken candidate shown with its lines (never a 500), and hostile text escaped."""
from __future__ import annotations

import re
from datetime import timedelta
from io import BytesIO

import pytest

from web.audit import audit_page

from .conftest import RULES
from .openapi_check import check_request, check_response
from .test_webhooks import SECRET, drain, outage_payload, post_jira

SHIPPED = (RULES / "matrix.yaml").read_text()
PASSWORD = "correct horse battery"
HOSTILE = "<script>alert(1)</script>{{7*7}}"


def log_in(client, role: str) -> None:
    """Add a user with `role` and log the client in through the login form."""
    from plugin.passwords import hash_password
    client.application.extensions["escalator.users"].add(role, role, hash_password(PASSWORD),
                                                         client.application.extensions["escalator"].clock.now())
    answer = client.post("/login", data={"name": role, "password": PASSWORD,
                                         "csrf_token": csrf_token(client.get("/login").text)})
    assert answer.status_code == 302, answer.text


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def client(make_app, clock):
    app = make_app(jira_webhook_secret=SECRET, engine="python")     # the reference backend replays faster
    if audit_page.name not in app.blueprints:
        app.register_blueprint(audit_page)
    client = app.test_client()
    post_jira(client, outage_payload("SUP-7"), delivery="d-7")
    post_jira(client, outage_payload("SUP-8", summary=f"Checkout is down {HOSTILE}"), delivery="d-8")
    clock.advance(timedelta(minutes=16))
    drain(client)           # both acks breach: the ack rule's escalation fires
    return client


def post_api(client, body):
    """A what-if from a logged-in page's script: the session, and the page's CSRF token in a header."""
    token = csrf_token(client.get("/audit").text)
    return client.post("/api/audit/what-if", json=body, headers={"X-CSRFToken": token})


@pytest.mark.parametrize("role, status", [("admin", 200), ("lead", 200), ("trainer", 403), ("viewer", 403)])
def test_only_admins_and_leads_see_the_audit(client, role, status):
    log_in(client, role)
    assert client.get("/audit").status_code == status
    assert client.get("/api/audit").status_code == status


def test_the_page_shows_the_score_its_formula_and_the_rules_that_fired(client):
    log_in(client, "lead")
    page = client.get("/audit").text
    report = client.get("/api/audit").json
    assert f'data-testid="score">{report["health"]["score"]}<' in page
    assert "100 minus, for each line below" in page
    fired = {r["rule"]: r for r in report["rules"]["rows"]}
    assert fired["enterprise outage is critical"]["tickets_30d"] == 2
    assert fired["missed acknowledgement escalates to L2"]["last_24h"] == 2
    assert "enterprise outage is critical" not in report["rules"]["never_fired"]
    assert [t["missed"] for t in report["timers"] if t["timer"] == "ack"] == [2]
    assert HOSTILE not in page and "<script>alert" not in page


def test_the_api_answers_as_described(client):
    log_in(client, "admin")
    check_response(client.get("/api/audit"), "GET", "/api/audit")
    check_response(client.get("/api/audit?simulated=1"), "GET", "/api/audit?simulated=1")


def test_a_what_if_with_the_matrix_in_force_replays_both_and_changes_nothing(client):
    log_in(client, "admin")
    body = {"matrix": SHIPPED, "days": 1}
    answer = post_api(client, body)
    check_response(answer, "POST", "/api/audit/what-if")
    check_request("POST", "/api/audit/what-if", json=body, headers={"Authorization": "Bearer t"})
    assert answer.status_code == 200, answer.text
    assert (answer.json["deliveries"], answer.json["tickets"], answer.json["changed"]) == (2, 2, [])


def test_with_nothing_recorded_a_generated_sample_is_replayed_instead(client):
    log_in(client, "admin")
    body = {"matrix": SHIPPED, "days": 1, "source": "generated"}
    answer = post_api(client, body)
    check_response(answer, "POST", "/api/audit/what-if")
    check_request("POST", "/api/audit/what-if", json=body, headers={"Authorization": "Bearer t"})
    assert answer.json["source"] == "generated"
    assert answer.json["deliveries"] == answer.json["total"] > 2 and answer.json["tickets"] > 2
    assert answer.json["changed"] == []


def test_a_candidate_shows_each_ticket_it_would_decide_differently(client):
    log_in(client, "lead")
    candidate = SHIPPED.replace("then: {severity: critical, level: L1, labels: [escalation, outage]}",
                                "then: {severity: high, level: L1, labels: [escalation, outage]}", 1)
    answer = post_api(client, {"matrix": candidate, "days": 1})
    check_response(answer, "POST", "/api/audit/what-if")
    changed = {c["ticket"]: c["fields"] for c in answer.json["changed"]}
    assert set(changed) == {"jira/SUP-7", "jira/SUP-8"}
    assert changed["jira/SUP-7"]["severity"] == {"current": "critical", "candidate": "high"}


@pytest.mark.parametrize("body, status, message", [
    ({"matrix": SHIPPED.replace("severity: critical, level: L1, labels: [escalation, outage]",
                                "severity: critcal, level: L1")}, 422, "unknown severity 'critcal'"),
    ({"matrix": "levels: [\n"}, 422, "YAML syntax"),
    ({"matrix": ""}, 400, "send a JSON object with `matrix`"),
    ({"matrix": SHIPPED, "days": 3}, 400, "days is one of 1, 7, 30, not 3"),
    ({"matrix": SHIPPED, "source": "tomorrow"}, 400, "source is recorded or generated, not 'tomorrow'"),
])
def test_a_bad_what_if_request_is_answered_with_what_is_wrong(client, body, status, message):
    log_in(client, "admin")
    answer = post_api(client, body)
    assert answer.status_code == status
    check_response(answer, "POST", "/api/audit/what-if")
    assert message in answer.text


def test_the_form_shows_a_broken_candidate_with_its_line_and_escapes_what_was_pasted(client):
    log_in(client, "lead")
    token = csrf_token(client.get("/audit").text)
    broken = SHIPPED.replace("version: \"2026.11\"", f"version: \"2026.11\"\nunknown_{HOSTILE}: 1")
    answer = client.post("/audit/what-if", data={"matrix": broken, "days": "1", "csrf_token": token},
                         headers={"HX-Request": "true"})
    assert answer.status_code == 200        # htmx swaps only a 2xx answer in
    assert 'data-testid="what-if-problems"' in answer.text and "matrix.yaml:" in answer.text
    assert "<script>alert" not in answer.text and "&lt;script&gt;" in answer.text


def test_the_form_without_javascript_gets_a_whole_page_and_an_upload_is_read(client):
    log_in(client, "admin")
    token = csrf_token(client.get("/audit").text)
    answer = client.post("/audit/what-if", content_type="multipart/form-data", data={
        "csrf_token": token, "days": "7", "matrix": "", "matrix_file": (BytesIO(SHIPPED.encode()), "matrix.yaml")})
    assert answer.status_code == 200, answer.text
    assert "<h1>What if</h1>" in answer.text and "0 of 2 tickets" in answer.text


def test_a_form_without_a_candidate_or_its_token_is_refused(client):
    log_in(client, "admin")
    token = csrf_token(client.get("/audit").text)
    assert client.post("/audit/what-if", data={"matrix": " ", "csrf_token": token}).status_code == 400
    broken = client.post("/audit/what-if", data={"matrix": "levels: [\n", "csrf_token": token})
    assert broken.status_code == 422 and "YAML syntax" in broken.text
    assert client.post("/audit/what-if", data={"matrix": SHIPPED}).status_code == 400



def test_a_second_what_if_while_one_replays_is_told_to_retry(client):
    from web import audit
    log_in(client, "admin")
    with audit._replaying:
        answer = post_api(client, {"matrix": SHIPPED, "days": 1})
    assert answer.status_code == 503 and "try again in a few seconds" in answer.json["error"]
    check_response(answer, "POST", "/api/audit/what-if")
