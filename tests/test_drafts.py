"""Customer messages as drafts: held for the owner, sent as edited through the outbox exactly once,
sent as rendered when nobody acts in time, discarded with a reason; sending ends the cadence.

The real app, SQLite store, processor and outbox worker, against a fake Jira over HTTP, on a fixed clock.
"""
import json
import shutil
from datetime import timedelta

import pytest
from sqlalchemy import select

from plugin.domain.errors import MatrixError
from plugin.matrix import load_matrix
from plugin.outbox import OutboxWorker
from plugin.store.schema import outbox

from .conftest import RULES, scratch_postgres
from .openapi_check import check_response
from .test_outbox import _NoJitter
from .test_webhooks import outage_payload

ACK = "- {on: escalated, notify: [requester], channel: ticket_comment, template: ack.md.j2, cadence: update_every}"
EDITED = ("Hello Test User,\n\nOur payments engineers are on it: card authorisations fail in eu-west. "
          "<b>Next update by 10:30.</b>")


def drafted_rules(tmp_path, ack_mode: str = "send: draft_then_auto, after: 10m"):
    """The shipped matrix with L1's acknowledgement drafted."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    matrix = rules / "matrix.yaml"
    text = matrix.read_text()
    assert ACK in text
    matrix.write_text(text.replace(ACK, ACK[:-1] + f", {ack_mode}}}", 1))
    return rules


@pytest.fixture
def jira(httpserver):
    httpserver.expect_request("/rest/api/3/issue/SUP-7/comment", method="GET").respond_with_json({"comments": []})
    httpserver.expect_request("/rest/api/3/issue/SUP-7/comment", method="POST").respond_with_json({"id": "1"},
                                                                                                   status=201)
    httpserver.expect_request("/rest/api/3/issue/SUP-7", method="PUT").respond_with_data("", status=204)
    httpserver.expect_request("/rest/api/3/issue/SUP-7/assignee", method="PUT").respond_with_data("", status=204)
    return httpserver


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request):
    """None for the embedded SQLite; else the URL of a scratch PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    with scratch_postgres("escalator_drafts") as url:
        yield url


@pytest.fixture
def desk(make_app, jira, clock, tmp_path, database):
    """An app whose matrix drafts L1's acknowledgement, with its processor and outbox worker."""
    def make(ack_mode: str = "send: draft_then_auto, after: 10m"):
        app = make_app(rules=str(drafted_rules(tmp_path, ack_mode)), jira_base_url=jira.url_for("/").rstrip("/"),
                       jira_email="bot@example.com", jira_api_token="api-token-123",
                       public_url="https://escalator.example.com", **({"database_url": database} if database else {}))
        container = app.extensions["escalator"]
        worker = OutboxWorker(container.store, container.clients, clock, rng=_NoJitter())
        client = app.test_client()
        client.post("/webhooks/jira", data=json.dumps(outage_payload()), content_type="application/json")
        container.processor.drain()
        made.append(container)
        return app, client, worker
    made = []
    yield make
    for container in made:
        container.store.dispose()


def comments_posted(jira) -> list[str]:
    return [json.dumps(json.loads(r.get_data())) for r, _ in jira.log
            if r.method == "POST" and r.path.endswith("/comment")]


def acknowledgements(jira) -> list[str]:
    """The posted comments carrying the drafted acknowledgement's marker (its first decision's first message)."""
    return [c for c in comments_posted(jira) if "[escalator-1-0]" in c]


def api(client, path: str) -> dict:
    """A GET under /api, its answer held to the OpenAPI description."""
    return check_response(client.get(path), "GET", path).json


def ticket(client) -> dict:
    return api(client, "/api/tickets/jira/SUP-7")


