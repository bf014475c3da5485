"""The storage port's contract, on every adapter: SQLite, PostgreSQL and the simulator's memory store.
Then the SQL store's own duties (the outbox, the matrices) on both databases."""
from dataclasses import replace
from datetime import timedelta

import pytest

from plugin.domain.actions import Action
from plugin.domain.ticket import TicketState
from plugin.domain.timers import RUNNING, STOPPED, Timer
from plugin.store.memory import MemoryStore
from plugin.store.port import Batch, Conflict, LogEntry, NewDelivery, OutboxRow, TicketRecord, TimerWrite
from plugin.store.sql import SqlStore

from .conftest import START, fresh_postgres_store


def sql_store(kind, tmp_path):
    if kind == "sqlite":
        return SqlStore(f"sqlite:///{tmp_path}/escalator.db")
    return fresh_postgres_store()


@pytest.fixture(params=["sqlite", "postgresql", "memory"])
def store(request, tmp_path):
    store = MemoryStore() if request.param == "memory" else sql_store(request.param, tmp_path)
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql(request, tmp_path):
    store = sql_store(request.param, tmp_path)
    yield store
    store.dispose()


def delivery(key="d-1", platform="jira", ticket="SUP-1", at=START, **values):
    return NewDelivery(platform, key, at, b'{"x": 1}', {"User-Agent": "test"}, ticket_key=ticket, **values)


def ack(**values) -> Timer:
    defaults = dict(name="ack", seconds=900, calendar="24x7", recurring=False, warn_fraction=0.8, state=RUNNING,
                    started_at=START, segment_start=START, due_at=START + timedelta(minutes=15),
                    warn_at=START + timedelta(minutes=12))
    return Timer(**{**defaults, **values})


def decided(store, record, read_version=0, *, delivery_ids=(), timers=(), log=(), now=START):
    store.write(Batch(now, tickets=[(record, read_version)], decided=list(delivery_ids),
                      timers=[TimerWrite(record.platform, record.key, t, at) for t, at in timers], log=list(log)))


STATE = TicketState(severity="critical", level="L2", owner="sre", matrix_version="abc", labels=("a", "b"),
                    priority="Highest", assignee="acc-1")


# -- the port's contract ---------------------------------------------------------------------------

def test_a_delivery_is_received_once_per_platform_and_dedupe_key(store):
    first, again = store.receive(delivery()), store.receive(delivery())
    other = store.receive(delivery(platform="zendesk"))
    assert isinstance(first, int) and again is None and isinstance(other, int) and other != first


def test_received_deliveries_wait_in_arrival_order_until_decided(store):
    ids = [store.receive(delivery(f"d-{n}", at=START + timedelta(seconds=n))) for n in range(3)]
    store.receive(delivery("ignored", status="ignored", reason="nothing to evaluate"))
    waiting = store.pending(10)
    assert [w.id for w in waiting] == ids and store.pending(2)[-1].id == ids[1]
    assert (waiting[0].platform, waiting[0].ticket_key, waiting[0].received_at) == ("jira", "SUP-1", START)
    assert waiting[0].body == b'{"x": 1}' and waiting[0].headers == {"User-Agent": "test"}
    assert store.backlog(START + timedelta(seconds=10)) == (3, 10.0)
    decided(store, TicketRecord("jira", "SUP-1", STATE, version=1), delivery_ids=ids[:2])
    assert [w.id for w in store.pending(10)] == ids[2:]
    assert store.backlog(START + timedelta(seconds=10)) == (1, 8.0)


def test_a_ticket_record_round_trips_with_its_timers_and_aware_times(store):
    record = TicketRecord("jira", "SUP-1", STATE, {"summary": "Checkout down"}, {}, version=1)
    decided(store, record, timers=[(ack(), START + timedelta(minutes=15))])
    loaded = store.load([("jira", "SUP-1"), ("jira", "NEW-1")])
    assert list(loaded) == [("jira", "SUP-1")]
    got = loaded[("jira", "SUP-1")]
    assert (got.state, got.snapshot, got.version, got.created_at) == (STATE, {"summary": "Checkout down"}, 1, START)
    assert got.timers["ack"] == replace(ack(), id=got.timers["ack"].id) and got.timers["ack"].id is not None


