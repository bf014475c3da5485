"""`escalator install zendesk` against a fake Zendesk that checks the Webhooks and Triggers API shapes.

Shapes from Zendesk's API reference: Create Webhook (POST /api/v2/webhooks, {"webhook": {name, endpoint,
http_method, request_format, status, subscriptions}}, subscriptions ["conditional_ticket_events"] for a
webhook triggers notify), Show Webhook Signing Secret ({"signing_secret": {"algorithm", "secret"}}),
Create Trigger (POST /api/v2/triggers, {"trigger": {title, conditions {all, any}, actions}}, the action
{"field": "notification_webhook", "value": [webhook_id, body]}), cursor pagination (meta.has_more, links.next).
"""
import base64
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug import Response

from plugin.cli import main
from plugin.domain.ticket import EventKind
from plugin.platforms.zendesk import parse, sign_zendesk
from plugin.platforms.zendesk.install import SITUATIONS, trigger_body

EMAIL, TOKEN = "admin@example.com", "zd-token-123"
SIGNING_SECRET = "zd-signing-secret-789"
PUBLIC = "https://escalator.example.com"
TARGET = PUBLIC + "/webhooks/zendesk"
HOOK_ID = "01HWEBHOOK"
DOC = Path(__file__).resolve().parents[1] / "docs" / "zendesk-trigger-body.md"


class FakeZendesk:
    """Holds webhooks and triggers (triggers listed two to a page); every request must carry the token."""

    def __init__(self, server):
        self.server = server
        self.webhooks: dict[str, dict] = {}
        self.triggers: dict[int, dict] = {100: {"id": 100, "title": "Notify requester", "active": True}}
        self.writes: list[tuple[str, str, dict | None]] = []
        server.expect_request("/api/v2/webhooks", method="GET").respond_with_handler(self.list_webhooks)
        server.expect_request("/api/v2/webhooks", method="POST").respond_with_handler(self.create_webhook)
        server.expect_request(f"/api/v2/webhooks/{HOOK_ID}", method="PUT").respond_with_handler(self.update_webhook)
        server.expect_request(f"/api/v2/webhooks/{HOOK_ID}/signing_secret", method="GET").respond_with_handler(
            self.signing_secret)
        server.expect_request("/api/v2/triggers", method="GET").respond_with_handler(self.list_triggers)
        server.expect_request("/api/v2/triggers", method="POST").respond_with_handler(self.create_trigger)
        server.expect_request(re.compile(r"/api/v2/triggers/\d+"), method="PUT").respond_with_handler(
            self.update_trigger)

    def list_webhooks(self, request):
        self._auth(request)
        return _json({"webhooks": list(self.webhooks.values()), "meta": {"has_more": False}, "links": {}})

    def create_webhook(self, request):
        hook = self._write(request, "webhook")
        assert set(hook) == {"name", "endpoint", "http_method", "request_format", "status", "subscriptions"}
        self.webhooks[HOOK_ID] = {"id": HOOK_ID, **hook}
        return _json({"webhook": self.webhooks[HOOK_ID]}, 201)

    def update_webhook(self, request):
        self.webhooks[HOOK_ID] |= self._write(request, "webhook")
        return Response(status=204)

    def signing_secret(self, request):
        self._auth(request)
        return _json({"signing_secret": {"algorithm": "SHA256", "secret": SIGNING_SECRET}})

    def list_triggers(self, request):
        self._auth(request)
        assert request.args.get("page[size]") == "100"
        listed = sorted(self.triggers.values(), key=lambda t: t["id"])
        start = int(request.args.get("page[after]", 0))
        more = start + 2 < len(listed)
        next_link = self.server.url_for(f"/api/v2/triggers?page[size]=100&page[after]={start + 2}")
        return _json({"triggers": listed[start:start + 2], "meta": {"has_more": more},
                      "links": {"next": next_link if more else None}})

    def create_trigger(self, request):
        trigger = self._trigger(request)
        trigger["id"] = max(self.triggers) + 1
        self.triggers[trigger["id"]] = trigger
        return _json({"trigger": trigger}, 201)

    def update_trigger(self, request):
        number = int(request.path.rpartition("/")[2])
        self.triggers[number] = {"id": number, **self._trigger(request)}
        return _json({"trigger": self.triggers[number]})

    def _trigger(self, request) -> dict:
        trigger = self._write(request, "trigger")
        assert set(trigger) >= {"title", "conditions", "actions"}
        assert set(trigger["conditions"]) == {"all", "any"}
        for condition in trigger["conditions"]["all"] + trigger["conditions"]["any"]:
            assert set(condition) == {"field", "operator", "value"}
        [action] = trigger["actions"]
        assert action["field"] == "notification_webhook"
        webhook_id, body = action["value"]
        assert webhook_id in self.webhooks and isinstance(body, str)
        json.loads(body)
        return trigger

    def _write(self, request, root: str) -> dict:
        self._auth(request)
        assert request.headers["Content-Type"] == "application/json"
        body = request.get_json()
        assert set(body) == {root}
        self.writes.append((request.method, request.path, body[root]))
        return body[root]

    def _auth(self, request) -> None:
        expected = base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()
        assert request.headers["Authorization"] == f"Basic {expected}"


