"""The real server and worker processes against a fake Jira and Zendesk that fail as real ones do: 429 with
Retry-After, 500, 502, answers after the client's read timeout, reset connections, slow answers, and a stretch
down. Whatever they do, nothing is lost: every write-back lands exactly once as answered, in the order it was
decided, never before a Retry-After it was given and never faster than Jira's per-issue pacing; and a write goes
dead only after the configured attempts, shown in /api/deliveries and on the dashboard, from where an admin
puts it back in the queue.
"""
import json
import re
from collections import Counter, defaultdict
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import insert

from plugin.domain.actions import Action
from plugin.passwords import hash_password
from plugin.platforms import build_clients
from plugin.settings import Settings
from plugin.store.port import OutboxRow
from plugin.store.reviews_sql import outbox_values
from plugin.store.schema import outbox
from plugin.store.users import UserStore

from .cluster import (
    FakePlatform,
    Faults,
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
from .conftest import scratch_postgres
from .openapi_check import check_request, check_response
from .test_e2e_review import fast_rules  # noqa: F401 - a fixture

PACING = 0.4            # seconds between two writes to one Jira issue
TOKEN = "faulty-token"
PASSWORD = "correct horse battery"
RETRIES = {"ESCALATOR_OUTBOX_BASE_DELAY": "0.2", "ESCALATOR_OUTBOX_MAX_DELAY": "1", "ESCALATOR_WRITEBACK_TIMEOUT": "1",
           "ESCALATOR_OUTBOX_MAX_ATTEMPTS": "40", "ESCALATOR_JIRA_ISSUE_WRITE_INTERVAL": str(PACING),
           "ESCALATOR_API_TOKEN": TOKEN}
MIX = {"throttle": 0.1, "server_error": 0.06, "bad_gateway": 0.06, "timeout": 0.05, "hang": 1.5, "reset": 0.06,
       "slow": 0.1}
SETTLE_SECONDS = 150


@pytest.fixture
def database_url(request, tmp_path):
    """An empty database: SQLite in the test's folder, or a scratch PostgreSQL database (`indirect` parameter)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/escalator.db"
        return
    with scratch_postgres("escalator_faulty") as url:
        yield url


@contextmanager
def platforms(jira_faults: Faults | None = None, zendesk_faults: Faults | None = None):
    jira, zendesk = FakePlatform(jira_faults), FakePlatform(zendesk_faults)
    try:
        yield jira, zendesk
    finally:
        jira.close()
        zendesk.close()


@contextmanager
def cluster(tmp_path, url, rules, fakes, *, workers: int, **settings: str):
    """One `serve --no-worker` and `workers` × `escalator worker` with the fast retries above."""
    env = platform_env(url, rules, *fakes, **{**RETRIES, **settings})
    with running_cluster(tmp_path, env, instances=1, workers=workers) as (bases, engine):
        yield bases[0], engine


def deliver_all(base: str, keys: list[str], zendesk_ids: list[str]) -> None:
    waves = jira_deliveries(keys, quiet=[])
    waves[0] += zendesk_deliveries(zendesk_ids)
    for wave in waves:
        for delivery in wave:
            assert post(base, delivery) == "accepted"


def written(engine) -> list[dict]:
    return [o for o in rows(engine, outbox) if o["platform"] in ("jira", "zendesk")]


# -- what the fakes saw -------------------------------------------------------------------------------

def ticket_of(path: str) -> str:
    return re.search(r"/(?:issue|tickets)/([^/.]+)", path).group(1)


def planned_order(rows_: list[dict], fakes: dict[str, FakePlatform]) -> dict[tuple[str, str], list[tuple]]:
    """Per (platform, ticket), the writes the outbox rows stand for, in the order the rows were decided."""
    settings = Settings(jira_base_url=fakes["jira"].url, jira_email="bot@example.com", jira_api_token="tok",
                        zendesk_base_url=fakes["zendesk"].url, zendesk_email="bot@example.com", zendesk_api_token="tok")
    clients, order = build_clients(settings), defaultdict(list)
    for row in sorted(rows_, key=lambda r: r["id"]):
        for request in clients[row["platform"]].requests_for(Action(row["platform"], row["key"], row["kind"],
                                                                    row["data"])):
            if request.method != "GET":
                order[(row["platform"], row["key"])].append(request)
    for client in clients.values():
        client.close()
    return order


def applied_order(fake: FakePlatform) -> dict[str, list[tuple[str, str, str]]]:
    """Per ticket, the writes the fake took, in the order they arrived."""
    order = defaultdict(list)
    for seen in sorted(fake.seen, key=lambda s: s.at):
        if seen.applied:
            order[ticket_of(seen.path)].append((seen.method, seen.path, seen.body))
    return order


IN_FLIGHT = 0.5     # seconds after a 429 in which another lane's request may already have been on its way


def early_after_retry_after(fake: FakePlatform, *, whole_platform: bool) -> list[str]:
    """Requests that arrived before a Retry-After they were given ran out: the same request again or, with
    `whole_platform`, any request to that platform that left after the worker could have heard the 429
    (a worker's lanes send side by side, so one may have been in flight as another was answered)."""
    early = []
    for throttled in (s for s in fake.seen if s.answer == 429):
        until = throttled.done + throttled.retry_after
        for later in fake.seen:
            same = (later.method, later.path, later.body) == (throttled.method, throttled.path, throttled.body)
            if throttled.done < later.at < until and (same or (whole_platform and later.at > throttled.done
                                                                 + IN_FLIGHT)):
                early.append(f"{later.method} {later.path} {until - later.at:.3f} s early")
    return early


def paced_too_fast(fake: FakePlatform, spacing: float) -> list[str]:
    """Writes to one issue that the fake took closer together than `spacing` (with half of it as slack for
    a loaded machine: a write sent at once after another would be milliseconds apart)."""
    by_issue = defaultdict(list)
    for seen in fake.seen:
        if seen.applied:
            by_issue[ticket_of(seen.path)].append(seen.at)
    return [f"{issue}: {b - a:.3f} s apart" for issue, times in by_issue.items()
            for a, b in zip(sorted(times), sorted(times)[1:], strict=False) if b - a < spacing / 2]


def assert_nothing_lost(engine, jira: FakePlatform, zendesk: FakePlatform) -> list[dict]:
    """Every write-back sent, and taken by its platform exactly once, in the order it was decided."""
    out = written(engine)
    assert out and {o["status"] for o in out} == {"sent"}, Counter((o["status"], o["attempts"]) for o in out)
    assert jira.applied() + zendesk.applied() == expected_writes(out, {"jira": jira.url, "zendesk": zendesk.url})
    planned = planned_order(out, {"jira": jira, "zendesk": zendesk})
    for name, fake in (("jira", jira), ("zendesk", zendesk)):
        took = applied_order(fake)
        for (platform, _), sent in planned.items():
            if platform == name:
                assert took[ticket_of(sent[0].url)] == [
                    (r.method, r.url.removeprefix(fake.url), json.dumps(r.json, sort_keys=True)) for r in sent]
    return out


# -- the tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("database_url, workers", [("sqlite", 1), ("postgresql", 2)], indirect=["database_url"])
def test_a_seeded_mix_of_failures_loses_nothing_and_honours_every_wait(tmp_path, database_url, fast_rules,  # noqa: F811
                                                                       workers):
    jira_faults, zendesk_faults = Faults(seed=12, **MIX), Faults(seed=34, **MIX)
    with platforms(jira_faults, zendesk_faults) as (jira, zendesk), \
            cluster(tmp_path, database_url, fast_rules, (jira, zendesk), workers=workers) as (base, engine):
        deliver_all(base, [f"FP-{n}" for n in range(1, 5)], ["9201", "9202"])
        wait_until(lambda: settled(engine), SETTLE_SECONDS, "settled")
        out = assert_nothing_lost(engine, jira, zendesk)

    answers = Counter(seen.answer for fake in (jira, zendesk) for seen in fake.seen)
    assert {429, "timeout", "reset"} <= set(answers) and {500, 502} & set(answers), answers   # the faults did happen
    assert max(o["attempts"] for o in out) > 1
    # One worker holds every write to a platform that said "wait"; with several, each worker learns it from
    # the rows held back in the database, so only the same request is checked against it.
    for fake in (jira, zendesk):
        assert early_after_retry_after(fake, whole_platform=workers == 1) == []
    assert paced_too_fast(jira, PACING) == []


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_platform_down_for_a_stretch_loses_nothing(tmp_path, database_url, fast_rules):  # noqa: F811
    with platforms() as (jira, zendesk), \
            cluster(tmp_path, database_url, fast_rules, (jira, zendesk), workers=1) as (base, engine):
        jira.outage(6)                      # connections refused
        zendesk.outage(6, refuse=False)     # every request answered 503
        deliver_all(base, ["DOWN-1", "DOWN-2"], ["9301"])
        wait_until(lambda: settled(engine), SETTLE_SECONDS, "settled")
        out = assert_nothing_lost(engine, jira, zendesk)
    assert {o["platform"] for o in out if o["attempts"] > 1} == {"jira", "zendesk"}     # both were retried
    assert 503 in {s.answer for s in zendesk.seen}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dead_letters_appear_only_after_the_configured_attempts_and_an_admin_requeues_one(
        tmp_path, database_url, fast_rules):  # noqa: F811
    attempts = 3
    with platforms() as (jira, zendesk), \
            cluster(tmp_path, database_url, fast_rules, (jira, zendesk), workers=1,
                    ESCALATOR_OUTBOX_MAX_ATTEMPTS=str(attempts)) as (base, engine):
        jira.outage(3600, refuse=False)
        deliver_all(base, ["DEAD-1"], [])
        wait_until(lambda: settled(engine), SETTLE_SECONDS, "settled")
        dead = written(engine)
        assert dead and {(o["status"], o["attempts"]) for o in dead} == {("dead", attempts)}
        assert len(jira.seen) == attempts * len(dead)    # each attempt's first request failed, and no more

        listed = requests.get(f"{base}/api/deliveries", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        assert [d["id"] for d in listed.json()["dead_letters"]] == [o["id"] for o in dead]
        assert all("503" in d["last_error"] for d in listed.json()["dead_letters"])

        jira.unavailable_until = 0          # back up: an admin retries the first dead letter from the page
        admin = logged_in_admin(base, engine)
        page = admin.get(f"{base}/deliveries", timeout=10).text
        assert all(f'data-outbox="{o["id"]}"' in page for o in dead) and "HTTP 503" in page
        retried = dead[0]
        answer = admin.post(f"{base}/deliveries/dead/{retried['id']}/retry", data={"csrf_token": csrf(page)},
                            timeout=10, allow_redirects=False)
        assert answer.status_code == 302
        wait_until(lambda: written(engine)[0]["status"] == "sent", 30, "the retried row sent")
        assert written(engine)[0]["attempts"] == 1
        assert sum(jira.applied().values()) == 1


def logged_in_admin(base: str, engine) -> requests.Session:
    UserStore(engine).add("admin", "admin", hash_password(PASSWORD), datetime.now(UTC))
    session = requests.Session()
    form = session.get(f"{base}/login", timeout=10).text
    answer = session.post(f"{base}/login", data={"name": "admin", "password": PASSWORD, "csrf_token": csrf(form)},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return session


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_dead_letter_is_queued_again_through_the_api_as_described(make_app):
    app = make_app(api_token=TOKEN)
    store = app.extensions["escalator"].store
    now = app.extensions["escalator"].clock.now()
    row = outbox_values(OutboxRow("jira", "SUP-9", "assign", {"assignee": "user:5b10"}, [], "pending"), now)
    with store.engine.begin() as conn:
        dead = conn.execute(insert(outbox).values({**row, "status": "dead", "attempts": 20}).returning(outbox.c.id)
                            ).scalar_one()
    client, bearer = app.test_client(), {"Authorization": f"Bearer {TOKEN}"}
    for outbox_id, status in [(dead, 200), (dead, 409), (dead + 1, 404)]:
        path = f"/api/outbox/{outbox_id}/retry"
        answer = client.post(path, headers=bearer)
        assert answer.status_code == status, answer.json
        check_response(answer, "POST", path)
    check_request("POST", f"/api/outbox/{dead}/retry", headers=bearer)
    assert [(o["status"], o["attempts"]) for o in written_by(store)] == [("pending", 0)]


def written_by(store) -> list[dict]:
    with store.reading() as tx:
        return tx.outbox_rows()
