"""The onboarding path: the next scenario trains what a trainee missed most; progress over time."""
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from simulator.drills.onboarding import history_row, mastery, pick_next, progress
from simulator.scenarios import load_scenario

from .conftest import ROOT

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def base():
    return load_scenario(ROOT / "scenarios" / "01-checkout-outage-unacknowledged.yaml")


def scenario(base, name, difficulty=None, objectives=None):
    drill = {**({"difficulty": difficulty} if difficulty else {}), **({"objectives": objectives} if objectives else {})}
    return replace(base, path=Path(name), drill=drill)


def row(name, hours, **objectives):
    """A drill finished `hours` after T0 with objective=(earned, possible)."""
    return {"scenario": name, "score": 50.0, "role": "solo", "finished_at": T0 + timedelta(hours=hours),
            "objectives": {o: {"earned": e, "possible": p} for o, (e, p) in objectives.items()}}


@pytest.fixture
def catalogue(base):
    return [scenario(base, "a-advanced-routing.yaml", "advanced", ["routing"]),
            scenario(base, "b-beginner-severity.yaml", "beginner", ["severity"]),
            scenario(base, "c-beginner-comms.yaml", "beginner", ["communication", "update_cadence"]),
            scenario(base, "d-intermediate-severity.yaml", None, ["severity"])]


@pytest.mark.parametrize("history, expected", [
    # a new trainee: the easiest, unplayed, then by name
    ([], "b-beginner-severity.yaml"),
    # severity weak, routing strong: a severity drill, the one not yet played
    ([row("b-beginner-severity.yaml", 0, severity=(0, 3), routing=(5, 5))], "d-intermediate-severity.yaml"),
    # communication missed most: the communication drill
    ([row("b-beginner-severity.yaml", 0, severity=(3, 3), routing=(5, 5), communication=(0, 2))],
     "c-beginner-comms.yaml"),
    # routing was weak long ago and is strong now: recent drills count more, severity is the weak spot
    ([row("a-advanced-routing.yaml", 0, routing=(0, 5), severity=(2, 3)),
      row("a-advanced-routing.yaml", 1, routing=(5, 5), severity=(2, 3)),
      row("a-advanced-routing.yaml", 2, routing=(5, 5), severity=(2, 3)),
      row("c-beginner-comms.yaml", 3, communication=(2, 2), update_cadence=(2, 2))],
     "b-beginner-severity.yaml"),
    # everything mastered equally: the scenario played least, then the easiest
    ([row("b-beginner-severity.yaml", 0, severity=(3, 3), routing=(5, 5), communication=(2, 2),
          update_cadence=(2, 2))], "c-beginner-comms.yaml"),
])
def test_pick_next_trains_what_was_missed_most(catalogue, history, expected):
    assert pick_next(history, catalogue).path.name == expected


def test_pick_next_is_deterministic_whatever_the_order_of_scenarios(catalogue):
    history = [row("c-beginner-comms.yaml", 0, communication=(0, 2))]
    assert {pick_next(history, order).path.name for order in (catalogue, catalogue[::-1])} == {"c-beginner-comms.yaml"}


def test_a_scenario_without_declared_objectives_trains_what_its_drills_were_scored_on(base):
    plain = [scenario(base, "x.yaml"), scenario(base, "y.yaml")]
    history = [row("x.yaml", 0, severity=(3, 3)), row("y.yaml", 1, routing=(0, 5))]
    assert pick_next(history, plain).path.name == "y.yaml"


def test_pick_next_needs_a_scenario():
    with pytest.raises(ValueError, match="no scenarios"):
        pick_next([], [])


def test_mastery_weights_recent_drills_more():
    history = [row("x.yaml", 0, severity=(0, 3)), row("x.yaml", 1, severity=(3, 3))]
    assert mastery(history) == {"severity": pytest.approx(3 / (3 + 0.7 * 3))}


def test_progress_of_a_new_trainee_is_empty():
    assert progress([]) == {"drills": 0, "scores": [], "average": None, "latest": None, "objectives": {},
                            "weakest": []}


def test_progress_gives_scores_over_time_and_a_trend_per_objective():
    history = [row("y.yaml", 2, severity=(3, 3), routing=(1, 5)),          # out of order on purpose
               row("x.yaml", 0, severity=(0, 3), routing=(1, 5)),
               {**row("z.yaml", 1, severity=(3, 3)), "finished_at": (T0 + timedelta(hours=1)).isoformat()}]
    report = progress(history)
    assert [s["scenario"] for s in report["scores"]] == ["x.yaml", "z.yaml", "y.yaml"]
    assert report["drills"] == 3 and report["average"] == 50.0
    assert report["objectives"]["severity"] | {"mastery": None} == {
        "earned": 6, "possible": 9, "mastery": None, "drills": 3, "trend": 0.5, "direction": "up"}
    assert report["objectives"]["routing"]["direction"] == "flat"
    assert report["weakest"] == ["routing", "severity"]


RUN = {"file": "01.yaml", "score": 60.0, "trainees": {"ana": "incident_owner", "ben": "communications"},
       "roles": {"incident_owner": {"trainee": "ana", "score": 100.0},
                 "communications": {"trainee": "ben", "score": 0.0}},
       "objectives": {"severity": {"earned": 3, "possible": 3}, "communication": {"earned": 0, "possible": 2}},
       "expectations": [
           {"role": "incident_owner", "objective": "severity", "weight": 3, "passed": True},
           {"role": "communications", "objective": "communication", "weight": 2, "passed": False}]}


@pytest.mark.parametrize("trainee, score, objectives", [
    ("ana", 100.0, {"severity": {"earned": 3, "possible": 3}}),
    ("ben", 0.0, {"communication": {"earned": 0, "possible": 2}}),
])
def test_each_trainee_is_scored_on_their_own_role(trainee, score, objectives):
    got = history_row(RUN, trainee, T0)
    assert (got["score"], got["objectives"], got["scenario"]) == (score, objectives, "01.yaml")


def test_a_solo_trainee_is_scored_on_everything():
    solo = {**RUN, "trainees": {"ana": "solo"}, "roles": {}}
    assert history_row(solo, "ana", T0)["objectives"] == {"severity": {"earned": 3, "possible": 3},
                                                          "communication": {"earned": 0, "possible": 2}}