def _json(data, status=200):
    return Response(json.dumps(data), status=status, content_type="application/json")


@pytest.fixture
def zendesk(httpserver, monkeypatch):
    monkeypatch.setenv("ESCALATOR_ZENDESK_BASE_URL", httpserver.url_for("/").rstrip("/"))
    monkeypatch.setenv("ESCALATOR_ZENDESK_EMAIL", EMAIL)
    monkeypatch.setenv("ESCALATOR_ZENDESK_API_TOKEN", TOKEN)
    monkeypatch.delenv("ESCALATOR_ZENDESK_WEBHOOK_SECRET", raising=False)
    return FakeZendesk(httpserver)


def install(*args):
    return CliRunner().invoke(main, ["install", "zendesk", "--url", PUBLIC, *args], catch_exceptions=False)


def test_creates_the_trigger_connected_webhook_then_one_trigger_per_situation(zendesk):
    result = install()
    assert result.exit_code == 0, result.output
    methods = [(method, path) for method, path, _ in zendesk.writes]
    assert methods == [("POST", "/api/v2/webhooks")] + [("POST", "/api/v2/triggers")] * len(SITUATIONS)
    assert zendesk.writes[0][2] == {"name": "Escalator", "endpoint": TARGET, "http_method": "POST",
                                    "request_format": "json", "status": "active",
                                    "subscriptions": ["conditional_ticket_events"]}
    titles = [body["title"] for _, _, body in zendesk.writes[1:]]
    assert titles == ["Escalator: created", "Escalator: commented", "Escalator: priority changed",
                      "Escalator: status changed", "Escalator: assigned", "Escalator: satisfaction rated"]
    created = zendesk.writes[1][2]
    assert created["conditions"] == {"all": [{"field": "update_type", "operator": "is", "value": "Create"}],
                                     "any": []}
    assert json.loads(created["actions"][0]["value"][1]) == trigger_body("created")


def test_prints_the_signing_secret_to_set_and_nothing_else_secret(zendesk):
    result = install()
    assert f"export ESCALATOR_ZENDESK_WEBHOOK_SECRET={SIGNING_SECRET}\n" in result.output
    assert result.output.count(SIGNING_SECRET) == 1 and TOKEN not in result.output


def test_running_twice_changes_nothing(zendesk, monkeypatch):
    assert install().exit_code == 0
    writes = len(zendesk.writes)
    monkeypatch.setenv("ESCALATOR_ZENDESK_WEBHOOK_SECRET", SIGNING_SECRET)
    second = install()
    assert second.exit_code == 0, second.output
    assert len(zendesk.writes) == writes
    assert second.output.count("unchanged: ") == 1 + len(SITUATIONS)
    assert "Zendesk: already installed, nothing changed" in second.output
    assert "already holds the webhook's signing secret" in second.output
    assert SIGNING_SECRET not in second.output


def test_a_trigger_whose_body_or_conditions_drifted_is_updated_and_the_others_kept(zendesk):
    install()
    number = next(t["id"] for t in zendesk.triggers.values() if t["title"] == "Escalator: commented")
    zendesk.triggers[number]["actions"][0]["value"][1] = json.dumps({"escalator": "zendesk-trigger/v1"})
    zendesk.triggers[number]["conditions"]["all"].pop()
    zendesk.webhooks[HOOK_ID]["status"] = "inactive"
    zendesk.writes.clear()
    result = install()
    assert [(method, path) for method, path, _ in zendesk.writes] == [
        ("PUT", f"/api/v2/webhooks/{HOOK_ID}"), ("PUT", f"/api/v2/triggers/{number}")]
    assert "updated: trigger 'Escalator: commented'" in result.output
    assert "(conditions differ; body differs)" in result.output
    assert "status 'inactive' -> 'active'" in result.output


def test_a_webhook_subscribed_to_events_at_our_url_is_left_alone(zendesk):
    zendesk.webhooks["01HEVENTS"] = {"id": "01HEVENTS", "endpoint": TARGET, "status": "active",
                                     "subscriptions": ["zen:event-type:ticket.created"]}
    result = install()
    assert result.exit_code == 0, result.output
    assert zendesk.writes[0][:2] == ("POST", "/api/v2/webhooks")


def test_dry_run_reads_what_exists_and_sends_nothing(zendesk):
    result = install("--dry-run")
    assert result.exit_code == 0, result.output
    assert zendesk.writes == []
    assert result.output.count("would create: ") == 1 + len(SITUATIONS)
    assert "<id of the new webhook>" in result.output
    assert SIGNING_SECRET not in result.output


