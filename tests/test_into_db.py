"""`escalator simulate --into-db`: a replayed month copied into a real database (tickets, log, timers,
ratings and after-action reviews), marked simulated, under keys that never meet a real ticket,
replaced (not doubled) by a second run of the same seed."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from plugin.domain.review import OPEN
from plugin.insights import Period, figures, good_rating
from plugin.store.insights_sql import read_facts
from plugin.store.schema import deliveries, escalation_log, review_actions, reviews, tickets, timers
from plugin.store.simulated_sql import load_month
from plugin.store.sql import SqlStore
from simulator.generator import generate
from simulator.into_db import month_of, rating_deliveries
from simulator.replay import replay

from .conftest import RULES, scratch_postgres

START = datetime(2026, 2, 2, tzinfo=UTC)
WHOLE = Period(START - timedelta(days=1), START + timedelta(days=30))
DAY_AFTER_YEAR = timedelta(days=366)


@pytest.fixture(scope="module")
def replayed():
    generated = generate(seed=7, incidents=60, days=5, start=START)
    rated = rating_deliveries(generated)        # before the replay, which lets each body go once stored
    return replay(generated, RULES, engine="python", lean=True, consume=True), rated


@pytest.fixture(scope="module")
def month(replayed):
    result, rated = replayed
    return month_of(result, 7, rated)


@pytest.fixture
def store(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/escalator.db")
    yield store
    store.dispose()


def count(store, table, where=None) -> int:
    query = select(func.count()).select_from(table)
    with store.engine.connect() as conn:
        return conn.execute(query if where is None else query.where(where)).scalar_one()


def real_ticket(store, key="SIM-1") -> None:
    """A real Jira ticket whose project happens to be called SIM."""
    now = START + timedelta(days=1)
    with store.engine.begin() as conn:
        conn.execute(tickets.insert().values(platform="jira", key=key, severity="high", level="L1", owner="oncall",
                                             labels=[], snapshot={"product_area": "billing"}, created_at=now,
                                             updated_at=now))
        conn.execute(timers.insert().values(platform="jira", key=key, name="ack", seconds=900, calendar="24x7",
                                            recurring=False, state="stopped", started_at=now, stopped_at=now,
                                            segment_start=now, spent_seconds=0))


def test_a_month_is_copied_with_every_key_prefixed_and_every_ticket_marked_simulated(month, store):
    loaded = load_month(store, month)
    assert loaded.tickets == len(month.tickets) > 50 and loaded.replaced == 0
    assert count(store, tickets) == count(store, tickets, tickets.c.simulated.is_(True)) == loaded.tickets
    assert count(store, tickets, tickets.c.key.like("SIM-7-%")) == loaded.tickets
    assert count(store, timers) == len(month.timers) > 0
    assert count(store, escalation_log) == len(month.log) + len(month.ratings)
    assert count(store, escalation_log, escalation_log.c.key.not_like("SIM-7-%")) == 0


def test_the_log_comes_in_as_the_ticket_and_review_pages_read_it(month):
    traces = [fired for row in month.log for fired in row["decision"]["trace"]]
    assert traces and all({"rule", "kind", "category", "values", "decided"} <= set(fired) for fired in traces)
    latest = {row["key"]: row["decision"] for row in month.log}
    assert [(d["severity"], d["level"], d["owner"]) for key, d in sorted(latest.items())] == [
        (t["severity"], t["level"], t["owner"]) for t in sorted(month.tickets, key=lambda t: t["key"])
        if t["key"] in latest]


def test_ratings_come_in_as_decided_deliveries_that_the_figures_read_again(month, store):
    assert month.ratings, "the generator rates some Zendesk tickets"
    load_month(store, month)
    assert count(store, deliveries, deliveries.c.status == "decided") == len(month.ratings)
    with store.reading() as tx:
        facts = read_facts(tx.conn, WHOLE, simulated=True, rating=good_rating)
    assert len(facts.ratings) == len(month.ratings)
    result = figures(facts, WHOLE, START + timedelta(days=40))
    assert result["csat"]["rated"] + result["csat"]["excluded"]["count"] >= 1


def real_review(store, key="SIM-1") -> int:
    """The real ticket's review, with an overdue action item; its id."""
    now = START + timedelta(days=1)
    with store.engine.begin() as conn:
        review_id = conn.execute(reviews.insert().values(
            platform="jira", key=key, status="in_review", trigger="level L3", matrix_version="v1",
            sections={"why_it_happened": "A real cause."}, created_at=now, updated_at=now)).inserted_primary_key[0]
        conn.execute(review_actions.insert().values(review_id=review_id, number=1, title="Real work", owner="cto",
                                                    due_at=now, status=OPEN, link="", created_at=now))
    return review_id