def test_due_timers_come_in_time_order_and_a_rewritten_timer_moves(store):
    record = TicketRecord("jira", "SUP-1", STATE, version=1)
    decided(store, record, timers=[(ack(), START + timedelta(minutes=15)),
                                   (ack(name="plan"), START + timedelta(minutes=5)), (ack(name="rca"), None)])
    assert store.due_timers(START + timedelta(minutes=4), 10) == []
    assert store.next_timer_at() == START + timedelta(minutes=5)
    due = store.due_timers(START + timedelta(minutes=15), 10)
    assert [(d.name, d.at) for d in due] == [("plan", START + timedelta(minutes=5)),
                                              ("ack", START + timedelta(minutes=15))]
    plan = store.load([("jira", "SUP-1")])[("jira", "SUP-1")].timers["plan"]
    decided(store, replace(record, version=2), 1, timers=[(replace(plan, state=STOPPED, stopped_at=START), None)])
    assert [d.name for d in store.due_timers(START + timedelta(minutes=15), 10)] == ["ack"]
    assert store.load([("jira", "SUP-1")])[("jira", "SUP-1")].timers["plan"].state == STOPPED


def test_a_batch_that_lost_a_race_writes_nothing(store):
    first = store.receive(delivery("d-1"))
    decided(store, TicketRecord("jira", "SUP-1", STATE, version=1), delivery_ids=[first])
    second = store.receive(delivery("d-2"))
    stale = TicketRecord("jira", "SUP-1", replace(STATE, level="L3"), version=1)
    with pytest.raises(Conflict):               # another processor wrote version 1 first
        decided(store, stale, 0, delivery_ids=[second])
    with pytest.raises(Conflict):               # a delivery already decided
        decided(store, replace(stale, version=2), 1, delivery_ids=[first])
    assert store.load([("jira", "SUP-1")])[("jira", "SUP-1")].state.level == "L2"
    assert [w.id for w in store.pending(10)] == [second]


def test_log_entries_keep_their_outbox_rows_and_the_timeline_is_in_order(store):
    row = OutboxRow("jira", "SUP-1", "note", {"body": "Escalated"}, [{"method": "POST"}], "dry_run", 7)
    entries = [LogEntry("jira", "SUP-1", START + timedelta(minutes=n), 7, "created", "agent", {"level": ["", "L1"]},
                        {"trace": []}, "abc", [{"situation": "escalated"}], (row,) if n == 0 else ())
               for n in range(2)]
    decided(store, TicketRecord("jira", "SUP-1", STATE, version=1), log=entries)
    timeline = store.timeline("jira", "SUP-1")
    assert [e["at"] for e in timeline] == [START, START + timedelta(minutes=1)]
    assert timeline[0]["communications"] == [{"situation": "escalated"}]
    assert timeline[0]["changes"]["level"] == ["", "L1"]
    assert store.timeline("jira", "NEW-1") == []


# -- the SQL store's own duties --------------------------------------------------------------------

def test_the_api_sees_a_ticket_pending_until_decided(sql):
    delivery_id = sql.receive(delivery(event_kind="created"))
    with sql.reading() as tx:
        assert [p["id"] for p in tx.pending_of("jira", "SUP-1")] == [delivery_id]
    decided(sql, TicketRecord("jira", "SUP-1", STATE, version=1), delivery_ids=[delivery_id],
            now=START + timedelta(seconds=1))
    with sql.reading() as tx:
        assert tx.pending_of("jira", "SUP-1") == []
        [row] = tx.recent_deliveries(10)
    assert (row["status"], row["decided_at"]) == ("decided", START + timedelta(seconds=1))


def test_a_matrix_is_remembered_with_its_source(sql):
    with sql.transaction() as tx:
        tx.remember_matrix("v1", {"matrix.yaml": "a"}, START)
        tx.remember_matrix("v2", {"matrix.yaml": "b"}, START + timedelta(minutes=1))
        tx.remember_matrix("v1", {"matrix.yaml": "a"}, START + timedelta(minutes=2))
        assert tx.last_good_matrix() == "v1"
        assert tx.matrix_files("v2") == {"matrix.yaml": "b"}
        assert tx.matrix_files("v3") is None


