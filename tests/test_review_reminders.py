"""An overdue action item reminds its owner on their channel (a real Slack webhook fake, a real SMTP
server) through the outbox: at once, again after remind_every, never twice across a restart, and no
more once it is closed. Times are exact, on the injected clock."""
import json
import logging
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from plugin import background, bootstrap
from plugin.domain.clock import FixedClock
from plugin.outbox import OutboxWorker
from plugin.review_reminders import ReminderSweep
from plugin.reviews import ReviewDesk
from plugin.store.port import Batch, NewReview, TicketRecord

from .conftest import RULES, START
from .test_e2e_escalation import smtp  # noqa: F401 - the fixture
from .test_review_api import simulated_review

DUE = datetime(2026, 12, 1, 23, 59, 59, tzinfo=UTC)       # "due 2026-12-01": the end of that day
SECRET_PATH = "/services/T000/B000/very-secret-token"


class Fakes:
    """Where reminders land: the Slack webhook fake and the SMTP server."""

    def __init__(self, httpserver, inbox):
        self.httpserver, self.inbox = httpserver, inbox

    def received(self) -> list[tuple[str, str]]:
        slack = [("slack", json.loads(request.get_data())["text"]) for request, _ in self.httpserver.log]
        return slack + [("email", content) for _, content in self.inbox.messages]


@pytest.fixture
def fakes(httpserver, smtp):  # noqa: F811
    httpserver.expect_request(SECRET_PATH, method="POST").respond_with_data("ok")
    port, inbox = smtp
    return Fakes(httpserver, inbox), {"smtp_url": f"smtp://127.0.0.1:{port}", "smtp_from": "escalator@example.com"}


@pytest.fixture
def desk_for(settings_for, tmp_path):
    """A container on one SQLite file, with a review of jira/SUP-7; built again, it is a restart."""
    def make(clock, **settings):
        settings.setdefault("database_url", f"sqlite:///{tmp_path}/escalator.db")
        container = bootstrap.build(settings_for(**settings), clock=clock, clients={}, with_metrics=False)
        if container.store.review_of("jira", "SUP-7") is None:
            container.store.write(Batch(START, tickets=[(TicketRecord("jira", "SUP-7", version=1), 0)],
                                        reviews=[NewReview("jira", "SUP-7", START, "level L3", "v1")]))
        desk = ReviewDesk(container.store, clock, lambda: container.matrix().matrix.parties)
        sweep = ReminderSweep(container.store, lambda: container.matrix().matrix, container.service.notifier, clock)
        return container, desk, sweep, OutboxWorker(container.store, container.outbox_clients, clock)
    return make


def remind(sweep, worker) -> int:
    """One sweep, and the outbox worker sending what it queued."""
    reminded = sweep.run_once()
    worker.run_once()
    return reminded


@pytest.mark.parametrize("owner, configured, channel", [
    ("platform-sre", {"slack", "email"}, "slack"),
    ("data-eng", {"slack", "email"}, "email"),          # no Slack channel in the matrix: their email
    ("platform-sre", {"email"}, "email"),                # Slack not configured here: not dry-run, email
], ids=["slack first", "email when the owner has no slack", "a configured channel before a dry-run one"])
def test_an_overdue_item_reminds_its_owner_then_again_after_remind_every_until_closed(
        desk_for, fakes, owner, configured, channel):
    fake, smtp_settings = fakes
    clock = FixedClock(DUE - timedelta(minutes=1))
    slack = {"slack_webhooks": {"#sre-incidents": fake.httpserver.url_for(SECRET_PATH)}} if "slack" in configured \
        else {}
    container, desk, sweep, worker = desk_for(clock, **smtp_settings, **slack)
    review = container.store.review_of("jira", "SUP-7")
    desk.add_action(review.id, {"title": "Add a canary to checkout deploys", "owner": owner, "due": "2026-12-01"})

    assert remind(sweep, worker) == 0                          # not due yet
    clock.advance(timedelta(minutes=1))
    assert remind(sweep, worker) == 1 and remind(sweep, worker) == 0
    [(got_channel, text)] = fake.received()
    assert got_channel == channel and "Overdue action item from the review of jira/SUP-7" in text
    assert '"Add a canary to checkout deploys" was due 2026-12-01 23:59 UTC' in text
    assert container.store.review(review.id).actions[0].last_reminded_at == DUE

    clock.advance(timedelta(days=1) - timedelta(seconds=1))
    assert remind(sweep, worker) == 0                          # a second short of remind_every (1d)
    clock.advance(timedelta(seconds=1))
    assert remind(sweep, worker) == 1 and len(fake.received()) == 2

    desk.change_action(review.id, 1, {"status": "done"})
    clock.advance(timedelta(days=5))
    assert remind(sweep, worker) == 0 and len(fake.received()) == 2


