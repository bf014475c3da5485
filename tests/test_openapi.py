"""The OpenAPI description of `/api`: a valid document, merged from its fragments without silent overrides,
covering every route the app serves, matching what each route really answers (status, content type and
body) from real deliveries through the intake and processor, reviews and drills, and naming the permission
each route enforces."""
import json
import re
from datetime import timedelta

import pytest
from openapi_spec_validator import validate
from werkzeug.wrappers import Response

from plugin import access
from plugin.platforms.jira import sign_jira
from plugin.platforms.zendesk import sign_zendesk
from web.openapi import SpecError, merge, spec

from .conftest import FIXTURES, START
from .openapi_check import check_request, check_response, described
from .test_web_auth import add_user, log_in
from .test_webhooks import SECRET, drain, outage_payload, post_jira

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
SCENARIO = "01-checkout-outage-unacknowledged.yaml"
TOKEN = "t0ken"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def call(client, method: str, path: str, status: int, body=None, headers=BEARER):
    """Send a request, require `status` and a response as described; the JSON (or text) answered.
    A request the route serves must be one the description accepts, too."""
    answer = client.open(path, method=method, headers=headers, **({} if body is None else {"json": body}))
    assert answer.status_code == status, f"{method} {path}: {answer.status_code} {answer.get_data(as_text=True)[:500]}"
    check_response(answer, method, path)
    if status < 300 and path.startswith("/api/"):
        check_request(method, path, json=body, headers=headers)
    return answer.json if answer.is_json else answer.get_data(as_text=True)


def with_token(app):
    """A test client that sends the API token, as a script does."""
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = BEARER["Authorization"]
    return client


@pytest.fixture
def client(make_app):
    return with_token(make_app(jira_webhook_secret=SECRET, zendesk_webhook_secret=SECRET, api_token=TOKEN))


# -- the document ---------------------------------------------------------------------------------

def test_the_description_is_a_valid_openapi_3_1_document():
    validate(spec())
    assert spec()["openapi"] == "3.1.0" and described().spec is not None


def test_it_is_served_to_anyone_since_it_holds_no_data(make_app):
    client = make_app(api_token=TOKEN).test_client()
    assert call(client, "GET", "/api/openapi.json", 200, headers={}) == json.loads(json.dumps(spec()))


def flask_to_openapi(rule: str) -> str:
    return re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule)


def test_every_api_route_is_described_and_every_described_route_exists(make_app):
    served = {(flask_to_openapi(rule.rule), method.lower())
              for rule in make_app().url_map.iter_rules() for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in spec()["paths"].items() for method in item if method in HTTP_METHODS}
    assert {route for route in served if route[0].startswith("/api/")} - documented == set(), \
        "describe these in web/openapi/<area>.yaml"
    assert documented - served == set(), "described but not served"


def test_every_route_that_needs_a_credential_describes_the_401_and_the_403():
    missing = [(method, path) for path, item in spec()["paths"].items() for method, operation in item.items()
               if method in HTTP_METHODS and operation.get("security") != []
               and not {"401", "403"} <= set(operation["responses"])]
    assert missing == []


BASE = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\ncomponents: {schemas: {Error: {type: object}}}\n"
GET_OK = "{get: {responses: {'200': {description: ok}}}}"


@pytest.mark.parametrize("fragments, message", [
    ({"a.yaml": f"paths:\n  /api/x: {GET_OK}\n", "b.yaml": f"paths:\n  /api/x: {GET_OK}\n"},
     "path /api/x is described in both a.yaml and b.yaml"),
    ({"a.yaml": "components:\n  schemas:\n    Error: {type: string}\n"},
     "schemas Error is described in both base.yaml and a.yaml"),
    ({"a.yaml": f"paths:\n  /api/x: {GET_OK}\n  /api/x: {GET_OK}\n"}, "a.yaml: repeated key(s) paths./api/x (line 3)"),
    ({"a.yaml": "openapi: 3.0.0\npaths: {}\n"}, "a.yaml: a fragment holds only paths and components, not openapi"),
    ({"a.yaml": "paths:\n  /api/x: {get: {responses: {200: {description: ok}}}}\n"},
     "a.yaml: quote the key 200 under paths./api/x.get.responses ('200')"),
    ({"a.yaml": "components:\n  schemas:\n    Due: {type: string, examples: [2026-12-31]}\n"},
     "a.yaml: quote the value 2026-12-31 at components.schemas.Due.examples.0; YAML read it as a date"),
])
def test_fragments_that_do_not_merge_are_an_error_naming_the_files(tmp_path, fragments, message):
    (tmp_path / "base.yaml").write_text(BASE)
    for name, text in fragments.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(SpecError) as refused:
        merge(tmp_path)
    assert str(refused.value) == message


