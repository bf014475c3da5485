"""The processor creates a ticket's review in the very write of the decision that first makes the
ticket significant, once, on a real SQLite file and on the simulator's memory store alike."""
import shutil
from datetime import timedelta

import pytest

from plugin import bootstrap
from plugin.domain.ticket import EventKind, TicketEvent
from plugin.store.memory import MemoryStore

from .conftest import RULES, START, deliver_event


@pytest.fixture(params=["sqlite", "memory"])
def container(request, settings_for, clock, stand_in_parser):
    store = MemoryStore() if request.param == "memory" else None
    return bootstrap.build(settings_for(), clock=clock, clients={}, store=store, with_metrics=False)


def recording_writes(container) -> list:
    batches, write = [], container.store.write

    def record(batch):
        batches.append(batch)
        write(batch)
    container.store.write = record
    return batches


def event(kind=EventKind.CREATED, key="SUP-7", **values):
    values.setdefault("summary", "Checkout is down - total outage")
    return TicketEvent("jira", kind, key, customer_tier=values.pop("tier", "enterprise"), actor="agent", **values)


def test_the_decision_that_makes_a_ticket_significant_writes_its_review_in_the_same_batch(container):
    batches = recording_writes(container)
    deliver_event(container, event())
    [batch] = batches
    [entry], [review] = batch.log, batch.reviews
    assert entry.changes["severity"] == ["", "critical"]
    assert (review.platform, review.key, review.at) == ("jira", "SUP-7", START)
    assert review.trigger == "severity critical, level L1 after created (enterprise outage is critical)"
    stored = container.store.review_of("jira", "SUP-7")
    assert (stored.status, stored.created_at, stored.matrix_version) == ("draft", START, entry.matrix_version)


def test_a_ticket_keeps_one_review_as_it_climbs_to_l3(container, clock):
    batches = recording_writes(container)
    deliver_event(container, event())
    clock.advance(timedelta(hours=2))       # the ack, then the plan deadline pass unanswered
    container.processor.drain()
    assert container.store.load([("jira", "SUP-7")])[("jira", "SUP-7")].state.level == "L3"
    assert [len(b.reviews) for b in batches] == [1] + [0] * (len(batches) - 1) and len(batches) > 1
    assert len(container.store.reviews()) == 1


def test_a_ticket_that_never_meets_the_condition_gets_no_review(container, clock):
    deliver_event(container, event(summary="How do I export a report?", tier="pro"))
    clock.advance(timedelta(days=3))
    container.processor.drain()
    assert container.store.load([("jira", "SUP-7")])[("jira", "SUP-7")].state.severity == "normal"
    assert container.store.review_of("jira", "SUP-7") is None and container.store.reviews() == []


@pytest.fixture
def reviewed_on_resolution(tmp_path):
    """A matrix whose reviews are for enterprise tickets once resolved, whatever their severity."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    matrix = rules / "matrix.yaml"
    text = matrix.read_text()
    old = "  when: {any: [{field: current.level, eq: L3}, {field: current.severity, eq: critical}]}"
    assert old in text
    matrix.write_text(text.replace(old, "  when: {all: [{field: event, eq: resolved}, "
                                        "{field: customer.tier, eq: enterprise}]}"))
    return rules


@pytest.mark.parametrize("tier, reviewed", [("enterprise", True), ("pro", False)])
def test_a_matrix_names_its_own_condition_over_the_ticket_as_it_stands(settings_for, clock, stand_in_parser,
                                                                       reviewed_on_resolution, tier, reviewed):
    container = bootstrap.build(settings_for(rules=str(reviewed_on_resolution)), clock=clock, clients={},
                                store=MemoryStore(), with_metrics=False)
    deliver_event(container, event(tier=tier))
    assert container.store.reviews() == []          # critical, but this matrix asks for resolution
    clock.advance(timedelta(minutes=5))
    # The resolution carries no tier of its own: the condition reads the ticket as last seen.
    deliver_event(container, event(EventKind.RESOLVED, summary="", tier=""))
    review = container.store.review_of("jira", "SUP-7")
    assert (review is not None) is reviewed
    if reviewed:
        assert review.created_at == START + timedelta(minutes=5) and "after resolved" in review.trigger
