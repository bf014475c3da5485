"""SIGKILL at any moment loses nothing and does nothing twice: the real `escalator serve` and
`escalator worker`, real SQLite and PostgreSQL databases, real kills, and a fake Jira and Zendesk that
record every write-back reaching them. After the restarts every delivery answered 202 is decided once,
every write-back has its effect once, and every SLA timer fires once."""
import json
import os
import random
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import create_engine, select

from plugin.store.schema import deliveries, escalation_log, outbox
from plugin.store.sql import SqlStore

from .cluster import QUIET_SECONDS, jira_deliveries, platform_env, rows, settled, wait_until, zendesk_deliveries
from .conftest import RULES, scratch_postgres
from .crash import (
    CommentingPlatform,
    OneServe,
    Processes,
    Sender,
    TwoOfEach,
    comments,
    cut_off,
    dedupe_key,
    delivery_counts,
    fields,
    half_sent,
    is_field_update,
    is_note,
    orphans,
    planned_writes,
    ticket_of,
    watch_for,
)
from .test_drafts import drafted_rules
from .test_multi_instance import _breaches
from .test_webhooks import outage_payload

DELIVERIES = 1000


@pytest.fixture
def processes(tmp_path):
    """`escalator` processes on one SQLite data directory, all killed at the end."""
    running = Processes(tmp_path, {**os.environ, "ESCALATOR_RULES": str(RULES)},
                        data_dir=lambda name: tmp_path / "data")
    yield running
    running.stop()


def deliveries_by_status(tmp_path) -> Counter:
    store = SqlStore(f"sqlite:///{tmp_path}/data/escalator.db")
    with store.reading() as tx:
        found = Counter(status for status, in tx.conn.exec_driver_sql("SELECT status FROM deliveries"))
    store.dispose()
    return found


def test_a_kill_mid_processing_loses_no_delivery_and_decides_none_twice(tmp_path, processes):
    processes.serve("intake", "--no-worker")       # stored, not decided: a backlog to crash into
    with requests.Session() as http:
        accepted = [http.post(processes.bases["intake"] + "/webhooks/jira",
                              data=json.dumps(outage_payload(f"CRASH-{n}")),
                              headers={"Content-Type": "application/json",
                                       "X-Atlassian-Webhook-Identifier": f"crash-{n}"}, timeout=10).json()["delivery"]
                    for n in range(DELIVERIES)]
    processes.running["intake"].terminate()
    processes.running["intake"].wait(timeout=20)
    processes.serve("serve")
    while requests.get(processes.bases["serve"] + "/healthz", timeout=5).json()["backlog"] == DELIVERIES:
        time.sleep(0.01)
    processes.kill("serve")       # gunicorn's master, its worker and the processor, in the middle of the backlog
    at_the_kill = deliveries_by_status(tmp_path)
    assert at_the_kill["received"] > 0, f"nothing was left to decide at the kill: {at_the_kill}"
    processes.serve("serve")
    deadline = time.monotonic() + 90
    while requests.get(processes.bases["serve"] + "/healthz", timeout=5).json()["backlog"] and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    store = SqlStore(f"sqlite:///{tmp_path}/data/escalator.db")
    with store.reading() as tx:
        decisions = Counter(row[0] for row in tx.conn.exec_driver_sql(
            "SELECT delivery_id FROM escalation_log WHERE delivery_id IS NOT NULL"))
    store.dispose()
    assert deliveries_by_status(tmp_path) == {"decided": DELIVERIES}
    assert sorted(decisions) == sorted(accepted) and set(decisions.values()) == {1}


# -- SIGKILL anywhere, on SQLite and on PostgreSQL ---------------------------------------------------

SEED = 20261207     # the moments of the kills are random, and this replays them
CRITICAL = "critical: {ack: 15m, plan: 2h, rca: 24h"
FAST = "critical: {ack: 3s, plan: 6s, rca: 24h"      # as test_e2e_review's fast_rules, for a fixture run once