def test_fragments_merge_in_file_order_into_one_document(tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "b.yaml").write_text(f"paths:\n  /api/b: {GET_OK}\n")
    (tmp_path / "a.yaml").write_text(f"paths:\n  /api/a: {GET_OK}\ncomponents:\n  schemas:\n    A: {{type: string}}\n")
    merged = merge(tmp_path)
    assert list(merged["paths"]) == ["/api/a", "/api/b"] and set(merged["components"]["schemas"]) == {"Error", "A"}


@pytest.mark.parametrize("status, body, content_type, reason", [
    (200, {"deliveries": [], "outbox": {}}, "application/json", "'dead_letters' is a required property"),
    (200, {"deliveries": [], "outbox": {"lost": 1}, "dead_letters": []}, "application/json",
     "at outbox: 'lost' is not one of"),
    (400, {"error": "bad limit", "hint": "send a number"}, "application/json", "('hint' was unexpected)"),
    (418, {"error": "teapot"}, "application/json", "ResponseNotFound"),
    (200, "<p>a page</p>", "text/html", "MediaTypeNotFound"),
], ids=["missing field", "unknown status", "extra field", "undocumented status", "wrong content type"])
def test_a_response_unlike_its_description_is_refused_with_the_reason(status, body, content_type, reason):
    answer = Response(body if isinstance(body, str) else json.dumps(body), status=status, content_type=content_type)
    with pytest.raises(AssertionError) as refused:
        check_response(answer, "GET", "/api/deliveries?limit=5")
    assert reason in str(refused.value)


# -- what the routes answer -----------------------------------------------------------------------

def deliver_undecided(client, payload: dict, delivery: str) -> None:
    """A signed delivery stored but not yet decided: its ticket is pending."""
    body = json.dumps(payload).encode()
    answer = client.post("/webhooks/jira", data=body, content_type="application/json", headers={
        "X-Hub-Signature": sign_jira(body, SECRET), "X-Atlassian-Webhook-Identifier": delivery})
    assert answer.status_code in (200, 202), answer.text


def test_tickets_deliveries_and_health_answer_as_described(client, clock):
    post_jira(client, outage_payload("SUP-7"), delivery="d-7")
    clock.advance(timedelta(minutes=16))
    drain(client)                                   # the ack deadline passes: a timer's own log entry, L2
    post_jira(client, {"webhookEvent": "sprint_started", "timestamp": 1}, delivery="d-ignored")
    deliver_undecided(client, outage_payload("SUP-9"), "d-9")
    for path, status in [("/api/tickets/jira/SUP-7", 200), ("/api/tickets/jira/SUP-9", 200),
                         ("/api/tickets/jira/NOPE-1", 404), ("/api/tickets/github/SUP-7", 404),
                         ("/api/deliveries", 200), ("/api/deliveries?limit=1", 200), ("/api/deliveries?limit=0", 200),
                         ("/api/deliveries?limit=abc", 400), ("/healthz", 200), ("/metrics", 200)]:
        call(client, "GET", path, status)
    decided = client.get("/api/tickets/jira/SUP-7").json
    assert [e["event"] for e in decided["timeline"]] == ["created", "sla_breached"]
    assert decided["timeline"][1]["delivery"] is None and decided["timers"][0]["state"] == "breached"
    pending = client.get("/api/tickets/jira/SUP-9").json
    assert (pending["status"], pending["created_at"], pending["severity"]) == ("pending", None, "")
    statuses = [d["status"] for d in client.get("/api/deliveries").json["deliveries"]]
    assert statuses == ["received", "ignored", "decided"]


