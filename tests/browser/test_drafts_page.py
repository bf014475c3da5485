"""An agent tailors a drafted customer update in the browser and the customer gets exactly that text,
once; a draft discarded from the ticket page sends nothing. The real app, a fake Jira over HTTP."""
import pytest

from plugin.outbox import OutboxWorker

from ..cluster import FakePlatform
from ..test_drafts import drafted_rules
from .conftest import LiveServer, outage, screenshot

TAILORED = ("Hello Test User,\n\nI am sorry checkout is failing for you. Our payments team has found the cause "
            "and is rolling back now. <script>alert('x')</script> I will write again by 10:30 UTC.")


@pytest.fixture(scope="module")
def jira():
    fake = FakePlatform()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, jira):
    """The app with L1's acknowledgement drafted (sent as rendered after 10 minutes), writing to a fake Jira."""
    tmp = tmp_path_factory.mktemp("drafts")
    server = LiveServer(tmp, rules=str(drafted_rules(tmp)), jira_base_url=jira.url, jira_email="bot@example.com",
                        jira_api_token="jira-token")
    server.worker = OutboxWorker(server.container.store, server.container.outbox_clients, server.container.clock)
    yield server
    server.stop()


def settle(server) -> None:
    """What a running worker would do: decide what was queued, then write back."""
    server.container.processor.drain()
    server.worker.run_once()


def comments(jira, key: str) -> list[str]:
    return [body for method, path, body in jira.requests if method == "POST" and path.endswith(f"/{key}/comment")]


def test_an_agent_tailors_a_draft_and_the_customer_gets_exactly_that_text_once(logged_in, live_server, jira):
    live_server.jira(outage("SUP-31"), "draft-31")
    settle(live_server)
    [note] = comments(jira, "SUP-31")[1:]           # the escalation note, then the draft's notice
    assert "drafted a customer update" in note and "/tickets/jira/SUP-31#drafts" in note

    page = logged_in("agent")
    page.goto("/drafts")
    row = page.locator("[data-testid=waiting] tr", has_text="SUP-31")
    assert "min, as drafted" in row.inner_text()
    row.get_by_role("link", name="Edit and send").click()
    assert page.get_by_test_id("template-text").text_content().startswith("Hello Test User")
    page.get_by_label("Message to the customer").fill(TAILORED)
    screenshot(page, "draft-editor")
    page.get_by_role("button", name="Send").click()
    assert "goes out in a moment" in page.locator(".flash").inner_text()

    settle(live_server)
    page.reload()
    assert page.get_by_test_id("status").inner_text() == "Sent"
    assert page.get_by_test_id("sent-text").text_content() == TAILORED        # shown as text, markup and all
    assert "+I am sorry checkout is failing" in page.get_by_test_id("diff").inner_text()
    screenshot(page, "draft-sent")
    sent = [c for c in comments(jira, "SUP-31") if "I am sorry checkout is failing" in c]
    assert len(sent) == 1 and "<script>alert('x')</script> I will write again" in sent[0]   # as written
    settle(live_server)                             # nothing is sent again
    assert len([c for c in comments(jira, "SUP-31") if "I am sorry" in c]) == 1


def test_a_draft_discarded_on_the_ticket_page_sends_nothing(logged_in, live_server, jira):
    live_server.jira(outage("SUP-32"), "draft-32")
    settle(live_server)
    posted = len(comments(jira, "SUP-32"))
    page = logged_in("lead")
    page.goto("/tickets/jira/SUP-32")
    drafts = page.locator("#drafts")
    drafts.get_by_role("button", name="Discard").click()        # no reason: refused, beside the form
    assert "say why" in page.locator(".form-error").inner_text()
    page.get_by_label("Or discard it: why?").fill("Spoke to the customer on the phone")
    page.get_by_role("button", name="Discard").click()
    page.wait_for_url("**/tickets/jira/SUP-32#drafts")
    settle(live_server)
    page.reload()
    assert "discarded" in page.locator("#drafts").inner_text() and "Spoke to the customer" in page.content()
    assert len(comments(jira, "SUP-32")) == posted


def test_a_viewer_reads_drafts_but_has_no_send_button(logged_in, live_server):
    live_server.jira(outage("SUP-33"), "draft-33")
    page = logged_in("viewer")
    page.goto("/tickets/jira/SUP-33")
    assert page.locator("#drafts").get_by_role("button", name="Send").count() == 0
    assert "Only agents, leads and admins send" in page.locator("#drafts").inner_text()