@dataclass
class CrashRun:
    """What a run of kills and restarts left behind, once everything settled."""
    sent: list                          # every delivery, each answered 202 at least once
    answered: dict[str, list[str]]      # dedupe key -> the status of each 202 it got
    found: dict[str, object]            # what each kill found where it landed
    orphans: dict[str, set[int]]        # outbox rows each kill left in `sending`
    quiet: list[str]                    # tickets left to their SLA timers
    engine: object
    fakes: tuple


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def crashed(request, tmp_path_factory):
    """One `serve` with its worker on SQLite, or two instances and two workers on PostgreSQL, writing back
    to a fake Jira and Zendesk, killed five times and restarted; run once per database for the tests below."""
    tmp_path = tmp_path_factory.mktemp(f"crash-{request.param}")
    rules = drafted_rules(tmp_path)     # drafts too: each held acknowledgement leaves a note of its own
    matrix = rules / "matrix.yaml"
    assert CRITICAL in matrix.read_text()
    matrix.write_text(matrix.read_text().replace(CRITICAL, FAST))
    jira, zendesk = CommentingPlatform(), CommentingPlatform()
    sqlite = request.param == "sqlite"
    database = nullcontext(f"sqlite:///{tmp_path}/data/escalator.db") if sqlite else scratch_postgres("escalator_crash")
    with database as url:
        processes = Processes(tmp_path, platform_env(url, rules, jira, zendesk),
                              data_dir=lambda name: tmp_path / ("data" if sqlite else name))
        cluster = OneServe(processes) if sqlite else TwoOfEach(processes)
        engine = create_engine(url)
        try:
            cluster.start()
            run = crash_and_settle(cluster, engine, (jira, zendesk))
            processes.stop()        # what they did is in the database and the fakes
            yield run
        finally:        # also when starting failed: no process outlives its test
            processes.stop()
            engine.dispose()
            jira.close()
            zendesk.close()


def crash_and_settle(cluster, engine, fakes) -> CrashRun:
    """Five kills, each with a stream of its own, then everything left to settle."""
    keys = [f"CR-{n}" for n in range(1, 13)]
    quiet = keys[:5]        # only created: left to their SLA timers
    created, updated, commented = jira_deliveries(keys, quiet=quiet)
    busy = [d for d in created if ticket_of(d) not in quiet] + zendesk_deliveries(["9301", "9302", "9303"])
    creation = {ticket_of(d): d for d in created}
    sender = Sender(cluster.bases, gap=0.3)
    crash = Crasher(cluster, engine, fakes, sender, random.Random(SEED))
    try:
        crash.during_intake(busy)
        crash.during_a_batch(updated + commented)
        crash.during_a_write("note", is_note, [creation["CR-4"]])
        crash.during_a_write("field update", is_field_update, [creation["CR-5"]])
        crash.while_timers_fire([creation[key] for key in quiet[:3]], quiet[:3])
        sender.wait()
    finally:
        sender.close()
    # What the kills left `sending` is sent again at once, not after the sweep's five minutes: on SQLite
    # the restarted worker is the only sender; on PostgreSQL a dead sender's lock is free.
    orphans = set().union(*crash.orphans.values())
    assert orphans
    wait_until(lambda: not _sending(engine, orphans), 30, "free of `sending`")
    wait_until(lambda: settled(engine) and _breaches(engine, quiet) >= 2 * len(quiet), 60, "settled")
    time.sleep(QUIET_SECONDS)
    assert settled(engine)
    return CrashRun(busy + updated + commented + [creation[key] for key in quiet], sender.answered, crash.found,
                    crash.orphans, quiet, engine, fakes)


def _sending(engine, ids: set[int]) -> list[int]:
    """Which of these outbox rows are still marked `sending`."""
    with engine.connect() as conn:
        return list(conn.execute(select(outbox.c.id).where(outbox.c.id.in_(ids), outbox.c.status == "sending"))
                    .scalars())