def action_count(month) -> int:
    return sum(len(row["actions"]) for row in month.reviews)


def test_a_second_run_of_the_same_seed_replaces_the_first_and_leaves_real_tickets_alone(month, store):
    real_ticket(store)
    real = real_review(store)
    first = load_month(store, month)
    again = load_month(store, month)
    assert again.replaced == first.tickets and again.simulated_total == first.tickets
    assert count(store, tickets) == first.tickets + 1
    assert count(store, timers, timers.c.key == "SIM-1") == 1
    assert count(store, escalation_log) == len(month.log) + len(month.ratings)
    assert count(store, deliveries) == len(month.ratings)
    assert count(store, reviews) == len(month.reviews) + 1
    assert count(store, review_actions) == action_count(month) + 1
    kept = store.review(real)
    assert (kept.key, kept.status, kept.sections, kept.simulated) == ("SIM-1", "in_review",
                                                                      {"why_it_happened": "A real cause."}, False)
    assert [a.title for a in kept.actions] == ["Real work"]


def test_the_replays_reviews_come_in_as_drafts_left_out_of_the_list_unless_asked(replayed, month, store):
    result, _ = replayed
    real_ticket(store)
    real_review(store)
    assert load_month(store, month).reviews == len(month.reviews)
    made = {r.key: r for r in result.store.reviews(limit=1000)}
    assert made and len(month.reviews) == len(made) == count(store, reviews, reviews.c.key.like("SIM-7-%"))
    loaded = store.reviews(limit=1000, simulated=True)
    simulated = [r for r in loaded if r.simulated]
    assert [(r.key, r.simulated) for r in loaded if not r.simulated] == [("SIM-1", False)]
    assert {r.key for r in simulated} == {"SIM-7-" + key for key in made}
    for review in simulated:
        replayed_review = made[review.key.removeprefix("SIM-7-")]
        assert (review.status, review.sections, review.trigger, review.created_at, review.updated_at) == (
            "draft", {}, replayed_review.trigger, replayed_review.created_at, replayed_review.updated_at)
    assert [r.key for r in store.reviews(limit=1000)] == ["SIM-1"]
    assert [r.key for r in store.reviews("draft", limit=1000)] == []
    assert result.store.reviews(limit=1000, simulated=True) == result.store.reviews(limit=1000)   # memory: accepted
    ticket = store.load([("jira", simulated[0].key)])[("jira", simulated[0].key)]
    assert ticket.reviewed      # the processor would not open a second review for it


def test_a_few_simulated_reviews_have_seeded_action_items_that_never_remind(replayed, month, store):
    result, _ = replayed
    load_month(store, month)
    items = [(r, a) for r in store.reviews(limit=1000, simulated=True) for a in r.actions]
    with_items = {r.id for r, _ in items}
    assert 3 <= len(with_items) <= 25 and len(items) == action_count(month)
    assert {a.owner for _, a in items} <= set(result.matrix.matrix.parties)
    assert all(r.created_at < a.created_at < a.due_at for r, a in items)
    assert any(a.status == OPEN and a.due_at < result.ended for _, a in items)      # some overdue at the month's end
    assert any(a.due_at > result.ended for _, a in items)
    assert all(a.number in (1, 2) for _, a in items)
    far = result.ended + timedelta(days=365)
    assert store.reminders_due(far, far, 1000) == []
    assert month_of(result, 7).reviews == month.reviews                             # seeded: the same every run
    assert month_of(result, 8).reviews != [{**row, "key": row["key"].replace("SIM-7-", "SIM-8-")}
                                           for row in month.reviews]