@pytest.mark.parametrize(("status", "advice"), [(401, "check ESCALATOR_ZENDESK_EMAIL"), (403, "must be an admin")])
def test_a_refusal_says_what_to_fix_without_a_traceback(zendesk, httpserver, status, advice):
    httpserver.clear_all_handlers()
    httpserver.expect_request("/api/v2/webhooks").respond_with_json({"error": "Forbidden"}, status=status)
    result = install()
    assert result.exit_code == 1
    assert advice in result.stderr
    assert f"answered HTTP {status}: Forbidden" in result.stderr and "Traceback" not in result.output


def test_the_installed_body_is_the_documented_one():
    documented = re.search(r"## The body.*?```json\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    assert json.loads(documented) == trigger_body("created")


@pytest.mark.parametrize(("event", "kind"), [
    ("created", EventKind.CREATED), ("commented", EventKind.COMMENTED),
    ("priority_changed", EventKind.PRIORITY_CHANGED), ("assigned", EventKind.ASSIGNED),
])
def test_the_parser_reads_the_body_every_installed_trigger_sends(event, kind):
    rendered = _render(json.dumps(trigger_body(event)))
    parsed = parse(json.loads(rendered), {})
    assert (parsed.kind, parsed.key) == (kind, "4711")


def _render(body: str) -> str:
    """Placeholders as Zendesk renders them for an English requester."""
    values = {"ticket.id": "4711", "ticket.status": "Open", "ticket.priority": "Urgent",
              "ticket.latest_comment": "Still down", "current_user.role": "Agent",
              "ticket.updated_at_with_timestamp": "2026-03-02T10:00:00Z"}
    return re.sub(r"\{\{([^}]+)\}\}", lambda m: values.get(m.group(1), ""), body)


def test_dry_run_over_an_installed_account_reads_but_never_shows_the_secret(zendesk):
    install()
    zendesk.writes.clear()
    result = install("--dry-run")
    assert result.exit_code == 0, result.output
    assert zendesk.writes == [] and "would " not in result.output.replace("would read", "")
    assert f"note: would read the signing secret: GET {zendesk.server.url_for(f'/api/v2/webhooks/{HOOK_ID}')}"\
        in result.output
    assert SIGNING_SECRET not in result.output


def test_an_admins_own_body_is_posted_by_every_trigger_with_its_event(zendesk, tmp_path):
    own = {"escalator": "zendesk-trigger/v1", "event": "x",
           "ticket": {"id": "{{ticket.id}}", "custom_fields": {"555": "{{ticket.ticket_field_555}}"}}}
    (tmp_path / "body.json").write_text(json.dumps(own))
    result = install("--body", tmp_path / "body.json")
    assert result.exit_code == 0, result.output
    bodies = [json.loads(body["actions"][0]["value"][1]) for _, path, body in zendesk.writes if "triggers" in path]
    assert bodies == [own | {"event": event} for event in SITUATIONS]


@pytest.mark.parametrize(("body", "problem"), [
    ("[1]", "must be a JSON object"),
    ('{"ticket": {"id": "{{ticket.id}}"}}', '"escalator": "zendesk-trigger/v1"'),
    ('{"escalator": "zendesk-trigger/v1", "ticket": {}}', '"ticket": {"id": "{{ticket.id}}"'),
    ("{not json", "is not a JSON file"),
])
def test_a_body_escalator_would_not_read_is_refused_before_anything_is_sent(zendesk, tmp_path, body, problem):
    (tmp_path / "body.json").write_text(body)
    result = install("--body", tmp_path / "body.json")
    assert result.exit_code == 2 and problem in result.stderr
    assert zendesk.server.log == []


def test_what_the_installed_trigger_sends_signed_with_the_printed_secret_is_accepted(zendesk, make_app, clock):
    output = install().output
    secret = re.search(r"^export ESCALATOR_ZENDESK_WEBHOOK_SECRET=(\S+)$", output, re.M).group(1)
    trigger = next(t for t in zendesk.triggers.values() if t.get("title") == "Escalator: created")
    body = _render(trigger["actions"][0]["value"][1]).encode()
    signature, stamp = sign_zendesk(body, secret, clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"))
    answer = make_app(zendesk_webhook_secret=secret).test_client().post(
        "/webhooks/zendesk", data=body, content_type="application/json",
        headers={"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp})
    assert answer.status_code == 202, answer.json
    assert (answer.json["status"], answer.json["ticket"]) == ("accepted", "zendesk/4711")


def test_a_run_stopped_midway_reports_only_what_was_done(zendesk, httpserver):
    httpserver.clear_all_handlers()
    # Registered first, so it answers before the fake's own trigger handler.
    httpserver.expect_request("/api/v2/triggers", method="POST").respond_with_json({"error": "RecordInvalid"}, 422)
    FakeZendesk(httpserver)
    result = install()
    assert result.exit_code == 1
    assert "created: webhook 'Escalator'" in result.stdout and "trigger" not in result.stdout
    assert "POST" in result.stderr and "answered HTTP 422: RecordInvalid" in result.stderr