class Crasher:
    """SIGKILLs, each waiting for the moment it is meant to land in, and what each one found there. Each
    starts a stream of deliveries of its own, so that what it waits for is bound to happen."""

    def __init__(self, cluster, engine, fakes, sender: Sender, rng: random.Random):
        self.cluster, self.engine, self.fakes, self.sender, self.rng = cluster, engine, fakes, sender, rng
        self.found: dict[str, object] = {}
        self.orphans: dict[str, set[int]] = {}

    def during_intake(self, stream: list) -> None:
        """While an instance is reading a delivery (whose sender posts it again, having had no answer)."""
        self.sender.start(stream)
        time.sleep(self.rng.uniform(0.2, 0.8))
        base = self.rng.choice(self.cluster.bases())
        reading = half_sent(base, stream[-1])
        time.sleep(0.2)
        self.cluster.kill_intake(base)
        self.found["intake"] = cut_off(reading)

    def during_a_batch(self, stream: list) -> None:
        """While the processor works through a stream: some of it decided since it began, more waiting."""
        self.cluster.wait_for_workers()
        before = delivery_counts(self.engine)["decided"]
        self.sender.start(stream)
        counts = watch_for(lambda: (lambda c: c["decided"] > before and c["received"] and c)(
            delivery_counts(self.engine)), 30, "deliveries waiting while others were decided")
        self.found["batch"] = counts["received"]
        self._orphaned("batch", self.cluster.kill_workers())

    def during_a_write(self, what: str, matches, stream: list) -> None:
        """While a write that `matches` is in flight: it reached the platform, its answer did not come back."""
        for fake in self.fakes:
            fake.hold_next(matches)
        self.sender.start(stream)
        watch_for(lambda: any(fake.holding.is_set() for fake in self.fakes), 30, f"a {what} in flight")
        killed_at = self.cluster.kill_workers()
        for fake in self.fakes:
            fake.release()
        self._orphaned(what, killed_at)

    def while_timers_fire(self, stream: list, quiet: list[str]) -> None:
        """After the first SLA breach of the quiet tickets in `stream`, before their last."""
        self.sender.start(stream)
        self.found["timers"] = watch_for(lambda: _breaches(self.engine, quiet), 60, "a breach")
        self.found["timers due"] = 2 * len(quiet)
        self._orphaned("timers", self.cluster.kill_everything())
        self.cluster.restart()

    def _orphaned(self, what: str, killed_at) -> None:
        # A row may be left `sending` by two kills: a wave claims several tickets' rows, so the write one
        # kill aims at may already have been in flight at an earlier one, and been sent again since.
        self.orphans[what] = orphans(self.engine, killed_at)


def test_each_sigkill_landed_where_it_was_meant_to(crashed):
    found = crashed.found
    assert found["intake"], "the instance answered the half-sent delivery, or was still reading it"
    assert found["batch"], found                                   # deliveries waiting at the kill
    assert crashed.orphans["note"] and crashed.orphans["field update"], crashed.orphans    # a write in flight
    assert 0 < found["timers"] < found["timers due"], found        # some breaches fired, others still due


def test_after_sigkills_every_delivery_answered_202_is_decided_exactly_once(crashed):
    assert {dedupe_key(d) for d in crashed.sent} == set(crashed.answered)
    assert all(statuses.count("accepted") <= 1 and set(statuses) <= {"accepted", "duplicate"}
               for statuses in crashed.answered.values()), crashed.answered
    stored = rows(crashed.engine, deliveries)
    assert len(stored) == len(crashed.sent) and {d["status"] for d in stored} == {"decided"}
    decided = Counter(e["delivery_id"] for e in rows(crashed.engine, escalation_log) if e["delivery_id"] is not None)
    assert decided == {d["id"]: 1 for d in stored}


def test_after_sigkills_every_sla_timer_fires_exactly_once(crashed):
    log = rows(crashed.engine, escalation_log)
    fired = Counter((e["platform"], e["key"], e["event_kind"], e["at"]) for e in log if e["delivery_id"] is None)
    assert fired and max(fired.values()) == 1
    assert _breaches(crashed.engine, crashed.quiet) == 2 * len(crashed.quiet)      # ack and plan, each ticket


def test_after_sigkills_every_write_back_reaches_the_platform_with_its_effect_once(crashed):
    written = {o["id"]: o for o in rows(crashed.engine, outbox) if o["platform"] in ("jira", "zendesk")}
    unsent = {n for n, row in written.items() if row["status"] != "sent"}
    assert {(written[n]["kind"], written[n]["status"]) for n in unsent} <= {("note", "skipped")}
    # The note held at a kill was found on the ticket when it was retried; only a note killed in flight was,
    # so each one skipped was claimed again. (Which kill left it is read just after the kill, racing the
    # restarted worker on SQLite, which frees what it finds `sending` at once: so not asserted per kill.)
    assert unsent & crashed.orphans["note"] and all(written[n]["attempts"] > 1 for n in unsent), unsent
    jira, zendesk = crashed.fakes
    planned = planned_writes(list(written.values()), {"jira": jira.url, "zendesk": zendesk.url})
    wanted = Counter(write for _, write in planned)
    done = jira.write_log() + zendesk.write_log()
    assert not wanted - Counter(done)                                   # none lost
    assert comments(done) == comments(wanted.elements())               # each comment once: its marker was found
    assert fields(done) == fields(write for _, write in planned)      # each field as last decided
    resent = {write for row, write in planned if written[row]["attempts"] > 1}
    assert set(Counter(done) - wanted) <= resent                        # only a write killed in flight went twice
