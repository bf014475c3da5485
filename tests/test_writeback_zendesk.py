"""Zendesk write-back against a real local HTTP server: exact calls per action kind, and the note marker."""
from __future__ import annotations

import base64

import pytest

from plugin.domain.actions import Action
from plugin.platforms import PLATFORMS, build_clients
from plugin.platforms.zendesk import ZendeskClient
from plugin.settings import Settings
from plugin.writeback import WriteBackError

EMAIL, TOKEN = "bot@example.com", "zd-token-s3cr3t"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}/token:{TOKEN}".encode()).decode()}
NEWEST_FIRST = {"sort_order": "desc"}


def settings_for(base_url: str = "", **extra) -> Settings:
    return Settings(zendesk_base_url=base_url, zendesk_email=EMAIL, zendesk_api_token=TOKEN, **extra)


@pytest.fixture
def client(httpserver):
    zendesk = build_clients(settings_for(httpserver.url_for("/")), timeout=(0.5, 0.5))["zendesk"]
    yield zendesk
    zendesk.close()


TICKET = {"ticket": {"id": 5158}}

# action -> the exact calls, in order: (method, path, query, json body, response status, response json)
CASES = {
    "priority is lowercased": (
        Action("zendesk", "5158", "update", {"priority": "Urgent"}),
        [("PUT", "/api/v2/tickets/5158.json", None, {"ticket": {"priority": "urgent"}}, 200, TICKET)]),
    "labels are added, not replaced": (
        Action("zendesk", "5158", "update", {"add_labels": ["escalated", "l2"]}),
        [("PUT", "/api/v2/tickets/5158/tags.json", None, {"tags": ["escalated", "l2"]}, 200,
          {"tags": ["vip", "escalated", "l2"]})]),
    "priority and labels": (
        Action("zendesk", "5158", "update", {"priority": "high", "add_labels": ["escalated"]}),
        [("PUT", "/api/v2/tickets/5158.json", None, {"ticket": {"priority": "high"}}, 200, TICKET),
         ("PUT", "/api/v2/tickets/5158/tags.json", None, {"tags": ["escalated"]}, 200, {"tags": ["escalated"]})]),
    "assign to an agent": (
        Action("zendesk", "5158", "assign", {"assignee": "user:8447388091200"}),
        [("PUT", "/api/v2/tickets/5158.json", None, {"ticket": {"assignee_id": 8447388091200}}, 200, TICKET)]),
    "assign to a group": (
        Action("zendesk", "5158", "assign", {"assignee": "group:360001"}),
        [("PUT", "/api/v2/tickets/5158.json", None, {"ticket": {"group_id": 360001}}, 200, TICKET)]),
    "note without marker": (
        Action("zendesk", "5158", "note", {"body": "Escalated to L2.", "public": False}),
        [("PUT", "/api/v2/tickets/5158.json", None,
          {"ticket": {"comment": {"body": "Escalated to L2.", "public": False}}}, 200, TICKET)]),
    "note with marker checks newest comments first": (
        Action("zendesk", "5158", "note", {"body": "Escalated to L2.", "public": False, "marker": "escalator:42"}),
        [("GET", "/api/v2/tickets/5158/comments.json", NEWEST_FIRST, None, 200,
          {"comments": [{"id": 1, "body": "see escalator:420", "public": False}]}),
         ("PUT", "/api/v2/tickets/5158.json", None,
          {"ticket": {"comment": {"body": "Escalated to L2.\n[escalator:42]", "public": False}}}, 200, TICKET)]),
}


def expect(httpserver, calls):
    for method, path, query, body, status, answer in calls:
        body_matcher = {} if body is None else {"json": body}
        httpserver.expect_ordered_request(path, method=method, query_string=query or "", headers=AUTH,
                                          **body_matcher).respond_with_json(answer, status=status)


@pytest.mark.parametrize("action, calls", CASES.values(), ids=CASES.keys())
def test_each_action_kind_sends_exactly_the_documented_calls(httpserver, client, action, calls):
    expect(httpserver, calls)

    result = client.apply(action)

    httpserver.check_assertions()
    assert len(httpserver.log) == len(calls)
    assert (result.status, result.response_status) == ("sent", 200)
    writes = [c for c in calls if c[0] != "GET"]
    assert [r.json for r in result.requests] == [c[3] for c in writes]