def rated_zendesk_ticket(client, clock) -> int:
    """A critical Zendesk ticket whose delivery carries the customer's rating; its review's id."""
    payload = json.loads((FIXTURES / "zendesk" / "escalator__trigger_body__satisfaction_rated.json").read_text())
    payload["ticket"]["priority"] = "Urgent"
    body = json.dumps(payload).encode()
    signature, stamp = sign_zendesk(body, SECRET, clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    client.post("/webhooks/zendesk", data=body, content_type="application/json", headers={
        "X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Invocation-Id": "inv-csat"})
    drain(client)
    return client.get("/api/tickets/zendesk/5160").json["review"]["id"]


def test_reviews_and_action_items_answer_as_described(client, clock):
    post_jira(client, outage_payload("SUP-7"), delivery="d-7")
    review = client.get("/api/tickets/jira/SUP-7").json["review"]["id"]
    rated = rated_zendesk_ticket(client, clock)
    item = {"title": "Canary every checkout deploy", "owner": "platform-sre", "due": "2026-12-04", "link": "OPS-12"}
    base = f"/api/reviews/{review}"
    for method, path, body, status in [
        ("GET", "/api/reviews", None, 200),
        ("GET", "/api/reviews?status=draft&limit=5", None, 200),
        ("GET", "/api/reviews?status=closed", None, 400),
        ("GET", "/api/reviews?limit=many", None, 400),
        ("GET", base, None, 200),
        ("GET", f"/api/reviews/{rated}", None, 200),
        ("GET", "/api/reviews/999", None, 404),
        ("GET", "/api/reviews/first", None, 404),
        ("PATCH", base, {"sections": {"why_it_happened": "A deploy skipped the canary."}, "status": "in_review"}, 200),
        ("PATCH", base, {"colour": "red"}, 400),
        ("POST", f"{base}/actions", item, 201),
        ("POST", f"{base}/actions", {**item, "owner": "nobody"}, 400),
        ("POST", "/api/reviews/999/actions", item, 404),
        ("PATCH", f"{base}/actions/1", {"status": "done"}, 200),
        ("PATCH", f"{base}/actions/7", {"status": "done"}, 404),
        ("PATCH", base, {"status": "final"}, 200),
        ("GET", base, None, 200),
        ("PATCH", base, {"sections": {"what_went_well": "Paging worked."}}, 409),
        ("PATCH", f"/api/reviews/{rated}", {"status": "final"}, 409),
    ]:
        call(client, method, path, status, body)
    final = client.get(base).json
    assert final["frozen"] is True and final["actions"][0]["closed_at"] == START.isoformat()
    assert client.get(f"/api/reviews/{rated}").json["prefill"]["csat"][0]["score"] is None


def start(client, **body) -> int:
    return call(client, "POST", "/api/drills", 201, {"scenario": SCENARIO, **body})["session"]["id"]


def test_drills_and_trainees_answer_as_described(make_app):
    client = with_token(make_app(clients={}, api_token=TOKEN))
    solo, team = start(client, trainees={"ana": "solo"}), start(client, trainees={"ana": "incident_owner",
                                                                                  "ben": "communications"})
    base = f"/api/drills/{solo}"
    for method, path, body, status in [
        ("GET", "/api/drills", None, 200),
        ("POST", "/api/drills", {"scenario": "no-such-scenario.yaml"}, 400),
        ("POST", "/api/drills", {"scenario": SCENARIO, "mode": "accelerated", "speed": 60}, 201),
        ("GET", base, None, 200),
        ("POST", f"{base}/advance", {"next": True}, 200),
        ("POST", f"{base}/advance", {}, 400),
        ("POST", f"{base}/actions", {"do": "acknowledge"}, 201),
        ("POST", f"{base}/actions", {"do": "severity", "to": "critical", "rationale": "an outage"}, 201),
        ("POST", f"{base}/actions", {"do": "exception", "name": "EU personal-data incident", "apply": False}, 201),
        ("POST", f"{base}/actions", {"do": "level", "to": "L9"}, 400),
        ("GET", f"{base}/debrief.md", None, 409),
        ("POST", f"{base}/finish", None, 200),
        ("POST", f"{base}/finish", None, 409),
        ("POST", f"{base}/actions", {"do": "note", "text": "late"}, 409),
        ("GET", base, None, 200),
        ("GET", f"{base}/debrief.md", None, 200),
        ("GET", f"{base}/debrief.html", None, 200),
        ("GET", f"{base}/debrief.pdf", None, 404),
        ("POST", f"/api/drills/{team}/finish", None, 200),
        ("GET", "/api/drills/99999", None, 404),
        ("GET", "/api/drills/99999999999", None, 404),
        ("GET", "/api/trainees", None, 200),
        ("GET", "/api/trainees/ana", None, 200),
        ("GET", "/api/trainees/nobody-yet", None, 200),
    ]:
        call(client, method, path, status, body)
    assert client.get(base).json["result"]["actions"][2]["apply"] is False
    assert set(client.get(f"/api/drills/{team}").json["result"]["roles"]) >= {"incident_owner", "communications"}
    assert client.get("/api/trainees/ana").json["drills"] == 2


API_READS = ["/api/tickets/jira/SUP-7", "/api/deliveries", "/api/reviews", "/api/reviews/1", "/api/drills",
             "/api/drills/1", "/api/trainees", "/api/trainees/ana"]


@pytest.mark.parametrize("headers", [{"Authorization": "Bearer wrong"}, {"Authorization": "Basic dDBrZW4="}, {}],
                         ids=["wrong token", "not bearer", "no token"])
def test_a_missing_or_wrong_token_is_a_described_401(make_app, headers):
    client = make_app(api_token=TOKEN).test_client()
    for path in API_READS:
        assert "Bearer" in call(client, "GET", path, 401, headers=headers)["error"]


@pytest.mark.parametrize("role, path", [("viewer", "/api/drills"), ("viewer", "/api/trainees"),
                                        ("trainee", "/api/deliveries"), ("trainee", "/api/reviews")])
def test_a_role_without_the_permission_gets_a_described_403(make_app, role, path):
    app = make_app(api_token=TOKEN)
    add_user(app, role, role)
    client = app.test_client()
    assert log_in(client, role).status_code == 302
    assert f"your role ({role})" in call(client, "GET", path, 403, headers={})["error"]


# -- who may call what ------------------------------------------------------------------------------

EXAMPLE_VALUES = {"platform": "jira", "key": "SUP-1", "kind": "md", "name": "ana"}


def example(path: str) -> str:
    return re.sub(r"{(\w+)}", lambda m: EXAMPLE_VALUES.get(m.group(1), "1"), path)


def page_csrf_token(client) -> str:
    """The token a page gives htmx for the logged-in user's calls (any role gets a page, if only a refusal)."""
    page = client.get("/", headers={"Accept": "text/html"}).get_data(as_text=True)
    return re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)


def guarded_operations() -> list[tuple[str, str, str]]:
    return [(method.upper(), path, operation["x-permission"]) for path, item in spec()["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS and "x-permission" in operation]


def test_the_permission_table_is_the_one_the_service_enforces():
    rows = re.findall(r"^\| (\w+) +\| ([\w, ]+?) +\|$", spec()["info"]["description"], re.MULTILINE)
    assert {permission: set(roles.split(", ")) for permission, roles in rows[1:]} == access.PERMISSIONS


def test_each_operation_refuses_exactly_the_roles_its_permission_leaves_out(make_app):
    app = make_app(api_token=TOKEN)
    for role in access.ROLES:
        add_user(app, role, role)
    for role in access.ROLES:
        client = app.test_client()
        assert log_in(client, role).status_code == 302
        csrf = {"X-CSRFToken": page_csrf_token(client)}
        for method, path, permission in guarded_operations():
            sent = {} if method == "GET" else {"json": {}}
            answer = client.open(example(path), method=method, headers=csrf, **sent)
            refused = answer.status_code == 403
            assert refused != access.allowed(role, permission), (role, method, path, answer.status_code, answer.json)
            check_response(answer, method, example(path))
