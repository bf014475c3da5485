"""The store on both databases it supports: embedded SQLite and PostgreSQL."""
from datetime import timedelta

import pytest

from plugin.domain.actions import Action
from plugin.domain.ticket import TicketState
from plugin.store import Store
from plugin.store.schema import metadata

from .conftest import START, postgres_or_skip


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path}/escalator.db")
    else:
        url = postgres_or_skip()
        store = Store(url)
        metadata.drop_all(store.engine)
        metadata.create_all(store.engine)
    yield store
    store.dispose()


def delivery(tx, key="d-1"):
    return tx.record_delivery(platform="jira", dedupe_key=key, received_at=START, headers={}, body=b"{}")


def test_a_delivery_is_recorded_once_per_platform_and_key(store):
    with store.transaction() as tx:
        first = delivery(tx)
        again = delivery(tx)
        other = tx.record_delivery(platform="zendesk", dedupe_key="d-1", received_at=START, headers={}, body=b"")
    assert isinstance(first, int) and again is None and isinstance(other, int)
    with store.transaction() as tx:
        assert delivery(tx) is None


def test_a_failed_transaction_leaves_nothing_behind(store):
    with pytest.raises(RuntimeError), store.transaction() as tx:
        delivery(tx)
        tx.save_ticket("jira", "SUP-1", TicketState(severity="high"), START)
        raise RuntimeError("the decision failed")
    with store.transaction() as tx:
        assert tx.ticket("jira", "SUP-1") is None
        assert delivery(tx) is not None


def test_ticket_state_round_trips_with_aware_times(store):
    state = TicketState(severity="critical", level="L2", owner="sre", matrix_version="abc", labels=("a", "b"),
                        priority="Highest", assignee="acc-1")
    with store.transaction() as tx:
        tx.save_ticket("jira", "SUP-1", state, START)
        tx.save_ticket("jira", "SUP-1", state, START + timedelta(minutes=5))
    with store.transaction() as tx:
        assert tx.ticket_state("jira", "SUP-1") == state
        row = tx.ticket("jira", "SUP-1")
    assert row["created_at"] == START and row["updated_at"] == START + timedelta(minutes=5)


def test_a_timer_is_armed_rearmed_and_found_when_due(store):
    due = START + timedelta(minutes=15)
    arm = dict(platform="jira", key="K", name="ack", seconds=900, calendar="24x7", recurring=False,
               warn_fraction=0.8, now=START, due_at=due, warn_at=START + timedelta(minutes=12))
    with store.transaction() as tx:
        timer_id = tx.arm_timer(**arm)
        assert tx.due_timer_ids(START + timedelta(minutes=11)) == []
        assert tx.due_timer_ids(START + timedelta(minutes=12)) == [timer_id]     # the warning is due
        tx.update_timer(timer_id, warned=True)
        assert tx.due_timer_ids(START + timedelta(minutes=14)) == []
        assert tx.due_timer_ids(due) == [timer_id]
        assert tx.arm_timer(**{**arm, "now": due, "due_at": due + timedelta(minutes=15)}) == timer_id
        rearmed = tx.timer(timer_id)
    assert rearmed["warned"] is False and rearmed["segment_start"] == due and rearmed["state"] == "running"


def test_a_stopped_timer_is_never_due(store):
    with store.transaction() as tx:
        timer_id = tx.arm_timer(platform="jira", key="K", name="plan", seconds=60, calendar="24x7", recurring=False,
                                warn_fraction=0.0, now=START, due_at=START + timedelta(minutes=1), warn_at=None)
        tx.update_timer(timer_id, state="stopped", stopped_at=START)
        assert tx.due_timer_ids(START + timedelta(days=1)) == []
        assert tx.timers_of("jira", "K")[0]["stopped_at"] == START


def test_a_matrix_is_remembered_with_its_source(store):
    with store.transaction() as tx:
        tx.remember_matrix("v1", {"matrix.yaml": "a"}, START)
        tx.remember_matrix("v2", {"matrix.yaml": "b"}, START + timedelta(minutes=1))
        tx.remember_matrix("v1", {"matrix.yaml": "a"}, START + timedelta(minutes=2))
        assert tx.last_good_matrix() == "v1"
        assert tx.matrix_files("v2") == {"matrix.yaml": "b"}
        assert tx.matrix_files("v3") is None


def test_an_outbox_row_is_claimed_by_one_worker_only(store):
    with store.transaction() as tx:
        row_id = tx.enqueue(Action("jira", "K", "assign", {"assignee": "a"}), request=[], status="pending",
                            now=START, delivery_id=None, log_id=None)
    with store.transaction() as tx:
        assert tx.due_outbox_ids(START, 10) == [row_id]
        first = tx.claim(row_id, START)
    with store.transaction() as tx:
        second = tx.claim(row_id, START)
    assert first["attempts"] == 1 and first["status"] == "sending" and second is None


def test_a_row_left_sending_by_a_crash_is_released_by_the_sweep(store):
    with store.transaction() as tx:
        row_id = tx.enqueue(Action("jira", "K", "note", {"body": "x"}), request=[], status="pending",
                            now=START, delivery_id=None, log_id=None)
        tx.claim(row_id, START)
    with store.transaction() as tx:
        assert tx.release_stuck(START - timedelta(minutes=1)) == 0
        assert tx.release_stuck(START + timedelta(minutes=6)) == 1
        assert tx.due_outbox_ids(START + timedelta(minutes=6), 10) == [row_id]
