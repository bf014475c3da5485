"""The processor on a real SQLite file: batches, races between two processors, and a ticket that
cannot be decided holding up nobody else."""
import json

import pytest

from plugin import bootstrap
from plugin.intake import ingest
from plugin.store.port import Conflict

from .test_webhooks import outage_payload


@pytest.fixture
def build(settings_for, clock):
    settings = settings_for()
    return lambda: bootstrap.build(settings, clock=clock, clients={})


def deliver(container, key, delivery=None):
    return ingest(container.store, "jira", json.dumps(outage_payload(key)).encode(),
                  {"X-Atlassian-Webhook-Identifier": delivery or key}, container.clock.now()).delivery


def statuses(container) -> dict[int, tuple[str, str]]:
    with container.store.reading() as tx:
        return {d["id"]: (d["status"], d["reason"]) for d in tx.recent_deliveries(500)}


def test_a_batch_decides_many_tickets_in_one_pass(build):
    container = build()
    ids = [deliver(container, f"SUP-{n}") for n in range(50)]
    done = container.processor.run_once()
    assert (done.decided, done.queued) == (50, 200)
    assert {statuses(container)[i][0] for i in ids} == {"decided"}
    assert not container.processor.run_once()


def test_of_two_processors_that_read_the_same_batch_only_one_writes_it(build):
    first, second = build(), build()        # two processes' worth of wiring on one database file
    ids = [deliver(first, f"SUP-{n}") for n in range(5)]
    write = first.store.write

    def race_then_write(batch):
        assert second.processor.run_once().decided == 5     # the other processor commits first
        write(batch)
    first.store.write = race_then_write
    with pytest.raises(Conflict):
        first.processor.run_once()
    first.store.write = write
    assert not first.processor.run_once()                  # nothing left: nothing decided twice
    with first.store.reading() as tx:
        logged = [e["delivery_id"] for key in range(5) for e in tx.timeline("jira", f"SUP-{key}")]
    assert sorted(logged) == ids


def test_a_ticket_that_cannot_be_decided_holds_up_no_other_and_fails_after_three_passes(build, caplog):
    container = build()
    decide = container.service.decide

    def broken_for_one(record, event, *args, **kwargs):
        if event.key == "BAD-1":
            raise ValueError("a defect met on this ticket only")
        return decide(record, event, *args, **kwargs)
    container.service.decide = broken_for_one
    bad, good = deliver(container, "BAD-1"), deliver(container, "SUP-1")
    assert container.processor.run_once().decided == 1
    assert statuses(container)[good][0] == "decided" and statuses(container)[bad][0] == "received"
    container.processor.run_once()
    assert statuses(container)[bad][0] == "received"        # retried: it may have been passing trouble
    container.processor.run_once()
    assert statuses(container)[bad] == ("failed", "could not be decided: ValueError: a defect met on this ticket only")
    assert "cannot decide jira/BAD-1" in caplog.text
    assert not container.processor.run_once()


def test_a_ticket_whose_write_the_database_refuses_holds_up_no_other_and_fails_after_three_passes(build, caplog):
    container = build()
    write = container.store.write

    def refusing_one(batch):        # as PostgreSQL refuses a value no column holds
        if any(record.key == "BAD-2" for record, _ in batch.tickets):
            raise ValueError("value too long for type character varying(64)")
        write(batch)
    container.store.write = refusing_one
    bad, good = deliver(container, "BAD-2"), deliver(container, "SUP-2")
    assert container.processor.run_once().decided == 1
    assert statuses(container)[good][0] == "decided" and statuses(container)[bad][0] == "received"
    later = deliver(container, "SUP-3")
    container.processor.run_once()
    assert statuses(container)[later][0] == "decided" and statuses(container)[bad][0] == "received"
    container.processor.run_once()          # alone in its batch now: the database answers, so it is the ticket
    assert statuses(container)[bad] == ("failed", "could not be decided: ValueError: value too long for type "
                                                  "character varying(64)")
    assert "cannot decide jira/BAD-2" in caplog.text


def test_when_the_database_refuses_every_ticket_nothing_is_set_aside(build):
    container = build()
    write = container.store.write
    ids = [deliver(container, f"SUP-{n}") for n in range(3)]
    container.store.write = lambda batch: (_ for _ in ()).throw(OSError("disk I/O error"))
    for _ in range(4):
        with pytest.raises(OSError):
            container.processor.run_once()
    container.store.write = write
    assert container.processor.run_once().decided == 3
    assert {statuses(container)[i][0] for i in ids} == {"decided"}


def test_when_the_database_is_away_a_lone_ticket_is_not_set_aside(build, monkeypatch):
    container = build()
    bad = deliver(container, "SUP-9")
    write = container.store.write
    container.store.write = lambda batch: (_ for _ in ()).throw(OSError("connection refused"))
    monkeypatch.setattr(container.store, "ping", lambda: (_ for _ in ()).throw(OSError("connection refused")))
    for _ in range(4):
        with pytest.raises(OSError):
            container.processor.run_once()
    container.store.write = write
    monkeypatch.undo()
    assert container.processor.run_once().decided == 1 and statuses(container)[bad][0] == "decided"
