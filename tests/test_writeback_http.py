"""How write-back failures are classified for the outbox: retry or give up, and when to come back."""
from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from plugin.domain.actions import Action
from plugin.domain.errors import RemoteActionError
from plugin.platforms.jira import JiraClient
from plugin.writeback import WriteBackError, parse_retry_after
from plugin.writeback.http import Http, new_session

EMAIL, TOKEN = "bot@example.com", "http-token-s3cr3t"
NOW = datetime(2026, 3, 2, 9, 30, 0, tzinfo=UTC)
UPDATE = Action("jira", "OPS-7", "update", {"priority": "High"})
NOTE = Action("jira", "OPS-7", "note", {"body": "Escalated."})


def jira_at(base_url: str, read_timeout: float = 0.5) -> JiraClient:
    return JiraClient(base_url, Http(new_session(EMAIL, TOKEN), timeout=(0.5, read_timeout), now=lambda: NOW))


@pytest.fixture
def client(httpserver):
    jira = jira_at(httpserver.url_for("/"))
    yield jira
    jira.close()


def failure_of(client, action) -> WriteBackError:
    with pytest.raises(WriteBackError) as caught:
        client.apply(action)
    assert isinstance(caught.value, RemoteActionError)
    return caught.value


# status, response headers, response body -> retryable, retry_after
ANSWERS = {
    "429 with Retry-After seconds": (429, {"Retry-After": "7"}, "", True, 7.0),
    "429 without Retry-After": (429, {}, "", True, None),
    "503 with an HTTP-date": (503, {"Retry-After": "Mon, 02 Mar 2026 09:32:00 GMT"}, "", True, 120.0),
    "503 with a date already past": (503, {"Retry-After": "Mon, 02 Mar 2026 09:00:00 GMT"}, "", True, 0.0),
    "500": (500, {}, "<html>oops</html>", True, None),
    "502": (502, {}, "", True, None),
    "400": (400, {}, '{"errorMessages": ["bad"], "errors": {}}', False, None),
    "401": (401, {}, "Client must be authenticated to access this resource.", False, None),
    "403": (403, {}, '{"errorMessages": ["You do not have permission"]}', False, None),
    "404": (404, {}, '{"errorMessages": ["Issue does not exist or you do not have permission to see it."]}',
            False, None),
    "409": (409, {}, '{"errorMessages": ["conflict"]}', False, None),
}


@pytest.mark.parametrize("status, headers, body, retryable, retry_after", ANSWERS.values(), ids=ANSWERS.keys())
def test_http_answers_are_classified_for_the_outbox(httpserver, client, status, headers, body, retryable,
                                                    retry_after):
    httpserver.expect_request("/rest/api/3/issue/OPS-7", method="PUT").respond_with_data(
        body, status=status, headers=headers, content_type="application/json")

    error = failure_of(client, UPDATE)

    assert (error.retryable, error.retry_after, error.status) == (retryable, retry_after, status)
    assert f"HTTP {status}" in str(error)


def test_a_post_that_times_out_is_retryable_and_not_repeated_by_the_session():
    calls = []

    def slow(request):
        calls.append(request.method)
        time.sleep(1.0)
        return Response("{}", status=201)

    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/rest/api/3/issue/OPS-7/comment", method="POST").respond_with_handler(slow)
    server.start()
    try:
        jira = jira_at(server.url_for("/"), read_timeout=0.3)
        error = failure_of(jira, NOTE)
        jira.close()
    finally:
        server.stop()

    assert (error.retryable, error.status, error.retry_after) == (True, None, None)
    assert "timed out" in str(error)
    assert calls == ["POST"]
    assert error.__cause__ is None and error.__context__ is None


def test_connection_refused_is_retryable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    jira = jira_at(f"http://127.0.0.1:{port}")
    try:
        error = failure_of(jira, UPDATE)
    finally:
        jira.close()

    assert (error.retryable, error.status) == (True, None)
    assert "ConnectionError" in str(error)
    assert error.__context__ is None


def test_error_text_is_truncated_and_never_shows_the_token(httpserver, client):
    echoed = f"token {TOKEN} rejected " + "x" * 2000
    httpserver.expect_request("/rest/api/3/issue/OPS-7", method="PUT").respond_with_json(
        {"errorMessages": [echoed]}, status=401)

    error = failure_of(client, UPDATE)

    text = str(error).split("HTTP 401: ", 1)[1]
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    assert len(text) == 500 and text.endswith("…")


@pytest.mark.parametrize("value, seconds", [
    ("7", 7.0),
    (" 2.5 ", 2.5),
    ("-3", 0.0),
    ("Mon, 02 Mar 2026 09:30:45 GMT", 45.0),
    ("Monday, 02-Mar-26 09:31:00 GMT", 60.0),
    ("soon", None),
    ("", None),
    (None, None),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(value, seconds):
    assert parse_retry_after(value, NOW) == seconds


def test_a_marker_check_answered_with_html_is_retryable_and_posts_nothing(httpserver, client):
    marked = Action("jira", "OPS-7", "note", {"body": "Escalated.", "marker": "escalator:1"})
    httpserver.expect_request("/rest/api/3/issue/OPS-7/comment", method="GET").respond_with_data(
        "<html>maintenance</html>", content_type="text/html")

    error = failure_of(client, marked)

    assert (error.retryable, error.status) == (True, 200)
    assert [entry[0].method for entry in httpserver.log] == ["GET"]
