"""A real ticket's escalation log as a drill scenario: the story replays to the same escalation path,
and no name, address or sentence of the customer's survives the conversion.

Real tickets are made by replaying the shipped scenarios through the production intake and processor,
on the simulator's in-memory store and on a SQLite store wired by `bootstrap`.
"""
from collections import deque
from functools import cache

import pytest
import yaml

from plugin import bootstrap
from plugin.domain.clock import FixedClock
from plugin.intake import ingest
from simulator.from_ticket import FromTicketError, UnknownTicket, scenario_from_ticket, scenario_yaml
from simulator.replay import replay
from simulator.scenarios import DEFAULT_AGENT, EXECUTIVE, Scenario, check, deliveries, load_scenario, run

from .conftest import ROOT, RULES

SCENARIOS = ROOT / "scenarios"


@cache
def replayed(stem: str):
    """The scenario of `scenarios/<stem>*.yaml` and the replay that made its tickets real."""
    scenario = load_scenario(next(SCENARIOS.glob(f"{stem}-*.yaml")))
    return scenario, run(scenario)


def converted(store, platform: str, key: str, tmp_path, seed: int = 7) -> tuple[str, Scenario]:
    """The YAML the conversion writes, and the scenario `load_scenario` reads back from it."""
    text = scenario_yaml(scenario_from_ticket(store, platform, key, seed=seed, rules=RULES))
    path = tmp_path / f"{platform}-{key}.yaml"
    path.write_text(text, encoding="utf-8")
    return text, load_scenario(path)


@pytest.mark.parametrize("stem", ["01", "02", "05", "08", "09"])
def test_a_replayed_ticket_becomes_a_scenario_that_reproduces_its_escalation(stem, tmp_path):
    source, result = replayed(stem)
    _, rebuilt = converted(result.store, source.platform, source.main, tmp_path)
    assert rebuilt.platform == source.platform
    assert check(rebuilt, RULES) == []


def test_timer_entries_are_left_to_the_replay_and_only_logged_ticket_events_become_events(tmp_path):
    source, result = replayed("01")
    _, rebuilt = converted(result.store, "jira", source.main, tmp_path)
    # The exec's note and the status-page note changed nothing, so the log never held them.
    assert [(e["at"], e["do"]) for e in rebuilt.events] == [("+0m", "created"), ("+20m", "customer_reply")]
    assert [(c["at"], c.get("level"), c.get("breached")) for c in rebuilt.expect] == [
        ("+0m", "L1", []), ("+15m", "L2", ["ack"]), ("+30m", "L2", ["ack"]), ("+2h", "L3", ["ack", "plan"])]
    assert all(c["why"] for c in rebuilt.expect)
    assert rebuilt.until.total_seconds() == 3 * 3600      # an hour past the last escalation


@pytest.mark.parametrize("stem", ["01", "02", "08"])
def test_no_name_address_or_sentence_of_the_real_ticket_survives(stem, tmp_path):
    source, result = replayed(stem)
    text, _ = converted(result.store, source.platform, source.main, tmp_path)
    spec = source.tickets[0]
    people = [source.agent, DEFAULT_AGENT, EXECUTIVE, *(e["by"] for e in source.events if "by" in e),
              *(e["to"] for e in source.events if e["do"] == "assigned" and "to" in e)]
    real = [spec.customer["name"], spec.customer["contact"], spec.customer["account_manager"], *people,
            spec.summary, spec.description.strip()[:40]]
    real += [e["text"][:40] for e in source.events if "text" in e]
    assert [name for name in real if name.casefold() in text.casefold()] == []
    assert "@" not in text and "http" not in text


@pytest.mark.parametrize("stem, facts", [
    ("04", {"product_area": "sso", "priority": "Medium", "requested_priority": "urgent", "labels": []}),
    ("05", {"product_area": "reporting", "priority": "High", "labels": ["personal-data"]}),
    ("08", {"product_area": "api", "priority": "Urgent", "labels": []}),
])
def test_the_facts_the_matrix_reads_are_kept(stem, facts, tmp_path):
    source, result = replayed(stem)
    data = scenario_from_ticket(result.store, source.platform, source.main, seed=7, rules=RULES)
    assert {k: data["ticket"][k] for k in facts} == facts
    real = source.tickets[0].customer
    assert (data["customer"]["tier"], data["customer"]["region"]) == (real["tier"], real["region"])
    assert data["customer"]["name"] != real["name"]


def test_the_same_ticket_and_seed_give_the_same_yaml_and_another_seed_other_names():
    source, result = replayed("08")
    first, again, other = (scenario_yaml(scenario_from_ticket(result.store, "zendesk", source.main, seed=seed,
                                                              rules=RULES)) for seed in (3, 3, 4))
    assert first == again
    names = lambda text: yaml.safe_load(text)["customer"]     # noqa: E731
    assert names(first)["name"] != names(other)["name"]
    assert names(first)["contact"] != names(other)["contact"]


@pytest.mark.parametrize("platform, key", [("jira", "SUP-999"), ("zendesk", "99999")])
def test_an_unknown_ticket_is_an_error_that_names_it(platform, key):
    _, result = replayed("01")
    with pytest.raises(UnknownTicket, match=f"no ticket {platform}/{key} in the escalation log"):
        scenario_from_ticket(result.store, platform, key, rules=RULES)


def test_a_platform_drills_cannot_come_from_is_an_error():
    _, result = replayed("01")
    with pytest.raises(FromTicketError, match="simulator/SUP-412: drills come from jira or zendesk tickets"):
        scenario_from_ticket(result.store, "simulator", "SUP-412", rules=RULES)


def test_a_ticket_whose_log_holds_only_its_creation_still_makes_a_valid_scenario(tmp_path):
    source, _ = replayed("01")
    first = deliveries(source)[0]
    result = replay([first], RULES, engine="python", until=first.at)     # decided, before any timer is due
    assert [e["event_kind"] for e in result.store.timeline("jira", source.main)] == ["created"]
    _, rebuilt = converted(result.store, "jira", source.main, tmp_path)
    assert [(e["at"], e["do"]) for e in rebuilt.events] == [("+0m", "created")]
    assert [(c["at"], c["severity"], c["level"]) for c in rebuilt.expect] == [("+0m", "critical", "L1")]
    assert check(rebuilt, RULES) == []


def test_a_ticket_decided_by_the_production_wiring_on_sqlite_converts_too(settings_for, tmp_path):
    source, _ = replayed("08")
    clock = FixedClock(source.start)
    container = bootstrap.build(settings_for(), clock=clock, clients={})
    _play(container, clock, deliveries(source), source.start + source.until)
    _, rebuilt = converted(container.store, "zendesk", source.main, tmp_path)
    assert [e["do"] for e in rebuilt.events].count("resolved") == 2
    assert check(rebuilt, RULES) == []


def _play(container, clock: FixedClock, pending: list, end) -> None:
    """Deliveries through intake and the processor, the clock stepping to each delivery and due timer."""
    pending = deque(pending)
    while True:
        upcoming = [t for t in (pending[0].at if pending else None, container.store.next_timer_at()) if t]
        if not upcoming or min(upcoming) > end:
            return
        clock.current = max(clock.current, min(upcoming))
        while pending and pending[0].at <= clock.current:
            delivery = pending.popleft()
            ingest(container.store, delivery.platform, delivery.body, delivery.headers, delivery.at)
        container.processor.drain()
