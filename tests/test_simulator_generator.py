"""Generated incidents: the same seed gives the same bytes, and every delivery is one the parsers accept."""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from plugin.domain.fieldmap import apply_field_map
from plugin.domain.ticket import EventKind
from plugin.platforms import parse
from simulator import payloads as p
from simulator.generator import (
    AREAS,
    FOLLOW_UP_SLACK,
    TIER_COUNTS,
    Delivery,
    build_world,
    generate,
    in_business_hours,
    read_jsonl,
    write_jsonl,
)

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2026, 3, 2, tzinfo=UTC)        # a Monday
DAYS = 14
K = EventKind
OUTAGE_WORDS = re.compile(r"(?i)\b(outage|down|unavailable)\b")
DEDUPE_HEADERS = {"jira": "X-Atlassian-Webhook-Identifier", "zendesk": "X-Zendesk-Webhook-Invocation-Id"}


@pytest.fixture(scope="module")
def deliveries() -> list[Delivery]:
    return generate(seed=11, incidents=300, days=DAYS, start=START)


@pytest.fixture(scope="module")
def events(deliveries):
    return [parse(d.platform, json.loads(d.body), d.headers) for d in deliveries]


def _jsonl_bytes(tmp_path: Path, name: str, deliveries: list[Delivery]) -> bytes:
    write_jsonl(deliveries, tmp_path / name)
    return (tmp_path / name).read_bytes()


def _region(event) -> str:
    return next(label[len("region-"):] for label in event.labels if label.startswith(("region-", "region_")))


# -- determinism -------------------------------------------------------------------------------

def test_the_same_seed_gives_byte_identical_jsonl_and_another_seed_does_not(tmp_path):
    first = _jsonl_bytes(tmp_path, "a.jsonl", generate(5, 60, 7, START))
    again = _jsonl_bytes(tmp_path, "b.jsonl", generate(5, 60, 7, START))
    other = _jsonl_bytes(tmp_path, "c.jsonl", generate(6, 60, 7, START))
    assert first == again
    assert first != other


def test_output_does_not_depend_on_the_process_hash_seed(tmp_path):
    script = ("import hashlib, sys; from datetime import datetime, UTC; from simulator.generator import generate; "
              "sys.stdout.write(hashlib.sha256(b''.join(d.body for d in generate(3, 20, 3, "
              "datetime(2026, 3, 2, tzinfo=UTC)))).hexdigest())")
    runs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONHASHSEED": hash_seed}) for hash_seed in ("1", "2")]
    digests = {run.communicate(timeout=60)[0] for run in runs}
    assert digests == {hashlib.sha256(b"".join(d.body for d in generate(3, 20, 3, START))).hexdigest()}


def test_bodies_are_canonical_json(deliveries):
    for delivery in deliveries[:200]:
        assert delivery.body == json.dumps(json.loads(delivery.body), sort_keys=True, separators=(",", ":")).encode()


# -- every delivery is a real platform payload -------------------------------------------------

def test_every_delivery_parses_into_a_ticket_event(deliveries, events):
    assert len(deliveries) > 1000
    assert all(event is not None for event in events)
    assert {event.kind for event in events} == {K.CREATED, K.COMMENTED, K.ASSIGNED, K.STATUS_CHANGED, K.RESOLVED,
                                                K.REOPENED, K.SATISFACTION_RATED}
    assert {delivery.platform for delivery in deliveries} == {"jira", "zendesk"}


def test_each_event_happens_when_its_delivery_arrives(deliveries, events):
    # Trigger bodies carry whole seconds; everything else is exact.
    for delivery, event in zip(deliveries, events, strict=True):
        assert abs(event.occurred_at - delivery.at) < timedelta(seconds=1)