def queued(sql, action: Action) -> int:
    entry = LogEntry("jira", action.key, START, None, "created", "", {}, {}, "v1",
                     outbox=(OutboxRow(action.platform, action.key, action.kind, action.data, [], "pending"),))
    decided(sql, TicketRecord("jira", action.key, STATE, version=1), log=[entry])
    with sql.reading() as tx:
        return tx.outbox_rows(key=action.key)[0]["id"]


def test_an_outbox_row_is_claimed_by_one_worker_only(sql):
    row_id = queued(sql, Action("jira", "K", "assign", {"assignee": "a"}))
    with sql.transaction() as tx:
        first = tx.claim_in_ticket_order(START)
    with sql.transaction() as tx:
        second = tx.claim_in_ticket_order(START)
    assert (first["id"], first["attempts"], first["status"], second) == (row_id, 1, "sending", None)


def test_a_row_left_sending_by_a_crash_is_released_by_the_sweep(sql):
    row_id = queued(sql, Action("jira", "K", "note", {"body": "x"}))
    with sql.transaction() as tx:
        tx.claim_in_ticket_order(START)
    with sql.transaction() as tx:
        assert tx.release_stuck(START - timedelta(minutes=1)) == 0
        assert tx.release_stuck(START + timedelta(minutes=6)) == 1
        assert tx.claim_in_ticket_order(START + timedelta(minutes=6))["id"] == row_id


def test_a_failed_write_leaves_nothing_behind(sql):
    delivery_id = sql.receive(delivery())
    broken = LogEntry("jira", "SUP-1", START, delivery_id, "created", "", {}, {}, None)   # matrix_version NOT NULL
    with pytest.raises(Exception):  # noqa: B017 - whichever the driver raises, the batch must roll back whole
        decided(sql, TicketRecord("jira", "SUP-1", STATE, version=1), delivery_ids=[delivery_id], log=[broken])
    assert sql.load([("jira", "SUP-1")]) == {} and [w.id for w in sql.pending(10)] == [delivery_id]


def test_concurrent_deliveries_share_commits_and_a_redelivery_is_stored_once(sql):
    """Eight request threads, each delivery sent twice: every one stored once, every duplicate told so."""
    from concurrent.futures import ThreadPoolExecutor
    keys = [f"d-{n}" for n in range(200)] * 2
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda key: sql.receive(delivery(key)), keys))
    stored = [i for i in ids if i is not None]
    assert len(stored) == len(set(stored)) == 200 and ids.count(None) == 200
    assert len(sql.pending(500)) == 200


# -- after-action reviews (the ReviewStore half of the port) -----------------------------------------

from plugin.domain.review import (  # noqa: E402
    DONE,
    IN_REVIEW,
    ReviewNotFound,
    changed_action,
    edited,
    moved,
    new_action,
)
from plugin.store.port import NewReview  # noqa: E402

DAY = timedelta(days=1)


def with_review(store, key="SUP-1", version=1, read=0, at=START):
    record = TicketRecord("jira", key, STATE, version=version)
    store.write(Batch(at, tickets=[(record, read)], reviews=[NewReview("jira", key, at, "level L3", "abc")]))
    return store.review_of("jira", key)


def test_a_review_is_written_with_its_batch_and_a_ticket_keeps_its_first(store):
    first = with_review(store)
    assert (first.platform, first.key, first.status, first.trigger, first.created_at) == (
        "jira", "SUP-1", "draft", "level L3", START)
    assert store.load([("jira", "SUP-1")])[("jira", "SUP-1")].reviewed
    again = with_review(store, version=2, read=1, at=START + DAY)
    assert again == first and [r.id for r in store.reviews()] == [first.id]
    assert store.review_of("jira", "SUP-2") is None and store.review(first.id + 100) is None


