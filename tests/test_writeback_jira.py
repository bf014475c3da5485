"""Jira write-back against a real local HTTP server: exact calls per action kind, and the note marker."""
from __future__ import annotations

import base64

import pytest

from plugin.domain.actions import Action
from plugin.platforms import PLATFORMS, build_clients
from plugin.platforms.jira import JiraClient
from plugin.settings import Settings
from plugin.writeback import WriteBackError

EMAIL, TOKEN = "bot@example.com", "jira-token-s3cr3t"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()}


def settings_for(base_url: str, **extra) -> Settings:
    return Settings(jira_base_url=base_url, jira_email=EMAIL, jira_api_token=TOKEN, **extra)


@pytest.fixture
def client(httpserver):
    jira = build_clients(settings_for(httpserver.url_for("/")), timeout=(0.5, 0.5))["jira"]
    yield jira
    jira.close()


@pytest.fixture
def desk_client(httpserver):
    settings = settings_for(httpserver.url_for("/"), jira_service_desk=True)
    jira = build_clients(settings, timeout=(0.5, 0.5))["jira"]
    yield jira
    jira.close()


def adf(*lines):
    return {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": line}] if line else []} for line in lines]}


NO_COMMENTS = {"comments": [], "startAt": 0, "maxResults": 50, "total": 0}
NEWEST_FIRST = {"orderBy": "-created", "maxResults": "50"}

# action data -> the exact calls, in order: (method, path, query, json body, response status, response json)
CASES = {
    "priority only": (
        Action("jira", "OPS-7", "update", {"priority": "Highest"}),
        [("PUT", "/rest/api/3/issue/OPS-7", None, {"fields": {"priority": {"name": "Highest"}}}, 204, None)]),
    "labels only": (
        Action("jira", "OPS-7", "update", {"add_labels": ["escalated", "l2"]}),
        [("PUT", "/rest/api/3/issue/OPS-7", None,
          {"update": {"labels": [{"add": "escalated"}, {"add": "l2"}]}}, 204, None)]),
    "priority and labels in one request": (
        Action("jira", "OPS-7", "update", {"priority": "High", "add_labels": ["escalated"]}),
        [("PUT", "/rest/api/3/issue/OPS-7", None,
          {"fields": {"priority": {"name": "High"}}, "update": {"labels": [{"add": "escalated"}]}}, 204, None)]),
    "assign by accountId": (
        Action("jira", "OPS-7", "assign", {"assignee": "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"}),
        [("PUT", "/rest/api/3/issue/OPS-7/assignee", None,
          {"accountId": "557058:f58131cb-b67d-43c7-b30d-6b58d40bd077"}, 204, None)]),
    "note without marker posts directly": (
        Action("jira", "OPS-7", "note", {"body": "Escalated to L2.\n\n- rule fired", "public": False}),
        [("POST", "/rest/api/3/issue/OPS-7/comment", None,
          {"body": adf("Escalated to L2.", "", "- rule fired")}, 201, {"id": "10001"})]),
    "note with marker checks newest comments first": (
        Action("jira", "OPS-7", "note", {"body": "Escalated to L2.", "public": False, "marker": "escalator:42"}),
        [("GET", "/rest/api/3/issue/OPS-7/comment", NEWEST_FIRST, None, 200, NO_COMMENTS),
         ("POST", "/rest/api/3/issue/OPS-7/comment", None,
          {"body": adf("Escalated to L2.", "[escalator:42]")}, 201, {"id": "10002"})]),
}


def expect(httpserver, calls):
    for method, path, query, body, status, answer in calls:
        body_matcher = {} if body is None else {"json": body}
        handler = httpserver.expect_ordered_request(path, method=method, query_string=query or "", headers=AUTH,
                                                    **body_matcher)
        if answer is None:
            handler.respond_with_data("", status=status)
        else:
            handler.respond_with_json(answer, status=status)


@pytest.mark.parametrize("action, calls", CASES.values(), ids=CASES.keys())
def test_each_action_kind_sends_exactly_the_documented_calls(httpserver, client, action, calls):
    expect(httpserver, calls)

    result = client.apply(action)

    httpserver.check_assertions()
    assert len(httpserver.log) == len(calls)
    assert (result.status, result.response_status) == ("sent", calls[-1][4])
    assert result.request.describe()["url"].endswith(calls[-1][1])


def test_service_desk_note_is_an_internal_request_comment(httpserver, desk_client):
    action = Action("jira", "HELP-3", "note", {"body": "Escalated to L3.", "public": False, "marker": "escalator:9"})
    expect(httpserver, [
        ("GET", "/rest/servicedeskapi/request/HELP-3/comment", {"public": "true", "internal": "true"}, None, 200,
         {"start": 0, "limit": 50, "size": 1, "isLastPage": True, "values": [{"body": "[escalator:90]"}]}),
        ("POST", "/rest/servicedeskapi/request/HELP-3/comment", None,
         {"body": "Escalated to L3.\n[escalator:9]", "public": False}, 201, {"id": "5"})])

    assert desk_client.apply(action).status == "sent"
    httpserver.check_assertions()


def test_a_note_already_posted_before_a_timeout_is_not_posted_again(httpserver, client):
    action = Action("jira", "OPS-7", "note", {"body": "Escalated.", "marker": "escalator:42"})
    posted = {"comments": [{"id": "1", "body": adf("Escalated.", "[escalator:42]")}]}
    httpserver.expect_ordered_request("/rest/api/3/issue/OPS-7/comment", method="GET",
                                      query_string=NEWEST_FIRST).respond_with_json(posted)

    result = client.apply(action)

    assert result.status == "skipped"
    assert [entry[0].method for entry in httpserver.log] == ["GET"]


def test_service_desk_marker_is_found_on_a_later_page(httpserver, desk_client):
    action = Action("jira", "HELP-3", "note", {"body": "Escalated.", "marker": "escalator:9"})
    url = "/rest/servicedeskapi/request/HELP-3/comment"
    internal = {"public": "true", "internal": "true"}
    httpserver.expect_ordered_request(url, method="GET", query_string=internal).respond_with_json(
        {"isLastPage": False, "values": [{"body": "older"}]})
    httpserver.expect_ordered_request(url, method="GET", query_string={**internal, "start": "1"}).respond_with_json(
        {"isLastPage": True, "values": [{"body": "x\n[escalator:9]"}]})

    assert desk_client.apply(action).status == "skipped"
    assert len(httpserver.log) == 2


def test_jira_validation_error_is_final_and_quotes_jira(httpserver, client):
    httpserver.expect_request("/rest/api/3/issue/OPS-7", method="PUT").respond_with_json(
        {"errorMessages": ["Issue is locked."], "errors": {"priority": "Priority name 'Sev0' is not valid"}},
        status=400)

    with pytest.raises(WriteBackError) as caught:
        client.apply(Action("jira", "OPS-7", "update", {"priority": "Sev0"}))

    assert (caught.value.retryable, caught.value.status) == (False, 400)
    assert "Issue is locked." in str(caught.value)
    assert "priority: Priority name 'Sev0' is not valid" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("data, why", [
    ({"assignee": "group:payments"}, "not groups"),
    ({"assignee": ""}, "no assignee"),
])
def test_assignments_jira_cannot_express_fail_before_sending(client, data, why):
    with pytest.raises(WriteBackError, match=why) as caught:
        client.requests_for(Action("jira", "OPS-7", "assign", data))
    assert caught.value.retryable is False


def test_an_update_with_nothing_to_change_sends_nothing(httpserver, client):
    result = client.apply(Action("jira", "OPS-7", "update", {}))
    assert (result.status, result.request, len(httpserver.log)) == ("skipped", None, 0)


def test_planner_builds_the_same_requests_as_the_configured_client(client, httpserver):
    settings = settings_for(httpserver.url_for("/"))
    planner = PLATFORMS["jira"].planner(settings)
    for action, _ in CASES.values():
        assert planner.requests_for(action) == client.requests_for(action)


def test_planner_without_a_site_uses_a_placeholder_and_cannot_send():
    planner = PLATFORMS["jira"].planner(Settings())
    request = planner.requests_for(Action("jira", "OPS-7", "assign", {"assignee": "abc"}))[0]
    assert request.describe() == {"method": "PUT", "json": {"accountId": "abc"},
                                  "url": "https://<your-site>.atlassian.net/rest/api/3/issue/OPS-7/assignee"}
    with pytest.raises(WriteBackError, match="no credentials"):
        planner.apply(Action("jira", "OPS-7", "assign", {"assignee": "abc"}))


def test_described_requests_and_reprs_carry_no_credentials(client):
    leaky = JiraClient(f"https://{EMAIL}:{TOKEN}@acme.atlassian.net/")
    for jira in (client, leaky):
        for action, _ in CASES.values():
            for request in jira.requests_for(action):
                assert TOKEN not in str(request.describe()) and TOKEN not in repr(request)
        assert TOKEN not in repr(jira)