def test_a_drafted_acknowledgement_waits_and_the_team_is_told_where_to_tailor_it(desk, jira):
    app, client, worker = desk()
    [draft] = api(client, "/api/drafts")["drafts"]
    assert (draft["key"], draft["situation"], draft["mode"], draft["status"]) == ("SUP-7", "escalated",
                                                                                 "draft_then_auto", "pending")
    assert draft["template_text"].startswith("Hello Test User") and draft["seconds_left"] == 600
    assert draft["variables"]["ticket"]["key"] == "SUP-7"          # what the template read, to check it by
    worker.run_once()
    [told] = [c for c in ticket(client)["timeline"][0]["communications"] if c["channel"] == "ticket_comment"]
    assert told["sent"] == [] and told["drafted"]["mode"] == "draft_then_auto"     # the customer heard nothing
    [note] = [c for c in comments_posted(jira) if "drafted a customer update" in c]
    assert "https://escalator.example.com/tickets/jira/SUP-7#drafts" in note and "Hello Test User" in note
    with app.extensions["escalator"].store.reading() as tx:
        [owner] = tx.conn.execute(select(outbox.c.data).where(outbox.c.platform == "comms")).scalars().all()
    assert (owner["channel"], owner["to"], owner["situation"]) == ("slack", ["#support-escalations"], "draft")
    assert "https://escalator.example.com/tickets/jira/SUP-7#drafts" in owner["text"]
    assert "Hello Test User" not in owner["text"]       # the customer's text stays on the ticket's private note


def test_an_edited_draft_reaches_jira_once_with_the_edited_text_and_the_log_keeps_the_diff(desk, jira, clock):
    app, client, worker = desk()
    worker.run_once()
    [draft] = api(client, "/api/drafts")["drafts"]
    answer = check_response(client.post(f"/api/drafts/{draft['id']}/send", json={"text": EDITED}), "POST",
                            f"/api/drafts/{draft['id']}/send")
    assert answer.status_code == 202, answer.json
    again = check_response(client.post(f"/api/drafts/{draft['id']}/send", json={"text": "a second click"}),
                           "POST", f"/api/drafts/{draft['id']}/send")
    assert again.status_code == 409 and "nothing was sent" in again.json["error"]
    app.extensions["escalator"].processor.drain()
    worker.run_once()
    clock.advance(timedelta(minutes=30))        # past the old send_at: nothing more goes out
    app.extensions["escalator"].processor.drain()
    worker.run_once()

    sent = acknowledgements(jira)
    assert len(sent) == 1 and "card authorisations" in sent[0]
    assert "<b>Next update by 10:30.</b>" in sent[0]          # sent as written: never rendered as a template
    assert api(client, f"/api/drafts/{draft['id']}")["status"] == "sent"
    entry = next(e for e in ticket(client)["timeline"] if e["event"] == "draft_sent")
    [record] = [c for c in entry["communications"] if c.get("draft") == draft["id"]]
    assert record["by"] == "api" and "+Our payments engineers" in record["diff"]
    assert record["sent"][0]["text"] == EDITED


def test_sending_a_draft_stops_the_clocks_a_public_update_stops(desk, clock):
    app, client, worker = desk()
    assert _timer(client, "update")["state"] == "running"
    [draft] = api(client, "/api/drafts")["drafts"]
    clock.advance(timedelta(minutes=3))
    client.post(f"/api/drafts/{draft['id']}/send", json={"text": EDITED})
    app.extensions["escalator"].processor.drain()
    entry = next(e for e in ticket(client)["timeline"] if e["event"] == "draft_sent")
    assert "agent replied publicly" in [t["rule"] for t in entry["trace"]]
    sent_at = (clock.now()).isoformat()
    assert (_timer(client, "ack")["state"], _timer(client, "ack")["stopped_at"]) == ("stopped", sent_at)
    cadence = _timer(client, "update")         # the update clock ended; the cadence counts again from the send
    assert (cadence["started_at"], cadence["due_at"]) == (sent_at, (clock.now() + timedelta(minutes=30)).isoformat())


