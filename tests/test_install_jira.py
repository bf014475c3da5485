"""`escalator install jira` against a fake Jira that checks the admin webhook API's request shapes.

Shapes from Atlassian's "Webhooks" page (Registering a webhook using the REST API): POST/PUT
/rest/webhooks/1.0/webhook[/{id}] with name, url, events, filters {"issue-related-events-section": JQL},
excludeBody and secret; GET lists the registered webhooks with their `self` link.
"""
import base64
import json

import pytest
from click.testing import CliRunner
from werkzeug import Response

from plugin.cli import main

PATH = "/rest/webhooks/1.0/webhook"
EMAIL, TOKEN, SECRET = "admin@example.com", "jira-token-123", "hook-secret-456"
PUBLIC = "https://escalator.example.com"
TARGET = PUBLIC + "/webhooks/jira"
EVENTS = ["comment_created", "comment_updated", "jira:issue_created", "jira:issue_deleted", "jira:issue_updated"]


class FakeJira:
    """Holds registered webhooks; refuses any request without the basic auth of the API token."""

    def __init__(self, server, refuse_with: int | None = None):
        self.server, self.refuse_with = server, refuse_with
        self.hooks: dict[int, dict] = {}
        self.writes: list[tuple[str, str, dict]] = []
        server.expect_request(PATH, method="GET").respond_with_handler(self.list)
        server.expect_request(PATH, method="POST").respond_with_handler(self.create)
        server.expect_request(f"{PATH}/7", method="PUT").respond_with_handler(self.update)

    def register(self, **fields) -> None:
        self.hooks[7] = {"name": "Escalator", "url": TARGET, "events": EVENTS, "enabled": True,
                         "filters": {"issue-related-events-section": ""}, "excludeBody": False} | fields

    def list(self, request):
        refused = self._refused(request)
        if refused:
            return refused
        return _json([{"self": self.server.url_for(f"{PATH}/{i}"), **hook} for i, hook in self.hooks.items()])

    def create(self, request):
        body = self._write(request)
        self.hooks[len(self.hooks) + 7] = {k: v for k, v in body.items() if k != "secret"}
        return _json({"self": self.server.url_for(f"{PATH}/7"), **self.hooks[7]}, 201)

    def update(self, request):
        self.hooks[7] = {k: v for k, v in self._write(request).items() if k != "secret"}
        return _json({"self": self.server.url_for(f"{PATH}/7"), **self.hooks[7]})

    def _write(self, request) -> dict:
        assert request.headers["Authorization"] == _basic(EMAIL, TOKEN)
        assert request.headers["Content-Type"] == "application/json"
        body = request.get_json()
        assert set(body) == {"name", "url", "events", "filters", "excludeBody", "secret"}
        assert isinstance(body["events"], list) and all(isinstance(e, str) for e in body["events"])
        assert set(body["filters"]) == {"issue-related-events-section"}
        assert body["excludeBody"] is False
        self.writes.append((request.method, request.path, body))
        return body

    def _refused(self, request):
        assert request.headers["Authorization"] == _basic(EMAIL, TOKEN)
        if self.refuse_with:
            return _json({"errorMessages": ["You are not authorized to perform this action."]}, self.refuse_with)
        return None


def _json(data, status=200):
    return Response(json.dumps(data), status=status, content_type="application/json")


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def jira(httpserver, monkeypatch):
    monkeypatch.setenv("ESCALATOR_JIRA_BASE_URL", httpserver.url_for("/"))
    monkeypatch.setenv("ESCALATOR_JIRA_EMAIL", EMAIL)
    monkeypatch.setenv("ESCALATOR_JIRA_API_TOKEN", TOKEN)
    monkeypatch.setenv("ESCALATOR_JIRA_WEBHOOK_SECRET", SECRET)
    return FakeJira(httpserver)


def install(*args):
    return CliRunner().invoke(main, ["install", "jira", "--url", PUBLIC, *args], catch_exceptions=False)


def test_registers_the_webhook_with_its_secret_events_and_jql(jira):
    result = install("--jql", "project = SUP")
    assert result.exit_code == 0, result.output
    assert jira.writes == [("POST", PATH, {
        "name": "Escalator", "url": TARGET, "events": EVENTS,
        "filters": {"issue-related-events-section": "project = SUP"}, "excludeBody": False, "secret": SECRET})]
    assert f"created: webhook 'Escalator' -> {TARGET}" in result.output
    assert SECRET not in result.output and TOKEN not in result.output


