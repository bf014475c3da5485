"""The audit's SQL reads on SQLite and PostgreSQL agree with the same figures counted in Python from
the stored log, and leave simulated tickets out unless asked."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from plugin.audit import PERIOD
from plugin.engine import Evaluator
from plugin.matrix import load_matrix
from plugin.store.audit_sql import deliveries_for_replay, read_facts
from plugin.store.schema import deliveries, escalation_log, tickets, timers
from plugin.store.sql import SqlStore
from simulator.generator import generate
from simulator.replay import Pipeline

from .conftest import RULES, fresh_postgres_store

START = datetime(2026, 1, 5, tzinfo=UTC)


def replay_into(store: SqlStore):
    """Generated incidents through the production intake and processor, into `store`; the end time."""
    # A day of incidents, without their follow-ups of later days: each cadence tick is a decision.
    generated = [d for d in generate(seed=7, incidents=8, days=1, start=START) if d.at < START + timedelta(days=1)]
    pipeline = Pipeline(Evaluator(load_matrix(RULES), "python"), generated[0].at)
    pipeline.store = pipeline.processor.store = store
    for delivery in generated:
        pipeline.settle(delivery.at, before=True)
        pipeline.deliver(delivery)
        pipeline.drain()
    pipeline.settle(generated[-1].at + timedelta(hours=1))
    return pipeline.clock.current


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stored(request, tmp_path_factory):
    if request.param == "sqlite":
        store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('audit')}/audit.db")
    else:
        store = fresh_postgres_store()
    now = replay_into(store)
    with store.engine.begin() as conn:      # one ticket came from a simulation
        simulated = conn.execute(select(tickets.c.platform, tickets.c.key).order_by(tickets.c.key).limit(1)).one()
        conn.execute(update(tickets).where(tickets.c.key == simulated.key).values(simulated=True))
    yield store, now, tuple(simulated)
    store.dispose()


def log_rows(conn, simulated_ticket, include_simulated=False):
    rows = conn.execute(select(escalation_log).order_by(escalation_log.c.id)).mappings().all()
    return [r for r in rows if include_simulated or (r["platform"], r["key"]) != simulated_ticket]


@pytest.mark.parametrize("include_simulated", [False, True])
def test_rule_firings_match_the_traces_counted_in_python(stored, include_simulated):
    store, now, simulated = stored
    with store.reading() as tx:
        facts = read_facts(tx.conn, now, simulated=include_simulated)
        rows = [r for r in log_rows(tx.conn, simulated, include_simulated) if r["at"] >= now - PERIOD]
    fired, on_tickets, day = Counter(), defaultdict(set), Counter()
    for row in rows:
        for entry in row["decision"]["trace"]:
            fired[entry["rule"]] += 1
            on_tickets[entry["rule"]].add((row["platform"], row["key"]))
            day[entry["rule"]] += row["at"] >= now - timedelta(hours=24)
    assert {c.rule: (c.last_30d, c.tickets_30d, c.last_24h) for c in facts.rules} == {
        rule: (n, len(on_tickets[rule]), day[rule]) for rule, n in fired.items()}
    assert facts.log_entries == len(rows) > 0
    assert {c.rule: c.kind for c in facts.rules}["ticket resolved"] == "stop"


def test_timers_and_the_time_a_breached_one_was_met_come_from_the_log(stored):
    store, now, simulated = stored
    with store.reading() as tx:
        facts = read_facts(tx.conn, now)
        stored_timers = [t for t in tx.conn.execute(select(timers)).mappings().all()
                         if (t["platform"], t["key"]) != simulated and not t["recurring"]]
        rows = log_rows(tx.conn, simulated)
    assert len(facts.timers) == len(stored_timers)
    expected = {}
    for t in stored_timers:
        if t["state"] == "breached":
            later = [r["at"] for r in rows if (r["platform"], r["key"]) == (t["platform"], t["key"])
                     and r["at"] >= t["started_at"] and t["name"] in r["decision"]["stop_timers"]]
            expected[(t["key"], t["name"])] = min(later) if later else None
    assert {(f.timer.name, f.met_at) for f in facts.timers if f.timer.state == "breached"} == {
        (name, at) for (_, name), at in expected.items()}
    assert any(expected.values())       # some breached timer was met later


def test_owner_load_counts_open_tickets_by_their_last_event(stored):
    store, now, simulated = stored
    with store.reading() as tx:
        facts = read_facts(tx.conn, now)
        owners = {r["key"]: r["owner"] for r in tx.conn.execute(select(tickets)).mappings()
                  if (r["platform"], r["key"]) != simulated}
        last = {}
        for row in log_rows(tx.conn, simulated):
            last[row["key"]] = row["event_kind"]
    open_by_owner = Counter(owner for key, owner in owners.items() if last.get(key) not in ("resolved", "deleted"))
    assert {o.owner: o.open_now for o in facts.owners if o.open_now} == dict(open_by_owner)
    assert sum(o.tickets_30d for o in facts.owners) == len(owners)


def test_deliveries_for_replay_leave_out_simulated_tickets_and_stop_at_the_limit(stored):
    store, now, simulated = stored
    with store.reading() as tx:
        every = tx.conn.execute(select(deliveries.c.platform, deliveries.c.ticket_key, deliveries.c.status)
                                ).all()
        real, total = deliveries_for_replay(tx.conn, START, now, 5)
        _, with_simulated = deliveries_for_replay(tx.conn, START, now, 5, simulated=True)
    kept = [d for d in every if d.status in ("decided", "ignored")]
    assert with_simulated == len(kept)
    assert total == len([d for d in kept if (d.platform, d.ticket_key) != simulated]) < with_simulated
    assert len(real) == 5 and isinstance(real[0]["body"], bytes)
    assert [r["received_at"] for r in real] == sorted(r["received_at"] for r in real)