def test_simulated_tickets_count_only_when_asked(month, store):
    real_ticket(store)
    load_month(store, month)
    with store.reading() as tx:
        real = read_facts(tx.conn, WHOLE, simulated=False, rating=good_rating)
        both = read_facts(tx.conn, WHOLE, simulated=True, rating=good_rating)
    assert [t.key for t in real.tickets] == ["SIM-1"]
    assert len(both.tickets) == len(month.tickets) + 1
    assert {key for _, key, _ in real.timers} == {"SIM-1"}


def test_the_figures_of_a_loaded_month_match_the_in_memory_replay(month, store):
    load_month(store, month)
    with store.reading() as tx:
        facts = read_facts(tx.conn, WHOLE, simulated=True, rating=good_rating)
    result = figures(facts, WHOLE, START + timedelta(days=40))
    by_severity = {}
    for row in month.tickets:
        by_severity[row["severity"] or "none"] = by_severity.get(row["severity"] or "none", 0) + 1
    assert result["volume"]["by_severity"] == dict(sorted(by_severity.items()))
    acked = [t for t in month.timers if t["name"] == "ack" and t["state"] == "stopped"]
    assert sum(row["count"] for row in result["mtta"]["by_severity"].values()) == len(acked)


def figures_on(store) -> dict:
    with store.reading() as tx:
        facts = read_facts(tx.conn, WHOLE, simulated=True, rating=good_rating)
    return figures(facts, WHOLE, START + timedelta(days=40))


def test_postgresql_takes_the_same_month_and_gives_the_same_figures_as_sqlite(month, store):
    with scratch_postgres("escalator_into_db") as url:
        postgres = SqlStore(url)
        try:
            load_month(postgres, month)
            again = load_month(postgres, month)
            assert again.replaced == again.simulated_total == len(month.tickets)
            on_postgres = figures_on(postgres)
            assert postgres.reviews(limit=1000) == [] and postgres.reminders_due(START + DAY_AFTER_YEAR, START, 9) == []
            assert len(postgres.reviews(limit=1000, simulated=True)) == len(month.reviews)
            assert sum(len(r.actions) for r in postgres.reviews(limit=1000, simulated=True)) == action_count(month)
        finally:
            postgres.dispose()
    load_month(store, month)
    assert on_postgres == figures_on(store)
    assert on_postgres["period"]["tickets"] == len(month.tickets) and on_postgres["csat"]["rated"] > 0


def test_escalator_simulate_into_db_loads_a_recent_month_and_a_rerun_replaces_it(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugin.cli import main
    monkeypatch.setenv("ESCALATOR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("ESCALATOR_DATABASE_URL", raising=False)
    args = ["simulate", "--into-db", "--incidents", "15", "--days", "2", "--seed", "3", "--engine", "python",
            "--rules", str(RULES), "--out", str(tmp_path / "out"), "--no-record"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "simulated tickets (SIM-3-…)" in first.output and "replacing" not in first.output
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert "replacing" in second.output
    store = SqlStore(f"sqlite:///{tmp_path}/data/escalator.db")
    try:
        with store.engine.connect() as conn:
            newest = conn.execute(select(func.max(tickets.c.created_at))).scalar_one()
            loaded = conn.execute(select(func.count()).select_from(tickets)).scalar_one()
    finally:
        store.dispose()
    assert timedelta(0) < datetime.now(UTC) - newest < timedelta(days=4)
    assert second.output.count(f"holds {loaded} simulated tickets") == 1


def test_a_database_that_refuses_the_month_is_one_line_and_exit_1(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from plugin.cli import main
    monkeypatch.setenv("ESCALATOR_DATABASE_URL", f"sqlite:///{tmp_path}/no/such/folder/escalator.db")
    answer = CliRunner().invoke(main, ["simulate", "--into-db", "--incidents", "3", "--days", "1", "--engine",
                                       "python", "--rules", str(RULES), "--out", str(tmp_path / "out"),
                                       "--no-record"])
    assert answer.exit_code == 1
    assert "the month was not loaded: cannot load into sqlite:" in answer.output
    assert "check ESCALATOR_DATABASE_URL" in answer.output and "Traceback" not in answer.output
