"""`escalator simulate --into-db`: a replayed month copied into a real database, marked simulated,
under keys that never meet a real ticket, replaced (not doubled) by a second run of the same seed."""
from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from sqlalchemy import func, select

from plugin.insights import Period, figures, good_rating
from plugin.store.insights_sql import read_facts
from plugin.store.schema import deliveries, escalation_log, tickets, timers
from plugin.store.simulated_sql import load_month
from plugin.store.sql import SqlStore
from simulator.generator import generate
from simulator.into_db import month_of, rating_deliveries
from simulator.replay import replay

from .conftest import RULES, postgres_or_skip

START = datetime(2026, 2, 2, tzinfo=UTC)
WHOLE = Period(START - timedelta(days=1), START + timedelta(days=30))


@pytest.fixture(scope="module")
def month():
    generated = generate(seed=7, incidents=60, days=5, start=START)
    rated = rating_deliveries(generated)
    result = replay(generated, RULES, engine="python", lean=True, consume=True)
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


def test_ratings_come_in_as_decided_deliveries_that_the_figures_read_again(month, store):
    assert month.ratings, "the generator rates some Zendesk tickets"
    load_month(store, month)
    assert count(store, deliveries, deliveries.c.status == "decided") == len(month.ratings)
    with store.reading() as tx:
        facts = read_facts(tx.conn, WHOLE, simulated=True, rating=good_rating)
    assert len(facts.ratings) == len(month.ratings)
    result = figures(facts, WHOLE, START + timedelta(days=40))
    assert result["csat"]["rated"] + result["csat"]["excluded"]["count"] >= 1


def test_a_second_run_of_the_same_seed_replaces_the_first_and_leaves_real_tickets_alone(month, store):
    real_ticket(store)
    first = load_month(store, month)
    again = load_month(store, month)
    assert again.replaced == first.tickets and again.simulated_total == first.tickets
    assert count(store, tickets) == first.tickets + 1
    assert count(store, timers, timers.c.key == "SIM-1") == 1
    assert count(store, escalation_log) == len(month.log) + len(month.ratings)
    assert count(store, deliveries) == len(month.ratings)


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
    url = postgres_or_skip()
    name = f"escalator_into_db_{os.getpid()}"
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    try:
        postgres = SqlStore(url.rsplit("/", 1)[0] + "/" + name)
        try:
            load_month(postgres, month)
            again = load_month(postgres, month)
            assert again.replaced == again.simulated_total == len(month.tickets)
            on_postgres = figures_on(postgres)
        finally:
            postgres.dispose()
        load_month(store, month)
        assert on_postgres == figures_on(store)
        assert on_postgres["period"]["tickets"] == len(month.tickets) and on_postgres["csat"]["rated"] > 0
    finally:
        with admin.connect() as conn:
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