def test_an_item_of_a_simulated_tickets_review_never_reminds_anyone(desk_for, fakes):
    fake, smtp_settings = fakes
    clock = FixedClock(DUE)
    slack = {"slack_webhooks": {"#sre-incidents": fake.httpserver.url_for(SECRET_PATH)}}
    container, desk, sweep, worker = desk_for(clock, **smtp_settings, **slack)
    simulated = simulated_review(container.store)
    desk.add_action(simulated, {"title": "Practise the hand-off", "owner": "platform-sre", "due": "2026-11-20"})
    desk.add_action(simulated, {"title": "Tell the customer", "owner": "data-eng", "due": "2026-11-21"})
    real = container.store.review_of("jira", "SUP-7")
    desk.add_action(real.id, {"title": "Canary", "owner": "platform-sre", "due": "2026-12-01"})
    assert remind(sweep, worker) == 1                          # the sweep ran: the real item, due last
    clock.advance(timedelta(days=3))
    assert remind(sweep, worker) == 1
    assert [c for c, _ in fake.received()] == ["slack", "slack"]
    assert all("jira/SUP-7" in text and "SIM-3" not in text for _, text in fake.received())
    assert [a.last_reminded_at for a in container.store.review(simulated).actions] == [None, None]
    assert [r.key for r, _ in container.store.reminders_due(clock.now(), clock.now(), 100)] == ["SUP-7"]


def test_a_restart_neither_repeats_nor_loses_a_reminder(desk_for, fakes):
    fake, smtp_settings = fakes
    clock = FixedClock(DUE)
    slack = {"slack_webhooks": {"#sre-incidents": fake.httpserver.url_for(SECRET_PATH)}}
    container, desk, sweep, worker = desk_for(clock, **smtp_settings, **slack)
    review = container.store.review_of("jira", "SUP-7")
    desk.add_action(review.id, {"title": "Canary", "owner": "platform-sre", "due": "2026-12-01"})
    assert sweep.run_once() == 1                               # queued, then the process dies before sending
    container.store.dispose()

    clock.advance(timedelta(hours=1))
    _, _, sweep, worker = desk_for(clock, **smtp_settings, **slack)
    assert remind(sweep, worker) == 0                          # not reminded again...
    assert [c for c, _ in fake.received()] == ["slack"]        # ...and the queued one was not lost


def test_the_reminder_request_is_kept_without_the_webhook_secret(desk_for, fakes, caplog):
    fake, smtp_settings = fakes
    clock = FixedClock(DUE)
    container, desk, sweep, worker = desk_for(
        clock, slack_webhooks={"#sre-incidents": fake.httpserver.url_for(SECRET_PATH)})
    review = container.store.review_of("jira", "SUP-7")
    desk.add_action(review.id, {"title": "Canary", "owner": "platform-sre", "due": "2026-12-01"})
    with caplog.at_level(logging.DEBUG):
        remind(sweep, worker)
    with container.store.reading() as tx:
        [row] = tx.outbox_rows(key="SUP-7")
    assert row["status"] == "sent" and row["request"][0]["url"].endswith("/services/****")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("plugin"))
    assert "very-secret-token" not in json.dumps(row["request"]) + ours


def test_an_owner_without_an_address_is_logged_once_per_period(desk_for, caplog, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    matrix = rules / "matrix.yaml"
    matrix.write_text(matrix.read_text().replace("people:\n", "people:\n  intern:\n    name: New hire\n"))
    clock = FixedClock(DUE)
    container, desk, sweep, _ = desk_for(clock, rules=str(rules))
    review = container.store.review_of("jira", "SUP-7")
    desk.add_action(review.id, {"title": "Shadow an L2 engineer", "owner": "intern", "due": "2026-12-01"})
    with caplog.at_level(logging.WARNING):
        assert sweep.run_once() == 1 and sweep.run_once() == 0
    assert caplog.text.count("owner intern has no slack, teams or email address in the matrix") == 1


def test_the_worker_loop_runs_the_reminder_sweep(desk_for, fakes):
    fake, smtp_settings = fakes
    clock = FixedClock(DUE)
    container, desk, _, _ = desk_for(clock, slack_webhooks={"#sre-incidents": fake.httpserver.url_for(SECRET_PATH)})
    review = container.store.review_of("jira", "SUP-7")
    desk.add_action(review.id, {"title": "Canary", "owner": "platform-sre", "due": "2026-12-01"})
    stop = threading.Event()
    thread = background.start(container, stop, elect=False, reminder_interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while not fake.received() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert [c for c, _ in fake.received()] == ["slack"]
