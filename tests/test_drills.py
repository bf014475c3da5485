"""Drills: a scenario played with trainees is scored against what the matrix itself did with the
same events. Exact scores for known answers; the model answer scores 100; every lost point says why."""
import json
from dataclasses import replace
from datetime import timedelta

import pytest
import yaml
from click.testing import CliRunner

from plugin.cli import main
from simulator.drills.actions import Action, Team
from simulator.drills.commands import CommandError, Control, parse
from simulator.drills.session import Drill, DrillError, play
from simulator.drills.solution import PLAYER, solve
from simulator.scenarios import load_scenario, scenario_files

from .conftest import ROOT, RULES

SCENARIOS = {path.name[:2]: path for path in scenario_files(ROOT / "scenarios")}
CHECKOUT = SCENARIOS["01"]
M = timedelta(minutes=1)


def scenario(number: str):
    return load_scenario(SCENARIOS[number])


def model(number: str) -> list[Action]:
    return solve(scenario(number), RULES)


def score(number: str, actions: list[Action], team: Team | None = None):
    return play(scenario(number), actions, RULES, team=team)


def failed(run) -> list:
    return [e for e in run.expectations if not e.passed]


def swap(do: str, **values):
    """A change to the model answer: its first `do` action altered."""
    def change(actions: list[Action]) -> list[Action]:
        index = next(i for i, a in enumerate(actions) if a.do == do)
        return actions[:index] + [replace(actions[index], **values)] + actions[index + 1:]
    return change


def late(minutes: int, *kinds: str):
    """A change to the model answer: its first actions of these kinds taken `minutes` late."""
    def change(actions: list[Action]) -> list[Action]:
        moved = [replace(a, at=a.at + minutes * M) if a.do in kinds and a.at == timedelta(0) else a for a in actions]
        return sorted(moved, key=lambda a: a.at)
    return change


@pytest.mark.parametrize("number", sorted(SCENARIOS))
def test_the_matrix_s_own_answers_score_100_on_every_scenario(number):
    run = score(number, model(number))
    assert failed(run) == [] and run.score == 100.0


@pytest.mark.parametrize("number", sorted(SCENARIOS))
def test_a_drill_with_no_answers_scores_below_100_and_says_why_for_every_point(number):
    run = score(number, [])
    assert run.score < 100
    for expectation in failed(run):
        assert expectation.reason and expectation.source, expectation
    assert all(e.weight > 0 for e in run.expectations)


def test_checkout_outage_model_answer_expects_exactly_what_the_matrix_did():
    run = score("01", model("01"))
    assert [(e.kind, e.expected, e.weight) for e in run.expectations] == [
        ("severity", "severity critical", 3), ("level", "level L1", 3), ("owner", "owner support-oncall", 2),
        ("message", "send ack.md.j2 on ticket_comment", 2), ("timer", "ack within 15m", 3),
        ("timer", "plan within 2h", 3), ("cadence", "update the customer every 30m", 2)]


# Each kind of mistake on the checkout outage, what it costs and how it is explained.
MISTAKES = [
    pytest.param(swap("severity", to="high"), "severity critical", 100 * 15 / 18,
                 "the matrix set severity critical at +0m (rule 'enterprise outage is critical'); you had high",
                 id="wrong-severity"),
    pytest.param(swap("owner", to="payments-eng"), "owner support-oncall", 100 * 16 / 18,
                 "the matrix set owner support-oncall at +0m (levels.L1.owner); you had payments-eng",
                 id="wrong-owner"),
    pytest.param(swap("message", channel="slack"), "send ack.md.j2 on ticket_comment", None,
                 "the matrix sent ack.md.j2 on ticket_comment at +0m (escalated); you sent ack.md.j2 on slack at +0m",
                 id="wrong-channel"),
    # The public acknowledgement message stops the ack clock as well, so both come late here.
    pytest.param(late(20, "acknowledge", "message"), "ack within 15m", None,
                 "breached at +15m (15m after +0m); the matrix escalated: level L2, owner payments-eng "
                 "(rule 'missed acknowledgement escalates to L2')", id="late-acknowledgement"),
]


@pytest.mark.parametrize("change, expected, exact, reason", MISTAKES)
def test_each_kind_of_mistake_loses_its_points_with_the_matrix_s_reason(change, expected, exact, reason):
    run = score("01", change(model("01")))
    lost = next(e for e in failed(run) if e.expected == expected)
    assert reason in lost.reason
    assert run.score < 100
    if exact is not None:
        assert run.score == round(exact, 1) and failed(run) == [lost]


def test_a_late_acknowledgement_makes_the_matrix_escalate_and_the_trainee_must_follow():
    run = score("01", late(20, "acknowledge", "message")(model("01")))
    follow = {e.expected for e in run.expectations if e.at == 15 * M}
    assert {"level L2", "owner payments-eng", "send escalation_notice.md.j2 on slack"} <= follow


