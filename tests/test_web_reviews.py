"""`/reviews` in the Flask test client: who may read and change a review, the forms a team lead uses
(sections, status, action items) with each refusal shown beside its form, and hostile text escaped."""
import re
from datetime import timedelta

import pytest

from .conftest import START
from .test_review_api import simulated_review
from .test_webhooks import SECRET, drain, outage_payload, post_jira

HOSTILE = '<script>alert(1)</script> {{7*7}} <img src=x onerror=alert(2)>'
PASSWORD = "correct horse battery"


def log_in(client, role: str, name: str | None = None) -> str:
    """Add a user with `role` and log the client in through the login form; the user's name."""
    from plugin.passwords import hash_password
    name = name or role
    client.application.extensions["escalator.users"].add(name, role, hash_password(PASSWORD), START)
    answer = client.post("/login", data={"name": name, "password": PASSWORD,
                                         "csrf_token": csrf_token(client.get("/login").text)})
    assert answer.status_code == 302, answer.text
    return name


def csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def browser(app):
    """A test client that asks for pages, as a browser does."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "text/html,application/xhtml+xml"
    return client


@pytest.fixture
def client(make_app):
    return browser(make_app(jira_webhook_secret=SECRET))


@pytest.fixture
def review_id(client) -> int:
    post_jira(client, outage_payload("SUP-7"), delivery="d-7")
    return client.application.extensions["escalator"].store.review_of("jira", "SUP-7").id


@pytest.fixture
def lead(client):
    log_in(client, "lead")
    return client


def page(client, review_id) -> str:
    answer = client.get(f"/reviews/{review_id}")
    assert answer.status_code == 200
    return answer.text


def post(client, path, data, review_id=None):
    """A form post with the token the page gave, as a browser sends it."""
    token = csrf_token(client.get(f"/reviews/{review_id}" if review_id else "/reviews").text)
    return client.post(path, data={"csrf_token": token, **data})


def desk_review(client, review_id):
    return client.application.extensions["escalator"].store.review(review_id)


# -- who may do what --------------------------------------------------------------------------------

def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client, review_id):
    answer = client.get(f"/reviews/{review_id}")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role, listed, edit_forms", [
    ("viewer", 200, False), ("trainer", 200, False), ("lead", 200, True), ("admin", 200, True),
    ("trainee", 403, False)])
def test_reading_needs_view_and_the_edit_forms_show_only_to_leads_and_admins(client, review_id, role, listed,
                                                                            edit_forms):
    log_in(client, role)
    assert client.get("/reviews").status_code == listed
    shown = client.get(f"/reviews/{review_id}")
    assert shown.status_code == listed
    if listed == 200:
        assert ('name="why_it_happened"' in shown.text) is edit_forms
        assert ("Add an action item" in shown.text) is edit_forms


@pytest.mark.parametrize("path, data", [
    ("/reviews/{id}/sections", {"why_it_happened": "x"}), ("/reviews/{id}/status", {"status": "in_review"}),
    ("/reviews/{id}/actions", {"title": "x", "owner": "cto", "due": "2026-12-01"})])
def test_a_viewer_cannot_change_a_review(client, review_id, path, data):
    log_in(client, "viewer")
    answer = post(client, path.format(id=review_id), data, review_id)
    assert answer.status_code == 403 and "edit_reviews" not in answer.text and "lead" in answer.text
    assert desk_review(client, review_id).status == "draft" and not desk_review(client, review_id).actions


def test_a_form_without_its_csrf_token_is_refused(lead, review_id):
    answer = lead.post(f"/reviews/{review_id}/status", data={"status": "in_review"})
    assert answer.status_code == 400 and "CSRF" in answer.text
    assert desk_review(lead, review_id).status == "draft"


@pytest.mark.parametrize("path", ["/reviews/999", "/reviews/first", "/reviews/99999999999", "/reviews/999/export.md"])
def test_an_unknown_review_is_a_404_page(lead, path):
    assert lead.get(path).status_code == 404


# -- the list ---------------------------------------------------------------------------------------

def test_the_list_filters_by_status_and_counts_open_and_overdue_items(lead, review_id, clock):
    post_jira(lead, outage_payload("SUP-9"), delivery="d-9")
    post(lead, f"/reviews/{review_id}/actions", {"title": "Canary", "owner": "cto", "due": "2026-11-29"}, review_id)
    post(lead, f"/reviews/{review_id}/actions", {"title": "Runbook", "owner": "cto", "due": "2026-12-20"}, review_id)
    post(lead, f"/reviews/{review_id}/status", {"status": "in_review"}, review_id)
    listed = lead.get("/reviews").text
    rows = re.findall(r"<tr>\s*<td><a [^>]*>Review (\d+)</a></td>\s*<td><a [^>]*>([^<]+)</a></td>", listed)
    assert sorted(key for _, key in rows) == ["jira/SUP-7", "jira/SUP-9"]
    in_review = lead.get("/reviews?status=in_review").text
    assert "jira/SUP-7" in in_review and "jira/SUP-9" not in in_review and "1 overdue" in in_review
    assert "jira/SUP-9" in lead.get("/reviews?status=draft").text
    late = lead.get("/reviews?overdue=1").text
    assert "jira/SUP-7" in late and "jira/SUP-9" not in late
    assert "No review has an overdue action item." in lead.get("/reviews?status=draft&overdue=1").text
    assert 'href="/reviews?status=final&amp;overdue=1"' in late and 'href="/reviews?status=final"' not in late
    assert "There is no status &#39;closed&#39;" in lead.get("/reviews?status=closed").text


def listed_keys(text: str) -> list[str]:
    return re.findall(r"<td><a href=\"/tickets/[^\"]+\">([^<]+)</a>", text)


def test_reviews_of_simulated_tickets_are_listed_only_when_include_simulated_is_ticked(lead, review_id):
    simulated = simulated_review(lead.application.extensions["escalator"].store)
    real_only = lead.get("/reviews").text
    assert listed_keys(real_only) == ["jira/SUP-7"] and '<span class="tag">simulated</span>' not in real_only
    assert re.search(r'<input type="checkbox" name="simulated" value="1">\s*include simulated', real_only)
    both = lead.get("/reviews?simulated=1").text
    assert listed_keys(both) == ["jira/SIM-3-SUP-9", "jira/SUP-7"]
    assert both.count('<span class="tag">simulated</span>') == 1
    assert re.search(r'name="simulated" value="1" checked', both)
    assert 'href="/reviews?status=draft&amp;simulated=1"' in both           # the status filters keep the tick
    shown = page(lead, simulated)
    assert '<span class="tag">simulated</span>' in shown and "its action items remind nobody" in shown
    assert "remind nobody" not in page(lead, review_id)


def test_with_only_simulated_reviews_the_empty_list_points_to_them(lead):
    simulated_review(lead.application.extensions["escalator"].store)
    text = lead.get("/reviews").text
    assert listed_keys(text) == [] and 'data-testid="simulated-hidden"' in text
    assert 'href="/reviews?simulated=1"' in text
    assert 'data-testid="simulated-hidden"' not in lead.get("/reviews?status=final").text     # none there


# -- the review -------------------------------------------------------------------------------------

def test_the_review_shows_the_prefill_from_the_log(lead, review_id, clock):
    clock.advance(timedelta(minutes=15))
    drain(lead)                                     # the ack deadline passes: L2
    text = page(lead, review_id)
    assert "enterprise outage is critical" in text and "missed acknowledgement escalates to L2" in text
    assert re.search(r"<td>L1</td>.*?<td class=\"num\">15m</td>", text, re.S)    # dwell at L1
    assert "never acknowledged" in text and "not resolved" in text
    assert re.search(r"<td>ack</td>.*?breached", text, re.S)
    assert "pre-filled from the log" in text and "+15m: level L1 → L2" in text
    assert 'href="/tickets/jira/SUP-7"' in text                      # the review and its ticket link both ways
    assert f'href="/reviews/{review_id}"' in lead.get("/tickets/jira/SUP-7").text


def test_a_lead_edits_a_section_and_an_untouched_prefill_is_not_saved_as_written(lead, review_id):
    prefilled = re.search(r'name="what_happened"[^>]*>(.*?)</textarea>', page(lead, review_id), re.S).group(1)
    answer = post(lead, f"/reviews/{review_id}/sections", {
        "what_happened": prefilled.replace("&#43;", "+").replace("\n", "\r\n"),
        "why_it_happened": "A deploy\r\nskipped the canary.", "what_went_well": ""}, review_id)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"/reviews/{review_id}#sections")
    assert desk_review(lead, review_id).sections == {"why_it_happened": "A deploy\nskipped the canary."}
    assert "Saved 1 section(s)." in lead.get(answer.headers["Location"]).text


def test_a_lead_moves_the_review_to_final_and_its_sections_freeze(lead, review_id):
    for status in ("in_review", "final"):
        assert post(lead, f"/reviews/{review_id}/status", {"status": status}, review_id).status_code == 303
    text = page(lead, review_id)
    assert desk_review(lead, review_id).status == "final"
    assert 'name="why_it_happened"' not in text and "Move to" not in text and "frozen" in text
    assert "Add an action item" in text                 # items are still tracked


def test_a_skipped_status_is_shown_as_an_error_not_an_error_page(lead, review_id):
    answer = post(lead, f"/reviews/{review_id}/status", {"status": "final"}, review_id)
    assert answer.status_code == 409
    assert 'id="error-status"' in answer.text and "it can only move to in_review" in answer.text


def test_a_lead_adds_an_action_item_and_changes_its_status_owner_and_due_date(lead, review_id):
    added = post(lead, f"/reviews/{review_id}/actions",
                 {"title": "Canary every checkout deploy", "owner": "platform-sre", "due": "2026-12-04",
                  "link": "OPS-12"}, review_id)
    assert added.status_code == 303 and added.headers["Location"].endswith("#actions")
    changed = post(lead, f"/reviews/{review_id}/actions/1",
                   {"status": "done", "owner": "cto", "due": "2026-12-04"}, review_id)
    assert changed.status_code == 303 and changed.headers["Location"].endswith("#action-1")
    item = desk_review(lead, review_id).action(1)
    assert (item.title, item.owner, item.status, item.link) == ("Canary every checkout deploy", "cto", "done", "OPS-12")
    assert item.due_at.isoformat() == "2026-12-04T23:59:59+00:00"
    post(lead, f"/reviews/{review_id}/actions/1", {"status": "done", "owner": "cto", "due": "2026-12-09"}, review_id)
    assert desk_review(lead, review_id).action(1).due_at.isoformat() == "2026-12-09T23:59:59+00:00"


@pytest.mark.parametrize("data, message", [
    ({"title": "Canary", "owner": "cto", "due": "next week"}, "due &#39;next week&#39; is not a date"),
    ({"title": "Canary", "owner": "nobody", "due": "2026-12-01"}, "owner &#39;nobody&#39; is not a team or person"),
    ({"title": "Canary", "owner": "cto", "due": "2026-12-01", "link": "javascript:alert(1)"},
     "is neither a Jira issue key"),
    ({"title": " ", "owner": "cto", "due": "2026-12-01"}, "an action item needs a title"),
])
def test_a_bad_action_item_is_refused_beside_its_form_with_what_was_typed_kept(lead, review_id, data, message):
    answer = post(lead, f"/reviews/{review_id}/actions", data, review_id)
    assert answer.status_code == 400
    assert 'id="error-new-action"' in answer.text and message in answer.text
    assert f'value="{data["due"]}"' in answer.text
    assert not desk_review(lead, review_id).actions


def test_an_overdue_item_shows_when_its_owner_was_last_reminded(lead, review_id, clock):
    post(lead, f"/reviews/{review_id}/actions", {"title": "Canary", "owner": "cto", "due": "2026-11-29"}, review_id)
    store = lead.application.extensions["escalator"].store
    store.remind(review_id, 1, None, clock.now(), [])                 # as the reminder sweep records it
    text = page(lead, review_id)
    assert "overdue</span>" in text and "owner reminded 2026-11-30 09:00" in text


def test_a_bad_change_to_an_item_is_shown_and_the_item_kept(lead, review_id):
    post(lead, f"/reviews/{review_id}/actions", {"title": "Canary", "owner": "cto", "due": "2026-12-04"}, review_id)
    answer = post(lead, f"/reviews/{review_id}/actions/1", {"status": "closed", "owner": "cto", "due": "2026-12-04"},
                  review_id)
    assert answer.status_code == 400 and 'id="error-action-1"' in answer.text
    assert "unknown status &#39;closed&#39;" in answer.text
    assert desk_review(lead, review_id).action(1).status == "open"
    assert post(lead, f"/reviews/{review_id}/actions/7", {"status": "done"}, review_id).status_code == 404


def test_text_people_typed_is_shown_escaped_and_never_evaluated(lead, review_id):
    post(lead, f"/reviews/{review_id}/sections", {"why_it_happened": HOSTILE}, review_id)
    post(lead, f"/reviews/{review_id}/actions", {"title": HOSTILE, "owner": "cto", "due": "2026-12-04"}, review_id)
    text = page(lead, review_id)
    assert "<script>alert(1)" not in text and "<img src=x" not in text
    assert text.count("&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}} &lt;img src=x onerror=alert(2)&gt;") == 2


def test_a_review_exports_as_markdown_and_as_one_self_contained_page(lead, review_id):
    post(lead, f"/reviews/{review_id}/sections", {"why_it_happened": HOSTILE}, review_id)
    answer = lead.get(f"/reviews/{review_id}/export.md")
    assert answer.status_code == 200 and answer.mimetype == "text/markdown"
    assert answer.text.startswith(f"# After-action review {review_id}: jira/SUP-7")
    assert answer.headers["Content-Disposition"] == f'attachment; filename="review-{review_id}-jira-SUP-7.md"'
    page = lead.get(f"/reviews/{review_id}/export.html")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Disposition"] == f'attachment; filename="review-{review_id}-jira-SUP-7.html"'
    assert "enterprise outage is critical" in page.text and "&lt;script&gt;alert(1)" in page.text
    assert not re.search(r"<(script|link|img|iframe)\b", page.text.split("</style>")[1])       # loads nothing
    assert lead.get(f"/reviews/{review_id}/export.pdf").status_code == 404
