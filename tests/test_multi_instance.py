"""Two `serve --no-worker` instances and two `escalator worker` processes on one PostgreSQL database.

The same signed deliveries reach both instances (duplicates and retries included) while a fake Jira
and a fake Zendesk record every request. Whatever the interleaving: one decision per event, every
write-back sent exactly once, every SLA timer fired once.
"""
import contextlib
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from plugin.domain.actions import Action
from plugin.store.intake_writer import IntakeWriter, _Slot
from plugin.store.schema import deliveries, escalation_log, outbox
from plugin.store.sql import SqlStore

from .cluster import (
    QUIET_SECONDS,
    expected_writes,
    jira_deliveries,
    platform_env,
    post,
    rows,
    running_cluster,
    settled,
    wait_until,
    zendesk_deliveries,
)
from .conftest import START
from .test_e2e_review import fast_rules  # noqa: F401 - a fixture
from .test_queue import redis_or_skip
from .test_store import delivery, queued


@pytest.fixture(params=["polling", "redis"])
def cluster(request, tmp_path, database, fakes, fast_rules):  # noqa: F811
    """Two instances and two workers on one database, woken by polling or by Redis."""
    queue = {"ESCALATOR_QUEUE_URL": redis_or_skip()} if request.param == "redis" else {}
    with running_cluster(tmp_path, platform_env(database, fast_rules, *fakes, **queue)) as running:
        yield running


# -- the claims, one at a time -----------------------------------------------------------------------

@pytest.fixture
def two_stores(database):
    first, second = SqlStore(database), SqlStore(database)
    yield first, second
    first.dispose()
    second.dispose()


def test_a_ticket_claimed_by_one_processor_is_skipped_by_another(two_stores):
    first, second = two_stores
    for n, ticket in enumerate(["A-1", "A-1", "B-1"]):
        first.receive(delivery(f"d-{n}", ticket=ticket, at=START + timedelta(seconds=n)))
    with first.claimed(START, 2) as (mine, _):
        assert [d.ticket_key for d in mine] == ["A-1", "A-1"]
        with second.claimed(START, 2) as (theirs, _):              # looks past A-1 for work of its own
            assert [d.ticket_key for d in theirs] == ["B-1"]
        with second.claimed(START, 2) as (theirs, _):
            assert [d.ticket_key for d in theirs] == ["B-1"]
    with second.claimed(START, 10) as (everything, _):              # released with the pass
        assert [d.ticket_key for d in everything] == ["A-1", "A-1", "B-1"]


