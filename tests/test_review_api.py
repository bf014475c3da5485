"""`/api/reviews` as the dashboard and scripts use it: signed Jira deliveries through the real
intake and processor, then reviews read, edited and tracked; every refusal a readable JSON error."""
import json
from datetime import timedelta

import pytest

from plugin.platforms.zendesk import sign_zendesk
from plugin.store.port import Batch, NewReview, TicketRecord
from plugin.store.schema import tickets

from .conftest import FIXTURES, START
from .openapi_check import check_request, check_response
from .test_webhooks import SECRET, drain, outage_payload, post_jira


@pytest.fixture
def client(make_app):
    return make_app(jira_webhook_secret=SECRET, zendesk_webhook_secret=SECRET).test_client()


@pytest.fixture
def review_id(client) -> int:
    post_jira(client, outage_payload("SUP-7"), delivery="d-7")
    return client.get("/api/tickets/jira/SUP-7").json["review"]["id"]


def simulated_review(store, key="SIM-3-SUP-9") -> int:
    """A review of a ticket marked simulated, as `escalator simulate --into-db` leaves one; its id."""
    store.write(Batch(START, tickets=[(TicketRecord("jira", key, version=1), 0)],
                      reviews=[NewReview("jira", key, START, "severity critical, level L1 after created", "v1")]))
    with store.engine.begin() as conn:
        conn.execute(tickets.update().where(tickets.c.key == key).values(simulated=True))
    return store.review_of("jira", key).id


def quiet_ticket(client, key="SUP-8"):
    payload = outage_payload(key, summary="How do I export a report to CSV?")
    payload["issue"]["fields"]["customfield_10050"] = {"value": "Bronze"}
    post_jira(client, payload, delivery=f"d-{key}")


def test_a_significant_ticket_names_its_review_and_a_quiet_one_has_none(client, review_id):
    quiet_ticket(client)
    assert client.get("/api/tickets/jira/SUP-7").json["review"] == {
        "id": review_id, "status": "draft", "url": f"/api/reviews/{review_id}"}
    quiet = client.get("/api/tickets/jira/SUP-8").json
    assert (quiet["severity"], quiet["level"], quiet["review"]) == ("high", "L1", None)
    assert [r["key"] for r in client.get("/api/reviews").json["reviews"]] == ["SUP-7"]


def test_a_review_shows_the_guides_sections_and_a_prefill_matching_the_log(client, review_id, clock):
    clock.advance(timedelta(minutes=15))
    drain(client)                              # the ack deadline passes: L2
    ticket = client.get("/api/tickets/jira/SUP-7").json
    review = client.get(f"/api/reviews/{review_id}").json
    assert [(e["id"], e["at"], e["event"], e["changes"]) for e in review["prefill"]["timeline"]] == [
        (e["id"], e["at"], e["event"], e["changes"]) for e in ticket["timeline"]]
    assert [e["rules"] for e in review["prefill"]["timeline"]] == [[t["rule"] for t in e["trace"]]
                                                                   for e in ticket["timeline"]]
    assert [(s["level"], s["dwell_seconds"]) for s in review["prefill"]["levels"]] == [("L1", 900), ("L2", 0)]
    assert [s["key"] for s in review["sections"]] == ["what_happened", "why_it_happened", "what_went_well",
                                                      "what_to_improve", "where_we_got_lucky"]
    assert review["sections"][0]["prefilled"] is True
    assert review["sections"][0]["text"] == review["prefill"]["summary"]
    assert "+15m: level L1 → L2" in review["prefill"]["summary"]


