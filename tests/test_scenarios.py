"""Drill scenarios: each file validates, and every checkpoint's escalation path holds under the
shipped matrix when the story is replayed on the virtual clock."""
import json
from pathlib import Path

import jsonschema
import pytest

from plugin.matrix import load_matrix
from simulator.scenarios import (
    SCHEMA_FILE,
    ScenarioError,
    check,
    check_checkpoint,
    deliveries,
    load_scenario,
    scenario_files,
)

from .conftest import ROOT, RULES

SCENARIOS = scenario_files(ROOT / "scenarios")

# Checkpoints that fail because of a known bug in the service, not in the scenario, keyed by file,
# time and the expectation only that checkpoint checks (its siblings must still pass). Empty: the
# bugs the scenarios found (trimmed Jira comment snapshots, reopened tickets without clocks) are fixed.
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def checkpoints():
    """One test per checkpoint, so a known bug fails only its own checkpoint."""
    for path in SCENARIOS:
        try:
            expect = load_scenario(path).expect
        except ScenarioError:
            continue    # test_each_scenario_validates_and_builds_real_payloads shows why
        for index, checkpoint in enumerate(expect):
            bug = _known_bug(path.name, checkpoint)
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            yield pytest.param(path, index, id=f"{path.stem}@{checkpoint['at']}#{index}", marks=marks)


def _known_bug(name, checkpoint):
    return next((why for (file, at, field), why in KNOWN_BUGS.items()
                 if (file, at) == (name, checkpoint["at"]) and field in checkpoint), None)


def test_at_least_eight_scenarios_ship():
    assert len(SCENARIOS) >= 8


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_each_scenario_validates_and_builds_real_payloads(path):
    scenario = load_scenario(path)
    made = deliveries(scenario)
    assert made and all(d.at >= scenario.start for d in made)
    assert {d.platform for d in made} == {scenario.platform}


@pytest.mark.parametrize(("path", "index"), list(checkpoints()))
def test_each_checkpoint_of_each_scenario_holds(path, index):
    scenario = load_scenario(path)
    assert check_checkpoint(scenario, scenario.expect[index], RULES, "python") == []


def test_every_trigger_exception_and_stop_rule_is_exercised_by_some_scenario():
    matrix = load_matrix(RULES)
    exercised = {rule for path in SCENARIOS for checkpoint in load_scenario(path).expect
                 for rule in checkpoint.get("matched_include", ())}
    assert [r.name for r in matrix.rules if r.name not in exercised] == []


def test_check_reports_what_differs_in_plain_words(tmp_path):
    path = _scenario_with(tmp_path, expect='  - {at: "+1m", level: L2, labels_include: [outage]}')
    assert check(load_scenario(path), RULES) == ["at +1m SUP-1 level: expected L2, got L1",
                                                 "at +1m SUP-1 labels: expected to include outage, got (none)"]


def test_a_checkpoint_before_the_ticket_exists_says_so(tmp_path):
    path = _scenario_with(tmp_path, events='  - {at: "+5m", do: created}',
                          expect='  - {at: "+1m", level: L1}')
    assert check(load_scenario(path), RULES) == ["at +1m SUP-1 does not exist yet: no delivery about it was "
                                                 "accepted by then"]


# -- bad scenarios -----------------------------------------------------------------------------

MINIMAL = """\
name: Minimal
description: One ticket, one event.
seed: 1
start: "2026-03-02T15:00:00Z"
customer: {name: Acme, tier: pro, region: US}
ticket: {key: SUP-1, summary: Question about exports, product_area: reporting}
events:
EVENTS
until: "+1h"
expect:
EXPECT
"""


def _scenario_with(tmp_path, events='  - {at: "+0m", do: created}', expect='  - {at: "+1m", level: L1}') -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(MINIMAL.replace("EVENTS", events).replace("EXPECT", expect))
    return path


def _problems(path) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    return caught.value.problems


def test_a_minimal_scenario_loads(tmp_path):
    scenario = load_scenario(_scenario_with(tmp_path))
    assert (scenario.main, scenario.platform, len(scenario.events)) == ("SUP-1", "jira", 1)


def test_an_unknown_action_names_the_file_line_path_and_the_choices(tmp_path):
    path = _scenario_with(tmp_path, events='  - {at: "+0m", do: created}\n  - {at: "+5m", do: escalate}')
    [problem] = _problems(path)
    assert problem.startswith(f"{path}:9: events[1].do: 'escalate' is not allowed here; choose one of: created,")


def test_a_misspelt_action_gets_a_suggestion(tmp_path):
    path = _scenario_with(tmp_path, events='  - {at: "+0m", do: create}')
    assert "did you mean 'created'?" in _problems(path)[0]


def test_an_offset_with_a_space_or_a_word_says_how_to_write_it(tmp_path):
    path = _scenario_with(tmp_path, events='  - {at: "15 mins", do: created}')
    assert _problems(path) == [f"{path}:8: events[0].at: '15 mins' is not an offset; write + and a duration with "
                               "no space, e.g. +30s, +15m, +2h, +1d or +2d16h"]


def test_a_start_without_a_zone_is_refused(tmp_path):
    path = _scenario_with(tmp_path)
    path.write_text(path.read_text().replace('"2026-03-02T15:00:00Z"', "2026-03-02T15:00:00"))
    [problem] = _problems(path)
    assert "start: '2026-03-02T15:00:00' is not valid here; expected an ISO date and time with its zone" in problem


def test_an_unknown_checkpoint_key_gets_a_suggestion(tmp_path):
    path = _scenario_with(tmp_path, expect='  - {at: "+1m", levle: L1}')
    assert _problems(path) == [f"{path}:11: expect[0].levle: unknown key 'levle'; did you mean 'level'?"]


def test_a_status_the_story_cannot_set_lists_the_statuses(tmp_path):
    path = _scenario_with(tmp_path, events='  - {at: "+0m", do: created}\n  - {at: "+1m", do: status, to: Closed}')
    assert "events[1].to: 'Closed' is not allowed here; choose one of: Open, In Progress" in _problems(path)[0]


def test_events_that_cannot_happen_are_refused(tmp_path):
    events = "\n".join(['  - {at: "+0m", do: agent_reply}', '  - {at: "+1m", do: created}',
                        '  - {at: "+2m", do: reopened}', '  - {at: "+3m", do: rating, rating: bad}'])
    problems = _problems(_scenario_with(tmp_path, events=events))
    assert [p.split(": ", 1)[1] for p in problems] == [
        "events[0].do: SUP-1 does not exist yet; it needs a `created` event first",
        "events[2].do: SUP-1 is not resolved, so it cannot be reopened",
        "events[3].do: ratings arrive from Zendesk only; set `platform: zendesk`"]


def test_events_out_of_order_and_checkpoints_past_the_end_are_refused(tmp_path):
    path = _scenario_with(tmp_path, events='  - {at: "+5m", do: created}\n  - {at: "+1m", do: silence}',
                          expect='  - {at: "+2h", level: L1}')
    assert [p.split(": ", 1)[1] for p in _problems(path)] == [
        "events[1].at: +1m comes before +5m of an event above it; list events in time order",
        "expect[0].at: +2h is after `until` (+1h)"]