def test_a_batch_that_lost_a_race_writes_no_review(store):
    with_review(store, "SUP-2")
    with pytest.raises(Conflict):
        with_review(store, "SUP-2", version=1, read=0)
    record = TicketRecord("jira", "SUP-3", STATE, version=1)
    store.write(Batch(START, tickets=[(record, 0)]))
    with pytest.raises(Conflict):
        store.write(Batch(START, tickets=[(record, 0)], reviews=[NewReview("jira", "SUP-3", START, "x", "abc")]))
    assert store.review_of("jira", "SUP-3") is None and not store.load([("jira", "SUP-3")])[("jira", "SUP-3")].reviewed


def test_reviews_are_listed_newest_first_and_by_status(store):
    ids = [with_review(store, f"SUP-{n}").id for n in range(3)]
    store.change_review(ids[1], lambda r: moved(r, IN_REVIEW, START + DAY))
    assert [r.id for r in store.reviews()] == ids[::-1] and [r.id for r in store.reviews(limit=1)] == ids[-1:]
    assert [r.id for r in store.reviews("in_review")] == [ids[1]]
    assert [r.id for r in store.reviews("draft")] == [ids[2], ids[0]]


def test_a_change_is_applied_to_the_stored_review(store):
    review = with_review(store)
    changed = store.change_review(review.id, lambda r: moved(edited(r, {"why_it_happened": "A bad deploy"},
                                                                    START + DAY), IN_REVIEW, START + DAY))
    stored = store.review(review.id)
    assert stored == changed and stored.sections == {"why_it_happened": "A bad deploy"}
    assert (stored.status, stored.updated_at, stored.created_at) == ("in_review", START + DAY, START)
    final = store.change_review(review.id, lambda r: moved(r, "final", START + 2 * DAY, {"summary": "frozen"}))
    assert store.review(review.id).frozen == {"summary": "frozen"} and final.final_at == START + 2 * DAY
    with pytest.raises(ReviewNotFound):
        store.change_review(review.id + 100, lambda r: r)


def test_action_items_are_numbered_per_review_and_changed_in_place(store):
    first, other = with_review(store, "SUP-1"), with_review(store, "SUP-2")
    make = lambda title: lambda _r, n: new_action(n, title, "sre", "2026-12-03", "OPS-1", START, {"sre"})  # noqa: E731
    assert [store.add_action(first.id, make(t)).number for t in ("a", "b")] == [1, 2]
    assert store.add_action(other.id, make("c")).number == 1
    done = store.change_action(first.id, 2, lambda i: changed_action(i, {"status": DONE}, START + DAY, {"sre"}))
    stored = store.review(first.id).actions
    assert [(a.number, a.title, a.status) for a in stored] == [(1, "a", "open"), (2, "b", "done")]
    assert stored[1] == done and done.closed_at == START + DAY and stored[0].due_at.tzinfo is not None
    with pytest.raises(ReviewNotFound):
        store.change_action(first.id, 3, lambda i: i)
    with pytest.raises(ReviewNotFound):
        store.add_action(first.id + 100, make("d"))


def reminder_row(key="SUP-1"):
    return OutboxRow("comms", key, "message", {"channel": "slack", "text": "overdue", "to": ["#sre"]}, [{}], "pending")


def reminders_queued(store, key):
    if isinstance(store, MemoryStore):
        return [row["data"]["text"] for row in store.outbox if row["key"] == key]
    with store.reading() as tx:
        return [row["data"]["text"] for row in tx.outbox_rows(key=key)]


def test_an_overdue_item_is_due_for_a_reminder_once_per_period(store):
    review = with_review(store)
    due_at = START + 3 * DAY
    for title in ("overdue", "later", "closed"):
        store.add_action(review.id, lambda _r, n, t=title: new_action(
            n, t, "sre", due_at + (DAY if t == "later" else timedelta()), "", START, {"sre"}))
    store.change_action(review.id, 3, lambda i: changed_action(i, {"status": DONE}, START, {"sre"}))
    now = due_at + timedelta(hours=1)
    [(found, item)] = store.reminders_due(now, now - DAY, 10)
    assert (found.id, item.number, item.last_reminded_at) == (review.id, 1, None)
    assert store.remind(review.id, 1, None, now, [reminder_row()])
    assert not store.remind(review.id, 1, None, now, [reminder_row()])     # another worker's claim: refused
    almost = now + DAY - timedelta(seconds=1)       # item 2 fell due meanwhile; item 1 waits for its period
    assert [i.number for _, i in store.reminders_due(almost, almost - DAY, 10)] == [2]
    later = now + DAY
    assert [(i.number, i.last_reminded_at) for _, i in store.reminders_due(later, later - DAY, 10)] == [
        (1, now), (2, None)]
    assert reminders_queued(store, "SUP-1") == ["overdue"]