def test_the_shipped_field_map_finds_tier_region_area_and_requested_priority(shipped_matrix, events):
    created = [apply_field_map(e, shipped_matrix.field_sources) for e in events if e.kind is K.CREATED]
    assert {e.customer_region for e in created} == {"EU", "US", "APAC"}
    assert {e.product_area for e in created} <= set(AREAS)
    assert {e.customer_tier for e in created if e.platform == "jira"} == {"enterprise", "business", "pro", ""}
    assert {e.requested_priority for e in created} == {"urgent", ""}
    satisfaction = [apply_field_map(e, shipped_matrix.field_sources) for e in events if e.kind is K.SATISFACTION_RATED]
    assert {e.customer_tier.lower() for e in satisfaction} <= set(TIER_COUNTS)


def test_comments_tell_agents_from_customers_and_some_are_internal(events):
    comments = [e for e in events if e.kind is K.COMMENTED]
    for platform in ("jira", "zendesk"):
        kinds = {(c.comment.by_agent, c.comment.public) for c in comments if c.platform == platform}
        assert kinds == {(True, True), (False, True), (True, False)}
    plans = [c for c in comments if c.comment.body.startswith("Remediation plan:")]
    assert plans and all(c.comment.by_agent for c in plans)


def test_texts_carry_the_words_the_shipped_triggers_look_for(events):
    text = " ".join(f"{e.summary} {e.description}" for e in events if e.kind is K.CREATED)
    for words in ("outage|down|unavailable", "data loss|missing records|data corruption", "safety|hazard",
                  "unauthorized access|security (breach|incident)|account takeover", "double charged|refund",
                  "personal data|GDPR"):
        assert re.search(f"(?i){words}", text), words


# -- the shape of a month ----------------------------------------------------------------------

def test_most_tickets_are_opened_on_weekdays_in_business_hours(events):
    created = [e for e in events if e.kind is K.CREATED]
    in_hours = sum(in_business_hours(e.occurred_at, _region(e)) for e in created)
    assert in_hours / len(created) > 0.6


def test_outages_bring_bursts_of_tickets_from_other_customers(events):
    outages = sorted((e for e in events if e.kind is K.CREATED and OUTAGE_WORDS.search(e.summary)),
                     key=lambda e: e.occurred_at)
    bursts = [group for group in ([o for o in outages if first.occurred_at <= o.occurred_at
                                   <= first.occurred_at + timedelta(minutes=30)] for first in outages)
              if len({e.reporter for e in group}) >= 3]
    assert bursts


def test_some_tickets_are_reopened_and_some_zendesk_tickets_rated(deliveries, events):
    resolved = {e.key for e in events if e.kind is K.RESOLVED}
    reopened = {e.key for e in events if e.kind is K.REOPENED}
    assert reopened and len(reopened) < 0.15 * len(resolved)
    rated = [(d, e) for d, e in zip(deliveries, events, strict=True) if e.kind is K.SATISFACTION_RATED]
    assert rated and {d.platform for d, _ in rated} == {"zendesk"}
    assert {e.satisfaction.rating for _, e in rated} == {"good", "bad"}


def test_some_first_replies_miss_fifteen_minutes_and_most_do_not(events):
    created, first_reply = {}, {}
    for e in events:
        if e.kind is K.CREATED:
            created[e.key] = e
        elif e.kind is K.COMMENTED and e.comment.by_agent and e.comment.public:
            first_reply.setdefault(e.key, e.occurred_at)
    urgent = [first_reply[key] - ticket.occurred_at for key, ticket in created.items()
              if key in first_reply and ticket.priority in ("highest", "urgent")]
    late = sum(wait > timedelta(minutes=15) for wait in urgent)
    assert 0 < late < len(urgent) / 2


def test_deliveries_are_in_time_order_within_the_window(deliveries, events):
    times = [d.at for d in deliveries]
    assert times == sorted(times)
    assert all(t.tzinfo is UTC for t in times)
    assert times[0] >= START and times[-1] <= START + timedelta(days=DAYS) + FOLLOW_UP_SLACK
    created = [e.occurred_at for e in events if e.kind is K.CREATED]
    assert max(created) < START + timedelta(days=DAYS, minutes=30)