def test_skipping_the_customer_updates_fails_the_cadence_at_each_lapse():
    run = score("01", [a for a in model("01") if a.do not in ("update", "plan")])
    cadence = next(e for e in run.expectations if e.kind == "cadence")
    assert not cadence.passed and "lapsed at +30m, +1h" in cadence.reason


def test_an_exception_the_matrix_applies_must_be_applied():
    run = score("04", [a for a in model("04") if a.do != "exception"])
    lost = [(e.ticket, e.expected, e.reason) for e in failed(run) if e.kind == "exception"]
    name = "'customer-requested urgent priority'"
    assert lost == [
        ("SUP-880", f"apply exception {name}", f"the matrix applied {name} at +0m; you did not apply it by +5m"),
        ("SUP-881", f"refuse exception {name}", f"the matrix does not apply {name} to this ticket: its conditions "
                                                "do not hold; you made no decision on it")]


def test_an_exception_applied_where_its_conditions_fail_costs_a_refusal():
    wrong = Action(5 * M, "exception", "SUP-881", name="customer-requested urgent priority", apply=True)
    run = score("04", [*model("04"), wrong])
    lost = [e for e in failed(run) if e.kind == "exception"]
    refusal = ("SUP-881", "refuse exception 'customer-requested urgent priority'")
    assert [(e.ticket, e.expected) for e in lost] == [refusal]
    assert "its conditions do not hold; you applied it at +5m" in lost[0].reason


def test_a_public_notice_the_matrix_withholds_must_not_be_sent():
    leak = Action(0 * M, "message", "", channel="ticket_comment", template="status_update.md.j2", text="Details...")
    run = score("10", [*model("10"), leak])
    lost = [e for e in failed(run) if e.kind == "withheld"]
    assert lost and "the matrix withholds it on this ticket" in lost[0].reason


def test_roles_are_scored_on_their_own_expectations():
    team = Team({"Ana": "incident_owner", "Ben": "communications", "Cleo": "scribe"})
    by_role = {"message": "Ben", "update": "Ben", "note": "Cleo", "root_cause": "Cleo"}
    # Communications forgets the acknowledgement message; taking the ticket still met the ack clock.
    actions = [replace(a, by=by_role.get(a.do, "Ana")) for a in model("01") if a.do != "message"]
    run = score("01", actions, team)
    roles = run.by_role()
    assert roles["incident_owner"] == {"trainee": "Ana", "score": 100.0}
    assert roles["communications"]["trainee"] == "Ben" and roles["communications"]["score"] < 100


def test_same_answers_give_the_same_score():
    actions = model("03")[:4]
    assert score("03", actions).to_json() == score("03", actions).to_json()


CONDITIONAL = """
drill:
  difficulty: beginner
  objectives: [update_cadence]
  injects:
    - {at: "+40m", do: customer_reply, text: "Nobody has told us anything for 40 minutes!", when: {missed: update}}
    - {at: "+20m", do: chat, from: Marcus Bell (account manager), channel: slack, text: "Can we make this urgent?"}
"""


@pytest.fixture
def conditional(tmp_path):
    text = SCENARIOS["03"].read_text() + CONDITIONAL
    path = tmp_path / "03-conditional.yaml"
    path.write_text(text)
    return load_scenario(path)


def test_a_missed_update_brings_an_angry_customer(conditional):
    run = play(conditional, model("03")[:5], RULES)
    angry = [s for s in run.seen if "for 40 minutes" in s.text]
    assert [(s.at, s.source) for s in angry] == [(40 * M, "customer")]
    assert any(s.source == "chat" and "Marcus Bell" in s.text for s in run.seen)


def test_kept_updates_keep_the_angry_customer_away(conditional):
    run = play(conditional, solve(conditional, RULES), RULES)
    assert not [s for s in run.seen if "for 40 minutes" in s.text] and run.score == 100.0


def test_the_story_s_own_agent_is_the_trainee_so_its_events_are_not_played():
    drill = Drill(scenario("03"), RULES)
    drill.advance(drill.scenario.until)
    # Nobody acknowledged: the story's agent reply at +6m was the trainee's to make.
    assert drill.ticket("SUP-7301")["level"] == "L2"


@pytest.mark.parametrize("action, message", [
    (Action(0 * M, "level", "", to="L9"), "level 'L9' is not in the matrix; choose one of: L1, L2, L3"),
    (Action(0 * M, "message", "", channel="pager", template="ack.md.j2"), "channel 'pager' is not in the matrix"),
    (Action(0 * M, "acknowledge", "SUP-999"), "there is no ticket SUP-999 yet"),
])
def test_an_action_the_drill_cannot_take_is_refused_with_what_to_do(action, message):
    drill = Drill(scenario("01"), RULES)
    drill.advance(timedelta(0))
    with pytest.raises(DrillError, match=message.replace("(", r"\(").replace(")", r"\)")):
        drill.act(action)


