"""XSS on every page that shows ticket text: a ticket whose summary, description, labels, reporter and
comment are script payloads, read through every page of the dashboard (found in the url_map, so a new page
is visited too), its review and drill exports and a drill rebuilt from it. No script may run (the page
watchers fail on a dialog, a page error or a CSP report) and the text is shown as written."""
from __future__ import annotations

import json

import pytest

from plugin.drills_api import drill_sessions
from simulator.from_ticket import scenario_from_ticket, scenario_yaml

from ..conftest import FIXTURES, RULES
from .conftest import outage

KEY = "XSS-1"
FIELDS = ("summary", "description", "label", "reporter", "comment", "rationale")     # the last: a trainee's
RAW = ("<script>alert(", "<img src=x", "<svg onload", "<b onmouseover")     # a payload left as markup
SKIPPED = ("/login", "/setup", "/static/", "/api/", "/metrics", "/healthz")    # no ticket text, or JSON only


def hostile(field: str) -> str:
    """A payload that opens a dialog if any part of it runs, named after its field to find it on a page."""
    return (f'<script>alert("{field}")</script><img src=x onerror=alert("{field}")>'
            f'<svg onload=alert("{field}")>"><b onmouseover=alert(1)>{field}{{{{7*7}}}}')


def ticket_fields() -> dict:
    return {"summary": f"Checkout is down - total outage {hostile('summary')}", "description": hostile("description"),
            "labels": [hostile("label")],
            "reporter": {"displayName": hostile("reporter"), "name": "rep", "accountId": "rep-1"}}


def comment_payload() -> dict:
    """A comment on the ticket; its issue snapshot is the same hostile ticket."""
    payload = json.loads((FIXTURES / "jira" / "mattermost__webhook-cloud-comment-created.json").read_text())
    payload["issue"]["key"] = KEY
    payload["issue"]["fields"].update(ticket_fields())
    payload["comment"]["body"] = hostile("comment")
    payload["comment"]["author"]["displayName"] = hostile("author")
    return payload


@pytest.fixture(scope="module")
def seeded(live_server, tmp_path_factory):
    live_server.jira(outage(KEY, **ticket_fields()), "xss-1")
    live_server.jira(comment_payload(), "xss-2")
    scenarios = tmp_path_factory.mktemp("scenarios")
    (scenarios / "from-ticket.yaml").write_text(scenario_yaml(
        scenario_from_ticket(live_server.container.store, "jira", KEY, rules=RULES)))
    live_server.app.config["ESCALATOR_SCENARIOS"] = str(scenarios)
    live_server.user("trainee")
    with live_server.app.test_request_context():
        drills = drill_sessions()
        session, _ = drills.start({"scenario": "from-ticket.yaml", "trainees": ["trainee-1"]})
        drills.advance(session.id, {"to": "+2m"})
        drills.act(session.id, {"do": "severity", "to": "high", "rationale": hostile("rationale"), "by": "trainee-1"})
        drills.finish(session.id)
    review = live_server.container.store.review_of("jira", KEY)
    return {"platform": "jira", "key": KEY, "review_id": review.id, "session_id": session.id}


def pages(app, ids: dict) -> list[str]:
    """Every GET page of the dashboard, for this ticket, its review and its drill (both export kinds)."""
    found = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIPPED):
            continue
        for kind in ("md", "html") if "kind" in rule.arguments else (None,):
            values = {name: ids.get(name, 1) for name in rule.arguments} | ({"kind": kind} if kind else {})
            found.add(rule.build(values)[1])
    return sorted(found)


def no_live_markup(page) -> None:
    """What the payloads would have become had they been parsed as HTML."""
    for selector in ("script:not([src])", "img[src=x]", "svg[onload]", "[onerror]", "[onmouseover]",
                     "a[href^='javascript:']"):
        assert page.locator(selector).count() == 0, f"{page.url}: {selector}"


def test_every_page_shows_hostile_ticket_text_as_text_and_runs_none_of_it(logged_in, live_server, seeded):
    page, visited, shown = logged_in("lead"), [], {field: [] for field in FIELDS}
    for url in pages(live_server.app, seeded):
        answer = page.request.get(url)
        body, kind = answer.text(), answer.headers.get("content-type", "")
        assert answer.headers.get("x-content-type-options") == "nosniff", url
        if "text/html" not in kind:           # a CSV, Markdown or JSON file: never rendered as a page
            continue
        assert not [raw for raw in RAW if raw in body], url
        if answer.status != 200 or "attachment" in answer.headers.get("content-disposition", ""):
            continue            # a fragment, a missing page or a saved file: checked for raw markup above
        page.goto(url)
        no_live_markup(page)
        text = page.inner_text("body")
        visited.append(url)
        for field in FIELDS:
            if f'<script>alert("{field}")</script><img src=x' in text:      # long text may be cut short after it
                shown[field].append(url)
    assert f"/tickets/jira/{KEY}" in visited and "/" in visited and f"/reviews/{seeded['review_id']}" in visited
    # Where ticket text is shown it reads as typed: the summary on the board and the ticket, the reporter in
    # the ticket's rendered messages.
    assert {"/", f"/tickets/jira/{KEY}"} <= set(shown["summary"]), shown
    assert f"/tickets/jira/{KEY}" in shown["reporter"], shown
    assert f"/drills/{seeded['session_id']}" in shown["rationale"], shown


def test_the_html_exports_hold_the_text_escaped(logged_in, seeded):
    page = logged_in("lead")
    for url in (f"/reviews/{seeded['review_id']}/export.html", f"/drills/{seeded['session_id']}/debrief.html"):
        answer = page.request.get(url)
        assert answer.ok and "attachment" in answer.headers["content-disposition"], url
        assert not [raw for raw in RAW if raw in answer.text()], url
    review = page.request.get(f"/reviews/{seeded['review_id']}/export.html").text()
    assert "&lt;script&gt;alert(&#34;summary&#34;)" in review or "&lt;script&gt;alert(&quot;summary&quot;)" in review


def test_a_drill_rebuilt_from_the_ticket_keeps_none_of_its_text(logged_in, seeded):
    page = logged_in("lead")
    page.goto(f"/drills/{seeded['session_id']}")
    no_live_markup(page)
    text = page.inner_text("body")
    assert [field for field in FIELDS if f'alert("{field}")' in text] == ["rationale"]     # only what was typed