def test_the_tickets_of_a_processor_that_died_are_free_at_once(two_stores):
    first, second = two_stores
    first.receive(delivery("d-1", ticket="A-1"))
    claim = first.claimed(START, 10)
    assert [d.ticket_key for d in claim.__enter__()[0]] == ["A-1"]
    with second.claimed(START, 10) as (theirs, _):
        assert theirs == []
    with second.engine.connect() as conn:      # the host dies: its session ends, and its locks with it
        conn.exec_driver_sql("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                             "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
    with second.claimed(START, 10) as (theirs, _):
        assert [d.ticket_key for d in theirs] == ["A-1"]
    with pytest.raises(OperationalError):
        claim.__exit__(None, None, None)


def test_two_instances_storing_the_same_redeliveries_together_never_deadlock(two_stores, monkeypatch):
    first, second = two_stores
    both_inserted = threading.Barrier(2, timeout=2)
    store = IntakeWriter._store

    def store_then_meet(self, conn, new):       # each waits until the other stored one too, the worst interleaving
        stored = store(self, conn, new)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_inserted.wait()
        return stored

    monkeypatch.setattr(IntakeWriter, "_store", store_then_meet)
    groups = [(first.intake, ["r-1", "r-2"]), (second.intake, ["r-2", "r-1"])]     # arrival orders differ
    slots = {writer: [_Slot(delivery(key)) for key in keys] for writer, keys in groups}

    def write(writer):
        writer._queue = list(slots[writer])
        writer._write_queued()

    threads = [threading.Thread(target=write, args=(writer,)) for writer, _ in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert [slot.error for group in slots.values() for slot in group] == [None] * 4
    assert sorted(slot.result is None for group in slots.values() for slot in group) == [False, False, True, True]


def test_an_outbox_row_being_claimed_is_skipped_not_waited_for(two_stores):
    first, second = two_stores
    ids = [queued(first, Action("jira", key, "assign", {"assignee": "a"})) for key in ("K-1", "K-2")]
    with first.transaction() as mine:
        assert mine.claim_in_ticket_order(START)["id"] == ids[0]
        with second.transaction() as theirs:
            theirs.conn.exec_driver_sql("SET LOCAL lock_timeout = '2s'")     # waiting would fail, not hang
            assert theirs.claim_in_ticket_order(START)["id"] == ids[1]
            assert theirs.claim_in_ticket_order(START) is None


# -- the test ---------------------------------------------------------------------------------------

def test_two_instances_and_two_workers_do_everything_exactly_once(cluster, fakes):
    (first, second), engine = cluster
    jira, zendesk = fakes
    keys = [f"MI-{n}" for n in range(1, 7)]
    quiet = keys[:2]
    waves = jira_deliveries(keys, quiet=quiet)
    waves[0] += zendesk_deliveries(["9101", "9102"])
    sent = [d for wave in waves for d in wave]
    # Each delivery to both instances at once, a wave after the other; then a retry of every third one.
    statuses = []
    with ThreadPoolExecutor(8) as pool:
        for wave in waves:
            statuses += pool.map(lambda job: post(*job), [(base, d) for d in wave for base in (first, second)])
    retried = [post(second if n % 2 else first, d) for n, d in enumerate(sent[::3])]
    assert Counter(statuses) == Counter({"accepted": len(sent), "duplicate": len(sent)})
    assert set(retried) == {"duplicate"}

    # The quiet critical tickets breach ack (3 s) then plan (6 s); wait for those and for everything to settle.
    wait_until(lambda: settled(engine) and _breaches(engine, quiet) >= 2 * len(quiet), 60, "settled")
    time.sleep(QUIET_SECONDS)
    assert settled(engine)

    stored = rows(engine, deliveries)
    assert len(stored) == len(sent) and {d["status"] for d in stored} == {"decided"}
    log = rows(engine, escalation_log)
    decided = Counter(e["delivery_id"] for e in log if e["delivery_id"] is not None)
    assert max(decided.values()) == 1                               # one decision per event
    firsts = {d["id"] for d in stored if d["event_kind"] == "created" or d["platform"] == "zendesk"}
    assert firsts <= set(decided)       # (an event that changes nothing and matches no rule is not logged)

    fired = Counter((e["platform"], e["key"], e["event_kind"], e["at"]) for e in log if e["delivery_id"] is None)
    assert fired and max(fired.values()) == 1                       # no timer fired twice
    assert _breaches(engine, quiet) == 2 * len(quiet)

    written = [o for o in rows(engine, outbox) if o["platform"] in ("jira", "zendesk")]
    assert written and {(o["status"], o["attempts"]) for o in written} == {("sent", 1)}, \
        Counter((o["platform"], o["kind"], o["status"], o["attempts"]) for o in written)
    wants = expected_writes(written, {"jira": jira.url, "zendesk": zendesk.url})
    assert jira.writes() + zendesk.writes() == wants                # every write-back delivered exactly once


def _breaches(engine, keys: list[str]) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(escalation_log).where(
            escalation_log.c.key.in_(keys), escalation_log.c.event_kind == "sla_breached")).scalar_one()


def test_a_row_a_dead_sender_left_sending_is_freed_at_once_and_a_live_ones_never(two_stores):
    first, second = two_stores
    row_id = queued(first, Action("jira", "K-9", "assign", {"assignee": "a"}))
    dying = SqlStore(first.url)
    sender = dying.register_sender()
    with dying.transaction() as tx:
        assert tx.claim_in_ticket_order(START, sender)["id"] == row_id
    with second.transaction() as tx:
        assert tx.release_orphans() == 0           # its sender is alive: still its own
    dying.dispose()                                 # the sender's host dies, and its session with it
    with second.transaction() as tx:
        assert tx.release_orphans() == 1            # free at once, not five minutes on
        assert tx.claim_in_ticket_order(START)["id"] == row_id