def test_each_delivery_has_its_own_id_and_json_headers(deliveries):
    ids = [d.headers[DEDUPE_HEADERS[d.platform]] for d in deliveries]
    assert len(set(ids)) == len(ids)
    assert {d.headers["Content-Type"] for d in deliveries} == {"application/json"}


def test_jsonl_round_trip_keeps_every_delivery(tmp_path, deliveries):
    write_jsonl(deliveries, tmp_path / "run.jsonl")
    first = json.loads((tmp_path / "run.jsonl").read_text().splitlines()[0])
    assert isinstance(first["body"], dict) and set(first) == {"at", "platform", "headers", "body"}
    assert read_jsonl(tmp_path / "run.jsonl") == deliveries


def test_a_single_platform_can_be_generated():
    assert {d.platform for d in generate(2, 30, 3, START, platforms=("zendesk",))} == {"zendesk"}


def test_start_must_be_aware():
    with pytest.raises(ValueError, match="aware"):
        generate(1, 1, 1, datetime(2026, 3, 2))


def test_the_world_has_forty_customers_in_tiers_and_regions_and_staffed_teams():
    world = build_world(11)
    assert Counter(c.tier for c in world.customers) == TIER_COUNTS
    assert {c.region for c in world.customers} == {"EU", "US", "APAC"}
    assert all(c.account_manager for c in world.customers if c.tier in ("enterprise", "business"))
    assert all(len(agents) >= 3 for agents in world.agents.values())


# -- the builders, one delivery per event kind -------------------------------------------------

AT = datetime(2026, 3, 3, 9, 30, tzinfo=UTC)
CUSTOMER = p.jira_user("qm:0001", "Lena Fischer", customer=True)
AGENT = p.jira_user("5b10ac8d82e05b22cc7d4ef5", "Priya Natarajan")


def _issue(status: str = "In Progress") -> dict:
    fields = p.jira_fields(summary="Checkout down", description="Card payments fail with 502.", priority="Highest",
                           status=status, issue_type="Incident", labels=["region-EU"], components=["payments"],
                           reporter=CUSTOMER, assignee=AGENT, created=AT, updated=AT, tier="gold",
                           account_manager=AGENT, requested_priority="urgent")
    return p.jira_issue("10001", "SUP-1", fields)


def _detail(status: str = "open") -> dict:
    return p.zendesk_ticket("5158", subject="Checkout down", description="Card payments fail.", status=status,
                            priority="high", ticket_type="incident", tags=["region_EU", "area_payments"],
                            requester_id="8447388090777", assignee_id="8447388090494", group_id="360001234567",
                            organization_id="8447346622462", actor_id="8447388090494", created=AT, updated=AT)


def _zendesk(event_type: str, event: dict, status: str = "open") -> dict:
    return p.zendesk_event(event_type, _detail(status), event, at=AT, event_id="5f0c3c1e-6a8b-4d0e-9a51-0c2b7d1e4a01")


def _rating() -> dict:
    ticket = p.zendesk_trigger_ticket(
        "5158", title="Checkout down", description="Card payments fail.", status="solved", priority="high",
        ticket_type="incident", tags=["region_EU"], updated=AT, requester={"email": "lena@example.com", "name": "Lena"},
        assignee_email="priya@example.com", organization="Northwind",
        organization_fields={"customer_tier": "Enterprise"}, area="payments",
        latest_comment={"body": "Fixed.", "author": "Priya", "public": "true"})
    return p.zendesk_trigger_body("satisfaction_rated", ticket, {"email": "lena@example.com", "role": "End user"},
                                  ("bad", "Too slow."))