def test_running_twice_changes_nothing(jira):
    assert install("--jql", "project = SUP").exit_code == 0
    second = install("--jql", "project = SUP")
    assert second.exit_code == 0, second.output
    assert [method for method, _, _ in jira.writes] == ["POST"]
    assert "unchanged: webhook 'Escalator'" in second.output
    assert "Jira: already installed, nothing changed" in second.output


@pytest.mark.parametrize(("existing", "why"), [
    ({"filters": {"issue-related-events-section": "project = OLD"}}, "JQL 'project = OLD' -> 'project = SUP'"),
    ({"events": ["jira:issue_created"]}, "events ['jira:issue_created'] -> "),
    ({"excludeBody": True}, "excludeBody true -> false"),
])
def test_a_webhook_at_our_url_that_differs_is_updated_in_place(jira, existing, why):
    jira.register(**{"filters": {"issue-related-events-section": "project = SUP"}} | existing)
    result = install("--jql", "project = SUP")
    assert result.exit_code == 0, result.output
    assert [(method, path) for method, path, _ in jira.writes] == [("PUT", f"{PATH}/7")]
    assert jira.writes[0][2]["secret"] == SECRET
    assert "updated: webhook 'Escalator'" in result.output and why in result.output


def test_resend_secret_updates_a_webhook_that_is_otherwise_as_wanted(jira):
    jira.register()
    assert install().output.count("unchanged") == 1
    result = install("--resend-secret")
    assert [(method, body["secret"]) for method, _, body in jira.writes] == [("PUT", SECRET)]
    assert "(secret re-sent)" in result.output


def test_dry_run_prints_the_request_with_the_secret_masked_and_sends_nothing(jira):
    result = install("--dry-run", "--jql", "project = SUP")
    assert result.exit_code == 0, result.output
    assert jira.writes == []
    assert "would create: webhook 'Escalator'" in result.output
    assert f"POST {jira.server.url_for(PATH)}" in result.output
    assert '"secret": "********"' in result.output and SECRET not in result.output
    assert "1 change(s) would be made" in result.output


@pytest.mark.parametrize("status", [401, 403])
def test_without_admin_rights_it_prints_the_manual_steps(httpserver, jira, status):
    jira.refuse_with = status
    result = install("--jql", "project = SUP")
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert f"Jira answered HTTP {status}" in result.stderr
    assert httpserver.url_for("/plugins/servlet/webhooks") in result.stderr
    for line in (f"URL: {TARGET}", "Secret: the value of ESCALATOR_JIRA_WEBHOOK_SECRET",
                 "Issue related events (JQL): project = SUP", "Issue: created", "Comment: updated"):
        assert line in result.stderr
    assert SECRET not in result.output and TOKEN not in result.output


def test_an_unreachable_jira_is_one_line(monkeypatch, jira):
    monkeypatch.setenv("ESCALATOR_JIRA_BASE_URL", "http://127.0.0.1:9")
    result = install()
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: GET http://127.0.0.1:9")


def test_without_a_webhook_secret_nothing_is_sent(monkeypatch, jira):
    monkeypatch.delenv("ESCALATOR_JIRA_WEBHOOK_SECRET")
    result = install()
    assert result.exit_code == 2
    assert "set ESCALATOR_JIRA_WEBHOOK_SECRET first" in result.stderr
    assert jira.server.log == []


def test_without_credentials_only_a_dry_run_is_possible(monkeypatch):
    monkeypatch.setenv("ESCALATOR_JIRA_WEBHOOK_SECRET", SECRET)
    for name in ("ESCALATOR_JIRA_BASE_URL", "ESCALATOR_JIRA_EMAIL", "ESCALATOR_JIRA_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert install().exit_code == 2
    dry = install("--dry-run")
    assert dry.exit_code == 0 and "assumes nothing exists yet" in dry.output
    assert "POST https://<your-site>.atlassian.net/rest/webhooks/1.0/webhook" in dry.output


def test_a_listing_that_is_not_a_list_stops_before_registering_a_second_webhook(httpserver, jira):
    httpserver.clear_all_handlers()
    httpserver.expect_request(PATH, method="GET").respond_with_json({"values": []})
    result = install()
    assert result.exit_code == 1
    assert "did not answer a list of webhooks" in result.stderr
    assert [entry[0].method for entry in httpserver.log] == ["GET"]