@pytest.mark.parametrize("line, expected", [
    ("ack", Action(timedelta(0), "acknowledge", "T-1")),
    ("severity critical -- enterprise and down", Action(timedelta(0), "severity", "T-1", to="critical",
                                                        rationale="enterprise and down")),
    ("exception refuse customer-requested urgent priority",
     Action(timedelta(0), "exception", "T-1", name="customer-requested urgent priority", apply=False)),
    ("message slack escalation_notice.md.j2 Payments, please look",
     Action(timedelta(0), "message", "T-1", channel="slack", template="escalation_notice.md.j2",
            text="Payments, please look")),
    ("handover Ana Lima; DB team owns the fix", Action(timedelta(0), "handover", "T-1", to="Ana Lima",
                                                       text="DB team owns the fix")),
    ("status Waiting for customer", Action(timedelta(0), "status", "T-1", to="Waiting for customer")),
    ("wait 10m", Control("wait", "10m")),
    ("", None),
])
def test_typed_commands_become_actions(line, expected):
    assert parse(line, "T-1") == expected


@pytest.mark.parametrize("line", ["severity", "exception maybe X", "message slack", "frobnicate now", "plan"])
def test_a_typo_is_explained(line):
    with pytest.raises(CommandError):
        parse(line, "T-1")


# -- the command line ---------------------------------------------------------------------------

def run_cli(*args, input=None):
    return CliRunner().invoke(main, ["drill", *map(str, args), "--rules", str(RULES)], input=input)


def test_solution_file_scores_100_through_the_cli(tmp_path):
    answers = tmp_path / "answers.yaml"
    assert run_cli(CHECKOUT, "--solution", "--out", answers).exit_code == 0
    assert yaml.safe_load(answers.read_text())["trainees"] == {PLAYER: "solo"}
    result = run_cli(CHECKOUT, "--answers", answers, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["score"] == 100.0 and all(e["passed"] and e["reason"] for e in data["expectations"])


def test_scripted_json_gives_every_expectation_with_its_reason(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("actions:\n  - {at: +1m, do: severity, to: high, rationale: looks bad}\n")
    data = json.loads(run_cli(CHECKOUT, "--answers", answers, "--json").output)
    assert 0 <= data["score"] < 100
    severity = next(e for e in data["expectations"] if e["kind"] == "severity")
    assert severity["passed"] is False and "you had high (set at +1m)" in severity["reason"]
    assert data["actions"][0]["rationale"] == "looks bad"


def test_a_broken_answers_file_names_its_line(tmp_path):
    answers = tmp_path / "answers.yaml"
    answers.write_text("actions:\n  - {at: +1m, do: severity}\n  - {at: soon, do: ack}\n")
    result = run_cli(CHECKOUT, "--answers", answers)
    assert result.exit_code == 2
    assert f"{answers}:2: actions[0]: 'to' is a required property" in result.output
    assert f"{answers}:3: actions[1].at" in result.output and "Traceback" not in result.output


def test_a_terminal_drill_saves_answers_that_replay_to_the_same_score(tmp_path):
    saved = tmp_path / "played.yaml"
    typed = "ack -- mine\nseverity critical\nlevel L1\nowner support-oncall\nnext\nupdate On it\nend\n"
    live = run_cli(CHECKOUT, "--step", "--no-record", "--trainee", "Ana Lima", "--save-answers", saved, input=typed)
    assert live.exit_code == 0, live.output
    assert "+20m SUP-412 customer: We are losing roughly 40 orders a minute" in live.output
    replayed = json.loads(run_cli(CHECKOUT, "--answers", saved, "--json").output)
    assert f"score {replayed['score']:g}/100" in live.output
    assert [a["do"] for a in replayed["actions"]] == ["acknowledge", "severity", "level", "owner", "update"]
    assert replayed["actions"][-1]["at"] == "+20m"


def test_the_debrief_is_written_as_a_self_contained_page(tmp_path):
    answers, page = tmp_path / "answers.yaml", tmp_path / "debrief.html"
    answers.write_text("actions:\n  - {at: +1m, do: severity, to: critical, rationale: <b>obvious</b>}\n")
    result = run_cli(CHECKOUT, "--answers", answers, "--debrief", page)
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "Enterprise checkout outage nobody acknowledges" in html and "&lt;b&gt;obvious&lt;/b&gt;" in html
    assert "<b>obvious</b>" not in html


def test_from_ticket_names_a_ticket_the_log_does_not_have(tmp_path, monkeypatch):
    monkeypatch.setenv("ESCALATOR_DATABASE_URL", f"sqlite:///{tmp_path / 'escalator.db'}")
    result = CliRunner().invoke(main, ["drill", "--from-ticket", "jira/SUP-404"])
    assert result.exit_code == 1 and "no ticket jira/SUP-404 in the escalation log" in result.output
    assert "Traceback" not in result.output
