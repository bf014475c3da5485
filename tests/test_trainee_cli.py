"""`escalator trainee list|report`, and the history `escalator drill` writes through record_drill."""
import json
from datetime import timedelta

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.settings import Settings
from plugin.store.drills import next_scenario, record_drill

from .conftest import ROOT, START

SCENARIOS = ROOT / "scenarios"


def run(severity_earned: int, communication_earned: int) -> dict:
    return {"file": "01-checkout-outage-unacknowledged.yaml", "scenario": "Checkout outage",
            "score": round(100 * (severity_earned + communication_earned) / 5, 1),
            "trainees": {"ana": "solo"}, "roles": {}, "actions": [], "expectations": [],
            "objectives": {"severity": {"earned": severity_earned, "possible": 3},
                           "communication": {"earned": communication_earned, "possible": 2}}}


@pytest.fixture
def env(tmp_path, monkeypatch):
    values = {"ESCALATOR_DATA_DIR": str(tmp_path / "data"), "ESCALATOR_DATABASE_URL": "", "ESCALATOR_RULES": ""}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def history(env):
    record_drill(run(0, 0), {"ana": "solo"}, START)
    record_drill(run(3, 0), {"ana": "solo"}, START + timedelta(days=1))
    return env


def trainee(*args):
    result = CliRunner().invoke(main, ["trainee", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_report_shows_drills_over_time_objectives_and_what_to_practise(history):
    report = json.loads(trainee("report", "ana", "--json", "--scenarios", str(SCENARIOS)))
    assert [s["score"] for s in report["scores"]] == [0.0, 60.0]
    assert report["objectives"]["severity"] | {"mastery": 0} == {
        "earned": 3, "possible": 6, "mastery": 0, "drills": 2, "trend": 1.0, "direction": "up"}
    assert report["objectives"]["communication"]["direction"] == "flat"
    assert "communication" in report["next"]["objectives"]


def test_the_report_reads_as_tables(history):
    text = trainee("report", "ana", "--scenarios", str(SCENARIOS))
    for expected in ("2 drill(s)", "Drills over time", "Score per objective", "severity", "↑ +100%",
                     "Practise next:"):
        assert expected in text


def test_a_new_trainee_starts_with_the_easiest_scenario(env):
    text = trainee("report", "newbie", "--scenarios", str(SCENARIOS))
    assert "newbie has not finished a drill yet." in text and "a first drill: beginner" in text


def test_the_list_names_every_trainee_with_their_drills(history):
    record_drill({**run(3, 2), "trainees": {"ana": "incident_owner", "ben": "communications"}},
                 {"ana": "incident_owner", "ben": "communications"}, START + timedelta(days=2))
    text = trainee("list")
    assert "ana" in text and "3" in text and "ben" in text


def test_next_scenario_is_a_file_in_the_directory_that_trains_the_weakest_objective(history):
    chosen = next_scenario("ana", SCENARIOS)
    assert chosen.parent == SCENARIOS and chosen.suffix == ".yaml"
    assert chosen == next_scenario("ana", SCENARIOS)        # deterministic


def test_record_drill_writes_to_the_database_the_settings_name(env, tmp_path):
    from plugin.trainees import open_repository
    drill_id = record_drill(run(3, 2), {"ana": "solo"}, START)
    repo = open_repository(Settings(data_dir=env["ESCALATOR_DATA_DIR"]))
    assert [s.id for s in repo.history("ana")] == [drill_id]
