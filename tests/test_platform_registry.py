"""Each platform is one package behind one registry line; the web view and the wiring never name one."""
import ast
from dataclasses import fields, replace
from pathlib import Path

import pytest

from plugin import platforms
from plugin.domain.ticket import EventKind, TicketEvent
from plugin.platforms import PLATFORMS, dedupe_key
from plugin.settings import Settings
from plugin.writeback import OutgoingRequest, RestClient

from .conftest import FIXTURES, ROOT

PACKAGES = ROOT / "plugin" / "platforms"


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_is_a_package_with_real_fixtures_and_their_sources(name):
    assert PLATFORMS[name].name == name
    assert (PACKAGES / name / "__init__.py").is_file()
    assert (FIXTURES / name / "SOURCES.md").is_file() and list((FIXTURES / name).glob("*.json"))


@pytest.mark.parametrize("name", sorted(PLATFORMS))
def test_every_platform_s_settings_are_part_of_settings_and_named_after_it(name):
    own = {f.name for f in fields(PLATFORMS[name].settings)}
    assert own <= {f.name for f in fields(Settings)}
    assert all(field.startswith(f"{name}_") for field in own)


@pytest.mark.parametrize("path", ["plugin/webhooks/views.py", "plugin/bootstrap.py"])
def test_the_view_and_the_wiring_never_name_a_platform(path):
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    literals = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not literals & set(PLATFORMS)


@pytest.mark.parametrize("name, header", [("jira", "X-Atlassian-Webhook-Identifier"),
                                          ("zendesk", "X-Zendesk-Webhook-Invocation-Id")])
def test_a_delivery_is_known_by_its_platform_s_header_else_by_its_body(name, header):
    assert dedupe_key(name, {header.lower(): " d-1 "}, b"{}") == "d-1"
    assert dedupe_key(name, {}, b"{}") == dedupe_key(name, {"X-Other": "d-1"}, b"{}")
    assert dedupe_key(name, {}, b"{}").startswith("sha256:")


def test_credentials_decide_which_platforms_send_and_the_others_plan():
    settings = Settings(jira_base_url="https://acme.atlassian.net", jira_email="bot@acme.com", jira_api_token="t",
                        zendesk_subdomain="acme")
    sending = platforms.build_clients(settings)
    try:
        assert set(sending) == {"jira"}
        assert PLATFORMS["zendesk"].client(settings) is None
        assert PLATFORMS["zendesk"].planner(settings).base_url == "https://acme.zendesk.com"
    finally:
        for client in sending.values():
            client.close()


def test_the_platforms_say_where_a_ticket_opens_and_who_the_bot_is():
    settings = Settings(jira_base_url="https://acme.atlassian.net/", zendesk_subdomain="acme",
                        jira_bot_account_id="557058:bot", zendesk_bot_user_id="42")
    assert {n: p.ticket_url(settings) for n, p in PLATFORMS.items()} == {
        "jira": "https://acme.atlassian.net/browse/{key}", "zendesk": "https://acme.zendesk.com/agent/tickets/{key}"}
    assert {n: p.bot_account(settings) for n, p in PLATFORMS.items()} == {"jira": "557058:bot", "zendesk": "42"}
    assert {n: p.ticket_url(Settings()) for n, p in PLATFORMS.items()} == {"jira": "", "zendesk": ""}


# -- a platform added by one registry line is served end to end --------------------------------------

class DeskClient(RestClient):
    platform = "desk"

    def requests_for(self, action):
        return [OutgoingRequest("PUT", self.url("/tickets/{}", action.key), dict(action.data))]


def desk_parse(payload, headers):
    return TicketEvent(platform="desk", kind=EventKind.CREATED, key=str(payload["id"]), summary=payload["title"])


@pytest.fixture
def desk(monkeypatch):
    jira = PLATFORMS["jira"]
    platform = replace(jira, name="desk", parse=desk_parse, dedupe_header="X-Desk-Delivery",
                       verify=lambda body, headers, settings, now: "unsigned",
                       client=lambda settings, **_: None, planner=lambda settings: DeskClient("https://desk.example"),
                       bot_account=lambda settings: "", ticket_url=lambda settings: "https://desk.example/t/{key}")
    monkeypatch.setitem(PLATFORMS, "desk", platform)
    monkeypatch.setitem(platforms.PARSERS, "desk", desk_parse)
    return platform


def test_a_platform_added_to_the_registry_is_received_parsed_deduplicated_and_planned(desk, make_app):
    client = make_app().test_client()
    container = client.application.extensions["escalator"]
    assert isinstance(container.planners["desk"], DeskClient) and "desk" not in container.clients

    def post():
        return client.post("/webhooks/desk", json={"id": 7, "title": "Checkout is down - total outage"},
                           headers={"X-Desk-Delivery": "d-1"})

    first, again = post(), post()
    assert (first.status_code, first.json["status"], first.json["ticket"]) == (202, "accepted", "desk/7")
    assert (again.status_code, again.json["status"]) == (202, "duplicate")
    assert container.processor.drain() == 1


def test_a_platform_not_in_the_registry_is_404(make_app):
    answer = make_app().test_client().post("/webhooks/desk", json={})
    assert answer.status_code == 404 and answer.json["error"].endswith("/webhooks/jira or /webhooks/zendesk")


def test_the_package_docstring_says_how_to_add_a_platform():
    doc = platforms.__doc__
    assert "a package" in doc and "tests/fixtures/<name>/" in doc and "one line in PLATFORMS" in doc
    assert Path(platforms.__file__).parent == PACKAGES