def test_the_review_sources_are_the_tickets_log_and_timers(store):
    entry = LogEntry("jira", "SUP-1", START, None, "created", "agent", {"level": ["", "L3"]}, {"trace": []}, "abc")
    decided(store, TicketRecord("jira", "SUP-1", STATE, version=1), log=[entry],
            timers=[(ack(), START + timedelta(minutes=15))])
    sources = store.review_sources("jira", "SUP-1")
    assert [e["changes"] for e in sources.log] == [{"level": ["", "L3"]}]
    assert [(t["name"], t["due_at"]) for t in sources.timers] == [("ack", START + timedelta(minutes=15))]
    assert sources.ratings == []


def test_a_rated_delivery_is_a_review_source(sql):
    delivery_id = sql.receive(delivery(event_kind="satisfaction_rated"))
    entry = LogEntry("jira", "SUP-1", START, delivery_id, "satisfaction_rated", "", {}, {"trace": []}, "abc")
    decided(sql, TicketRecord("jira", "SUP-1", STATE, version=1), delivery_ids=[delivery_id], log=[entry])
    [rating] = sql.review_sources("jira", "SUP-1").ratings
    assert (rating["at"], rating["platform"], rating["body"]) == (START, "jira", b'{"x": 1}')


def test_a_lean_memory_store_keeps_an_entry_that_stops_a_clock_though_it_changed_nothing(clock):
    from plugin.store.memory import MemoryStore
    from plugin.store.port import Batch, LogEntry
    store = MemoryStore(lean=True)
    entry = dict(platform="jira", key="SUP-1", at=clock.now(), delivery_id=None, actor="agent", changes={},
                 matrix_version="v1")
    store.write(Batch(now=clock.now(), log=[
        LogEntry(event_kind="commented", decision={"stop_timers": ["ack"], "trace": []}, **entry),
        LogEntry(event_kind="timer_warning", decision={"stop_timers": [], "trace": []}, **entry)]))
    (kept,) = store.timeline("jira", "SUP-1")
    assert kept["event_kind"] == "commented" and kept["decision"]["stop_timers"] == ["ack"]


def test_two_processes_starting_together_on_a_new_matrix_both_keep_it():
    """The second insert of the same version waits for the first and becomes an update, never an error."""
    import threading
    store, errors = fresh_postgres_store(), []
    try:
        with store.transaction() as first:
            first.remember_matrix("v-new", {"matrix.yaml": "x"}, START)

            def second():
                try:
                    with store.transaction() as tx:
                        tx.remember_matrix("v-new", {"matrix.yaml": "x"}, START + timedelta(seconds=1))
                except Exception as exc:    # the failure this test is about
                    errors.append(exc)
            thread = threading.Thread(target=second)
            thread.start()
            thread.join(0.5)            # it waits on the first transaction's row
        thread.join(10)
        assert errors == []
        with store.reading() as tx:
            assert tx.matrix_files("v-new") == {"matrix.yaml": "x"}
    finally:
        store.dispose()


def test_a_worker_taking_over_frees_at_once_what_a_dead_one_left_sending(sql):
    from plugin.domain.clock import FixedClock
    from plugin.outbox import OutboxWorker

    row_id = queued(sql, Action("jira", "K", "note", {"body": "x"}))
    with sql.transaction() as tx:
        tx.claim_in_ticket_order(START)          # then the worker that claimed it was killed
    worker = OutboxWorker(sql, {}, FixedClock(START + timedelta(seconds=1)))
    assert worker.take_over() == 1
    with sql.transaction() as tx:
        assert tx.claim_in_ticket_order(START + timedelta(seconds=1))["id"] == row_id