def test_a_note_already_posted_before_a_timeout_is_not_posted_again(httpserver, client):
    action = Action("zendesk", "5158", "note", {"body": "Escalated.", "marker": "escalator:42"})
    httpserver.expect_ordered_request("/api/v2/tickets/5158/comments.json", method="GET",
                                      query_string=NEWEST_FIRST).respond_with_json(
        {"comments": [{"id": 9, "body": "Escalated.\n[escalator:42]", "public": False}]})

    result = client.apply(action)

    assert result.status == "skipped"
    assert [entry[0].method for entry in httpserver.log] == ["GET"]


def test_zendesk_validation_error_is_final_and_quotes_zendesk(httpserver, client):
    httpserver.expect_request("/api/v2/tickets/5158.json", method="PUT").respond_with_json(
        {"error": "RecordInvalid", "description": "Record validation errors",
         "details": {"assignee": [{"description": "Assignee: is not an agent"}]}}, status=422)

    with pytest.raises(WriteBackError) as caught:
        client.apply(Action("zendesk", "5158", "assign", {"assignee": "user:1"}))

    assert (caught.value.retryable, caught.value.status) == (False, 422)
    assert "RecordInvalid; Record validation errors; assignee: Assignee: is not an agent" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("kind, data, why", [
    ("assign", {"assignee": "team:ops"}, "user:<id> or group:<id>"),
    ("assign", {"assignee": "user:abc"}, "user:<id> or group:<id>"),
    ("update", {"priority": "Highest"}, "not one of urgent, high, normal, low"),
    ("merge", {}, "unknown action kind"),
])
def test_actions_zendesk_cannot_express_fail_before_sending(client, kind, data, why):
    with pytest.raises(WriteBackError, match=why) as caught:
        client.requests_for(Action("zendesk", "5158", kind, data))
    assert caught.value.retryable is False


@pytest.mark.parametrize("settings, configured", [
    (Settings(), set()),
    (Settings(zendesk_subdomain="acme", zendesk_email=EMAIL), set()),
    (Settings(zendesk_subdomain="acme", zendesk_email=EMAIL, zendesk_api_token=TOKEN), {"zendesk"}),
    (Settings(jira_base_url="https://acme.atlassian.net", jira_email=EMAIL), set()),
    (Settings(jira_base_url="https://acme.atlassian.net", jira_email=EMAIL, jira_api_token=TOKEN,
              zendesk_base_url="https://help.acme.com", zendesk_email=EMAIL, zendesk_api_token=TOKEN),
     {"jira", "zendesk"}),
])
def test_only_platforms_with_full_credentials_get_a_client(settings, configured):
    clients = build_clients(settings)
    try:
        assert set(clients) == configured
    finally:
        for c in clients.values():
            c.close()


def test_subdomain_builds_the_zendesk_url():
    clients = build_clients(Settings(zendesk_subdomain="acme", zendesk_email=EMAIL, zendesk_api_token=TOKEN))
    try:
        action = Action("zendesk", "5158", "assign", {"assignee": "group:1"})
        assert clients["zendesk"].requests_for(action)[0].url == "https://acme.zendesk.com/api/v2/tickets/5158.json"
    finally:
        clients["zendesk"].close()


def test_planner_builds_the_same_requests_as_the_configured_client(client, httpserver):
    planner = PLATFORMS["zendesk"].planner(settings_for(httpserver.url_for("/")))
    for action, _ in CASES.values():
        assert planner.requests_for(action) == client.requests_for(action)


def test_planner_without_a_site_uses_a_placeholder():
    request = PLATFORMS["zendesk"].planner(Settings()).requests_for(Action("zendesk", "7", "assign", {"assignee": "7"}))
    assert request[0].describe() == {"method": "PUT", "url": "https://<subdomain>.zendesk.com/api/v2/tickets/7.json",
                                     "json": {"ticket": {"assignee_id": 7}}}


def test_described_requests_and_reprs_carry_no_credentials(client):
    for zendesk in (client, ZendeskClient(f"https://{EMAIL}%2Ftoken:{TOKEN}@acme.zendesk.com")):
        for action, _ in CASES.values():
            for request in zendesk.requests_for(action):
                assert TOKEN not in str(request.describe()) and TOKEN not in repr(request)
        assert TOKEN not in repr(zendesk)