def test_an_untouched_draft_goes_out_as_rendered_on_time(desk, jira, clock):
    app, client, worker = desk()
    [draft] = api(client, "/api/drafts")["drafts"]
    clock.advance(timedelta(minutes=9, seconds=59))
    app.extensions["escalator"].processor.drain()
    assert api(client, f"/api/drafts/{draft['id']}")["status"] == "pending"
    clock.advance(timedelta(seconds=1))
    app.extensions["escalator"].processor.drain()
    worker.run_once()
    shown = api(client, f"/api/drafts/{draft['id']}")
    assert (shown["status"], shown["acted_by"]) == ("auto_sent", "")
    entry = next(e for e in ticket(client)["timeline"] if e["event"] == "draft_auto_sent")
    assert entry["at"] == draft["send_at"]          # on time to the second, not when the processor looked
    sent = acknowledgements(jira)
    assert len(sent) == 1 and "Hello Test User" in sent[0]
    assert _timer(client, "ack")["state"] == "running"      # Escalator's own message: no person acknowledged


def test_a_discarded_draft_sends_nothing_and_the_log_says_why(desk, jira, clock):
    app, client, worker = desk()
    [draft] = api(client, "/api/drafts")["drafts"]
    assert client.post(f"/api/drafts/{draft['id']}/discard", json={"reason": "  "}).status_code == 400
    answer = client.post(f"/api/drafts/{draft['id']}/discard", json={"reason": "Called the customer instead"})
    assert answer.status_code == 202
    clock.advance(timedelta(hours=1))
    app.extensions["escalator"].processor.drain()
    worker.run_once()
    assert comments_posted(jira) and acknowledgements(jira) == []
    entry = next(e for e in ticket(client)["timeline"] if e["event"] == "draft_discarded")
    assert entry["communications"][0]["discarded"] == "Called the customer instead"
    assert api(client, f"/api/drafts/{draft['id']}")["status"] == "discarded"
    assert api(client, "/api/drafts")["drafts"] == []


def test_a_plain_draft_is_never_sent_by_itself(desk, jira, clock):
    app, client, worker = desk("send: draft")
    [draft] = api(client, "/api/drafts")["drafts"]
    assert draft["send_at"] is None and draft["seconds_left"] is None
    clock.advance(timedelta(days=2))
    app.extensions["escalator"].processor.drain()
    assert api(client, f"/api/drafts/{draft['id']}")["status"] == "pending"


@pytest.mark.parametrize("mode, problem", [
    ("send: draft_then_auto", "send: draft_then_auto needs `after`"),
    ("send: draft, after: 10m", "`after` only applies to send: draft_then_auto"),
    ("send: auto, after: 10m", "`after` only applies to send: draft_then_auto"),
    ("send: later", "send"),
    ("send: draft_then_auto, after: soon", "after"),
])
def test_a_send_mode_the_matrix_cannot_keep_is_refused_with_its_place(tmp_path, mode, problem):
    with pytest.raises(MatrixError) as refused:
        load_matrix(drafted_rules(tmp_path, mode))
    assert problem in str(refused.value) and "communications" in str(refused.value)


def _timer(client, name: str) -> dict:
    return next(t for t in ticket(client)["timers"] if t["name"] == name)


def test_a_draft_whose_send_failed_is_set_aside_not_retried_forever(desk, clock, monkeypatch):
    app, client, worker = desk()
    container = app.extensions["escalator"]
    [draft] = api(client, "/api/drafts")["drafts"]

    def broken(*args, **kwargs):
        raise RuntimeError("a defect while sending")
    monkeypatch.setattr(container.service, "act_on_draft", broken)
    clock.advance(timedelta(minutes=10))
    assert container.store.next_timer_at() <= clock.now()
    for _ in range(3):                 # the processor's attempts before it sets the action aside
        container.processor.run_once()
    failed = [d for d in client.get("/api/deliveries").json["deliveries"] if d["dedupe_key"] == f"draft:{draft['id']}"]
    assert [d["status"] for d in failed] == ["failed"]
    assert container.store.drafts_due(clock.now()) == []            # no new action for it, pass after pass
    assert container.store.next_timer_at() > clock.now()            # so an idle processor does not spin