def test_the_customers_rating_is_read_back_from_the_delivery_it_came_in(client, clock):
    payload = json.loads((FIXTURES / "zendesk" / "escalator__trigger_body__satisfaction_rated.json").read_text())
    payload["ticket"]["priority"] = "Urgent"            # critical: the rating's own decision opens the review
    body = json.dumps(payload).encode()
    signature, stamp = sign_zendesk(body, SECRET, clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    client.post("/webhooks/zendesk", data=body, content_type="application/json", headers={
        "X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Invocation-Id": "inv-csat"})
    drain(client)
    review = client.get(client.get("/api/tickets/zendesk/5160").json["review"]["url"]).json
    assert review["prefill"]["csat"] == [{
        "at": "2026-11-30T09:00:00+00:00", "rating": "bad", "score": None,
        "comment": "Fixed, but it took two days and nobody told us what was going on."}]
    assert 'The customer rated it bad: "Fixed, but it took two days' in review["sections"][0]["text"]


def test_a_team_lead_edits_moves_and_tracks_action_items(client, review_id):
    edited = client.patch(f"/api/reviews/{review_id}", json={
        "sections": {"why_it_happened": "A deploy skipped the canary."}, "status": "in_review"})
    assert edited.status_code == 200 and edited.json["status"] == "in_review"
    assert edited.json["sections"][1] == {
        "key": "why_it_happened", "title": "Why it happened",
        "prompt": "Root cause and the conditions that let it escalate.", "prefilled": False,
        "text": "A deploy skipped the canary."}
    added = client.post(f"/api/reviews/{review_id}/actions", json={
        "title": "Canary every checkout deploy", "owner": "platform-sre", "due": "2026-12-04", "link": "OPS-12"})
    assert added.status_code == 201
    assert {k: added.json[k] for k in ("number", "owner", "due_at", "status", "link", "overdue")} == {
        "number": 1, "owner": "platform-sre", "due_at": "2026-12-04T23:59:59+00:00", "status": "open",
        "link": "OPS-12", "overdue": False}
    closed = client.patch(f"/api/reviews/{review_id}/actions/1", json={"status": "wont_do"})
    assert (closed.json["status"], closed.json["closed_at"]) == ("wont_do", "2026-11-30T09:00:00+00:00")
    assert client.get("/api/reviews?status=in_review").json["reviews"][0]["actions"][0]["status"] == "wont_do"
    assert client.get("/api/reviews?status=draft").json["reviews"] == []


def test_a_final_review_keeps_its_frozen_timeline_while_the_log_grows(client, review_id, clock):
    client.patch(f"/api/reviews/{review_id}", json={"status": "in_review"})
    final = client.patch(f"/api/reviews/{review_id}", json={"status": "final"}).json
    clock.advance(timedelta(minutes=15))
    drain(client)
    assert len(client.get("/api/tickets/jira/SUP-7").json["timeline"]) == 2
    again = client.get(f"/api/reviews/{review_id}").json
    assert again["frozen"] is True and again["prefill"] == final["prefill"] and len(again["prefill"]["timeline"]) == 1
    assert again["final_at"] == "2026-11-30T09:00:00+00:00"


@pytest.mark.parametrize("method, path, body, status, message", [
    ("get", "/api/reviews?status=closed", None, 400, "unknown status 'closed'; reviews are draft, in_review, final"),
    ("get", "/api/reviews?limit=many", None, 400, "limit 'many' is not a number"),
    ("get", "/api/reviews?simulated=yes", None, 400, "simulated 'yes' is not one of"),
    ("get", "/api/reviews/999", None, 404, "no review 999"),
    ("get", "/api/reviews/first", None, 404, "review id 'first' is not a number"),
    ("get", "/api/reviews/99999999999", None, 404, "review id '99999999999' is not a number of at most 9 digits"),
    ("patch", "/api/reviews/{id}", "not json", 400, "send a JSON object"),
    ("patch", "/api/reviews/{id}", ["status"], 400, "send a JSON object"),
    ("patch", "/api/reviews/{id}", {"colour": "red"}, 400, "unknown field(s) 'colour'; expected some of: sections"),
    ("patch", "/api/reviews/{id}", {"status": "final"}, 409, "review 1 is draft; it can only move to in_review"),
    ("patch", "/api/reviews/{id}", {"status": 3}, 400, "unknown status 3"),
    ("patch", "/api/reviews/{id}", {"sections": "text"}, 400, "`sections` is an object of section name -> text"),
    ("patch", "/api/reviews/{id}", {"sections": {"root_cause": "x"}}, 400, "unknown section(s) 'root_cause'"),
    ("patch", "/api/reviews/999", {"status": "in_review"}, 404, "no review 999"),
    ("post", "/api/reviews/{id}/actions", {"title": "x", "owner": "nobody", "due": "2026-12-01"}, 400,
     "owner 'nobody' is not a team or person of the matrix"),
    ("post", "/api/reviews/{id}/actions", {"title": "x", "owner": "cto", "due": "soon"}, 400,
     "due 'soon' is not a date"),
    ("post", "/api/reviews/{id}/actions", {"title": "x", "owner": "cto", "due": "2026-12-01", "link": "ftp://x"},
     400, "link 'ftp://x' is neither a Jira issue key"),
    ("post", "/api/reviews/{id}/actions", {"title": "x", "owner": "cto", "due": "2026-12-01", "prio": 1}, 400,
     "unknown field(s) 'prio'"),
    ("post", "/api/reviews/999/actions", {"title": "x", "owner": "cto", "due": "2026-12-01"}, 404, "no review 999"),
    ("patch", "/api/reviews/{id}/actions/7", {"status": "done"}, 404, "review 1 has no action item 7; it has none"),
    ("patch", "/api/reviews/{id}/actions/one", {"status": "done"}, 404, "action item number 'one' is not a number"),
    ("put", "/api/reviews/{id}", {}, 405, "method not allowed here"),
], ids=lambda v: v if isinstance(v, str) and v.startswith("/") else None)
def test_a_request_that_cannot_be_served_gets_a_readable_json_error(client, review_id, method, path, body, status,
                                                                     message):
    kwargs = {"data": body, "content_type": "application/json"} if isinstance(body, str) else {"json": body}
    answer = getattr(client, method)(path.format(id=review_id), **({} if body is None else kwargs))
    assert answer.status_code == status and message in answer.json["error"], answer.json


def test_an_item_closed_then_given_a_bad_status_is_refused(client, review_id):
    client.post(f"/api/reviews/{review_id}/actions", json={"title": "x", "owner": "cto", "due": "2026-12-01"})
    answer = client.patch(f"/api/reviews/{review_id}/actions/1", json={"status": "closed"})
    assert answer.status_code == 400
    assert answer.json["error"] == "unknown status 'closed'; an action item is one of: open, done, wont_do"


def test_reviews_take_the_api_token_like_every_api_route(make_app):
    client = make_app(api_token="t0ken").test_client()
    assert client.get("/api/reviews").status_code == 401
    assert client.get("/api/reviews", headers={"Authorization": "Bearer t0ken"}).json == {"reviews": []}


def test_reviews_of_simulated_tickets_are_listed_only_when_asked_and_marked(client, review_id):
    simulated = simulated_review(client.application.extensions["escalator"].store)
    listed = [(r["key"], r["simulated"]) for r in client.get("/api/reviews").json["reviews"]]
    assert listed == [("SUP-7", False)]
    both = [(r["key"], r["simulated"]) for r in client.get("/api/reviews?simulated=1").json["reviews"]]
    assert both == [("SIM-3-SUP-9", True), ("SUP-7", False)]
    assert client.get("/api/reviews?simulated=true&status=draft").json["reviews"][0]["id"] == simulated
    assert [r["key"] for r in client.get("/api/reviews?simulated=0").json["reviews"]] == ["SUP-7"]
    assert client.get(f"/api/reviews/{simulated}").json["simulated"] is True
    for path in ("/api/reviews?simulated=1", "/api/reviews?simulated=true&status=draft"):
        check_response(client.get(path), "GET", path)                 # as web/openapi/reviews.yaml describes
        check_request("GET", path, headers={"Authorization": "Bearer t0ken"})
    moved = client.patch(f"/api/reviews/{simulated}", json={"status": "in_review"}).json     # a lead practises on it
    assert (moved["status"], moved["simulated"]) == ("in_review", True)