BUILT = {
    "jira created": ("jira", lambda: p.jira_issue_created(_issue("Open"), CUSTOMER, AT), K.CREATED),
    "jira assigned": ("jira", lambda: p.jira_issue_updated(_issue(), AGENT, AT, [p.jira_change(
        "assignee", None, "Priya Natarajan", to_id=AGENT["accountId"])], event_type="issue_assigned"), K.ASSIGNED),
    "jira waiting": ("jira", lambda: p.jira_issue_updated(_issue("Waiting for customer"), AGENT, AT, [p.jira_change(
        "status", "In Progress", "Waiting for customer")]), K.STATUS_CHANGED),
    "jira resolved": ("jira", lambda: p.jira_issue_updated(_issue("Done"), AGENT, AT, [
        p.jira_change("resolution", None, "Done", to_id="10000"), p.jira_change("status", "In Progress", "Done")]),
        K.RESOLVED),
    "jira reopened": ("jira", lambda: p.jira_issue_updated(_issue(), CUSTOMER, AT, [
        p.jira_change("resolution", "Done", None, from_id="10000"), p.jira_change("status", "Done", "In Progress")]),
        K.REOPENED),
    "jira customer comment": ("jira", lambda: p.jira_issue_updated(_issue(), CUSTOMER, AT, [], event_type=
        "issue_commented", comment=p.jira_comment("10019", "10001", CUSTOMER, "Still down.", AT)), K.COMMENTED),
    "jira agent comment": ("jira", lambda: p.jira_comment_created(_issue(), p.jira_comment(
        "10020", "10001", AGENT, "Remediation plan: fail over.", AT), AT), K.COMMENTED),
    "zendesk created": ("zendesk", lambda: _zendesk("ticket.created", {}, "new"), K.CREATED),
    "zendesk comment": ("zendesk", lambda: _zendesk("ticket.comment_added", p.zendesk_comment(
        "1", "8447388090494", "Priya", "Looking into it.", staff=True)), K.COMMENTED),
    "zendesk assigned": ("zendesk", lambda: _zendesk("ticket.agent_assignment_changed", p.zendesk_change(
        None, "8447388090494")), K.ASSIGNED),
    "zendesk pending": ("zendesk", lambda: _zendesk("ticket.status_changed", p.zendesk_change("OPEN", "PENDING"),
                                                    "pending"), K.STATUS_CHANGED),
    "zendesk solved": ("zendesk", lambda: _zendesk("ticket.status_changed", p.zendesk_change("OPEN", "SOLVED"),
                                                   "solved"), K.RESOLVED),
    "zendesk reopened": ("zendesk", lambda: _zendesk("ticket.status_changed", p.zendesk_change("SOLVED", "OPEN")),
                         K.REOPENED),
    "zendesk rating": ("zendesk", _rating, K.SATISFACTION_RATED),
}


@pytest.mark.parametrize("name", BUILT)
def test_each_builder_makes_a_delivery_the_parser_reads_as_intended(name):
    platform, build, kind = BUILT[name]
    event = parse(platform, build(), {})
    assert event.kind is kind
    assert event.occurred_at == AT


def test_builders_fill_the_fields_the_matrix_reads(shipped_matrix):
    jira = apply_field_map(parse("jira", p.jira_issue_created(_issue(), CUSTOMER, AT)), shipped_matrix.field_sources)
    assert (jira.customer_tier, jira.customer_region, jira.product_area, jira.account_manager,
            jira.requested_priority) == ("enterprise", "EU", "payments", "Priya Natarajan", "urgent")
    customer = parse("jira", BUILT["jira customer comment"][1]())
    agent = parse("jira", BUILT["jira agent comment"][1]())
    assert (customer.comment.by_agent, agent.comment.by_agent) == (False, True)


def test_eu_personal_data_incidents_record_their_regulator_notice_and_no_other_ticket_does():

    from plugin.platforms import parse
    from simulator.generator import generate
    flagged, noticed = set(), set()
    for d in generate(seed=5, incidents=400, days=10, start=datetime(2026, 1, 5, tzinfo=UTC)):
        event = parse(d.platform, json.loads(d.body), d.headers)
        if event is None:
            continue
        if "personal-data" in event.labels:
            flagged.add((d.platform, event.key))
        if event.comment and ("Supervisory authority notified" in event.comment.body
                              or "Regulator notice sent" in event.comment.body):
            noticed.add((d.platform, event.key))
    assert noticed and noticed <= flagged
