"""Drafted customer messages in drills: on a matrix that drafts L1's acknowledgement (draft_then_auto,
after 10m), the trainee sends it as rewritten, leaves it to go out by itself on the virtual clock, or
discards it with a reason; through the API route, answers files, the terminal's words and the play page
the same `drafting.act` runs on the drill's own store, and the score and debrief say what became of it."""
import json
from dataclasses import replace
from datetime import timedelta

import pytest
import yaml
from click.testing import CliRunner

from plugin.cli import main
from simulator.drills import debrief
from simulator.drills.actions import Action
from simulator.drills.commands import CommandError, parse
from simulator.drills.scoring import _action_json
from simulator.drills.session import Drill, DrillError, play
from simulator.drills.solution import solve
from simulator.scenarios import load_scenario

from .conftest import ROOT
from .test_drafts import drafted_rules
from .test_openapi import TOKEN, call, with_token
from .test_web_drills import client_as, post, start

SCENARIO = ROOT / "scenarios" / "01-checkout-outage-unacknowledged.yaml"
EDITED = ("Hello Dana,\n\nEvery checkout fails with a 502 and our payments engineers are on it now.\n"
          "<b>Next update by 15:30 UTC</b> | *promise*")
REASON = "Called Dana instead: she asked for phone updates"


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    return drafted_rules(tmp_path_factory.mktemp("drafted"))


@pytest.fixture(scope="module")
def model(rules) -> list[Action]:
    """The matrix's own answers, played by the default trainee."""
    return [replace(a, by="") for a in solve(load_scenario(SCENARIO), rules)]


def with_draft(actions: list[Action], **change) -> list[Action]:
    """The model answer with its send of the drafted acknowledgement changed (or left out: `do=None`)."""
    if change.get("do") is None and "do" in change:
        return [a for a in actions if a.do != "send_draft"]
    return [replace(a, **change) if a.do == "send_draft" else a for a in actions]


def acknowledgement(run):
    return next(e for e in run.expectations if e.expected == "send ack.md.j2 on ticket_comment")


# -- scoring ----------------------------------------------------------------------------------------

def test_the_model_answer_sends_the_draft_as_drafted_at_once_and_scores_100(rules, model):
    [sent] = [a for a in model if a.do == "send_draft"]
    assert (sent.at, sent.draft, sent.text) == (timedelta(0), 1, "")
    assert not any(a.do == "message" and a.template == "ack.md.j2" for a in model)    # not twice
    run = play(load_scenario(SCENARIO), model, rules)
    assert run.score == 100.0 and [d["status"] for d in run.drafts] == ["sent"]
    assert acknowledgement(run).reason == "you sent the draft at +0m, as drafted"


@pytest.mark.parametrize("change, passed, status, reason", [
    ({"text": EDITED}, True, "sent", "you sent the draft at +0m, tailored"),
    ({"do": None}, False, "auto_sent", "nobody acted on the draft, so it went out by itself as drafted at +10m: "
                                       "the cadence held, but the customer got the template, not words from you"),
    ({"do": "discard_draft", "reason": REASON}, False, "discarded",
     f"you discarded the draft at +0m ({REASON}); the customer did not hear from us on ticket_comment by +10m"),
])
def test_what_became_of_the_draft_meets_the_acknowledgement_or_not(rules, model, change, passed, status, reason):
    run = play(load_scenario(SCENARIO), with_draft(model, **change), rules)
    expected = acknowledgement(run)
    assert (expected.passed, expected.reason, run.drafts[0]["status"]) == (passed, reason, status)
    assert (expected.until, expected.source) == (timedelta(minutes=10), "communications: escalated -> "
                                                 "ticket_comment ack.md.j2 (send: draft_then_auto)")
    assert run.score == (100.0 if passed else 88.9)


def test_a_discarded_draft_is_forgiven_when_the_trainee_updated_the_customer_in_time(rules, model):
    discarded = with_draft(model, do="discard_draft", reason=REASON)
    update = Action(timedelta(minutes=4), "update", "", text="We are on it; next update by 15:30 UTC.")
    run = play(load_scenario(SCENARIO), sorted([*discarded, update], key=lambda a: a.at), rules)
    assert acknowledgement(run).passed
    assert acknowledgement(run).reason.endswith("and you updated the customer yourself at +4m")


def test_an_untouched_draft_goes_out_at_its_time_on_the_drill_s_virtual_clock(tmp_path):
    # After 7m, when none of the matrix's own timers is due: the draft alone must move the clock there.
    drill = Drill(load_scenario(SCENARIO), drafted_rules(tmp_path, "send: draft_then_auto, after: 7m"))
    drill.advance(timedelta(minutes=6, seconds=59))
    [waiting] = drill.drafts("SUP-412")
    assert waiting.pending and drill.offset(waiting.send_at) == timedelta(minutes=7)
    assert "waits for you to tailor: it goes out as drafted at +7m" in drill.seen[-1].text
    drill.advance(timedelta(minutes=8))
    [sent] = drill.drafts("SUP-412")
    assert (sent.status, sent.acted_at, sent.text) == ("auto_sent", waiting.send_at, waiting.template_text)
    entry = next(e for e in drill.log("SUP-412") if e["event_kind"] == "draft_auto_sent")
    assert entry["at"] == waiting.send_at                    # on time to the second
    [comment] = [o for o in drill.pipeline.store.outbox if o["log_id"] == entry["id"] and o["platform"] == "jira"]
    assert comment["data"]["body"] == waiting.template_text and comment["data"]["public"]   # through the outbox
    with pytest.raises(DrillError, match="already auto sent; nothing was sent again"):
        drill.act(Action(timedelta(0), "send_draft", "", draft=sent.id, text=EDITED))


def test_a_plain_draft_nobody_sends_never_reaches_the_customer(tmp_path, model):
    run = play(load_scenario(SCENARIO), with_draft(model, do=None), drafted_rules(tmp_path, "send: draft"))
    expected = acknowledgement(run)
    assert (expected.passed, expected.until) == (False, timedelta(minutes=5))       # the usual grace
    assert expected.reason == "nobody sent the draft; the customer did not hear from us on ticket_comment by +5m"
    assert "it was still waiting when the story ended" in debrief.markdown(run.to_json())


def test_a_sent_draft_stops_the_ack_clock_as_any_public_update_does(rules):
    drill = Drill(load_scenario(SCENARIO), rules)
    drill.advance(timedelta(minutes=3))
    drill.act(Action(timedelta(0), "send_draft", "", text=EDITED))      # the ticket's one waiting draft
    ack = next(t for t in drill.timers("SUP-412") if t["name"] == "ack")
    assert ack["stopped_at"] == drill.clock
    assert drill.drafts("SUP-412")[0].acted_by == "Trainee"


@pytest.mark.parametrize("action, refused", [
    (Action(timedelta(0), "send_draft", "", draft=7), "there is no draft 7"),
    (Action(timedelta(0), "discard_draft", "", reason="   "), "say why the draft is discarded"),
    (Action(timedelta(0), "send_draft", "", text="x" * 20_001), "keep it under 20000"),
])
def test_an_action_the_draft_cannot_take_is_refused_and_not_recorded(rules, action, refused):
    drill = Drill(load_scenario(SCENARIO), rules)
    drill.advance(timedelta(minutes=1))
    with pytest.raises(DrillError, match=refused):
        drill.act(action)
    assert drill.actions == [] and drill.drafts("SUP-412")[0].pending


# -- the debrief ------------------------------------------------------------------------------------

def run_json(rules, model, **change) -> dict:
    return play(load_scenario(SCENARIO), with_draft(model, **change), rules).to_json()


def test_the_debrief_shows_the_trainee_s_text_beside_the_template_s_with_the_diff(rules, model):
    result = run_json(rules, model, text=EDITED)
    page, text = debrief.html(result), debrief.markdown(result)
    assert "Trainee sent it at +0m, tailored to the customer." in page
    assert "<td class=\"text\">Hello Dana Kowalski," in page           # the template's text, whole
    assert "&lt;b&gt;Next update by 15:30 UTC&lt;/b&gt;" in page and "<b>Next" not in page
    assert '<span class="added">+Every checkout fails with a 502' in page
    assert '<span class="removed">-Hello Dana Kowalski,</span>' in page
    assert "| Hello Dana Kowalski, We have received your report" in text       # beside it, in one row
    assert "&lt;b&gt;Next update by 15:30 UTC&lt;/b&gt; \\| \\*promise\\*" in text   # neutralised
    assert "<b>" not in text


@pytest.mark.parametrize("change, said", [
    ({"do": None}, "Nobody acted on it, so it went out by itself as drafted at +10m: on time, but the trainees "
                   "did not tailor it to the customer."),
    ({"do": "discard_draft", "reason": "<i>spoke</i> to Dana"}, "Trainee discarded it at +0m. Reason: "),
    ({}, "Trainee sent it at +0m, as drafted: the words were not tailored to the customer."),
])
def test_the_debrief_says_what_became_of_the_draft(rules, model, change, said):
    result = run_json(rules, model, **change)
    assert said in debrief.markdown(result) and said in debrief.html(result)
    if "reason" in change:
        assert "&lt;i&gt;spoke&lt;/i&gt; to Dana" in debrief.html(result)
        assert "&lt;i&gt;spoke&lt;/i&gt; to Dana" in debrief.markdown(result)


def test_a_debrief_from_before_drafts_existed_still_renders(rules, model):
    result = run_json(rules, model)
    del result["drafts"]
    assert "Drafted messages" not in debrief.markdown(result) and "Drafted messages" not in debrief.html(result)


# -- answers files and the terminal ----------------------------------------------------------------

def drill_cli(rules, *args, input=None):
    return CliRunner().invoke(main, ["drill", str(SCENARIO), *map(str, args), "--rules", str(rules)], input=input)


def test_an_answers_file_discards_the_draft_with_its_reason_and_the_debrief_keeps_it(tmp_path, rules, model):
    answers, report = tmp_path / "answers.yaml", tmp_path / "debrief.md"
    actions = [_action_json(a) for a in with_draft(model, do="discard_draft", reason=REASON)]
    answers.write_text(yaml.safe_dump({"actions": [{k: v for k, v in a.items() if k != "by"} for a in actions]}))
    result = drill_cli(rules, "--answers", answers, "--json", "--debrief", report)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output[:result.output.rindex("}") + 1])
    [draft] = data["drafts"]
    assert (draft["status"], draft["reason"], draft["acted_at"], draft["text"]) == ("discarded", REASON, "+0m", "")
    assert f"Trainee discarded it at +0m. Reason: {REASON}" in report.read_text()


def test_the_solution_file_sends_the_draft_and_replays_to_100(tmp_path, rules):
    answers = tmp_path / "answers.yaml"
    assert drill_cli(rules, "--solution", "--out", answers).exit_code == 0
    [sent] = [a for a in yaml.safe_load(answers.read_text())["actions"] if a["do"] == "send_draft"]
    assert sent == {"at": "+0m", "do": "send_draft", "draft": 1, "rationale": "communications: escalated"}
    result = drill_cli(rules, "--answers", answers, "--json")
    assert result.exit_code == 0 and json.loads(result.output)["score"] == 100.0


@pytest.mark.parametrize("line, problem", [
    ("  - {at: +1m, do: discard_draft}", "'reason' is a required property"),
    ("  - {at: +1m, do: discard_draft, reason: '  '}", "does not match"),
    ("  - {at: +1m, do: send_draft, draft: 0}", "less than the minimum of 1"),
    ("  - {at: +1m, do: send_draft, draft: first}", "is not of type 'integer'"),
])
def test_an_answers_file_with_a_malformed_draft_action_is_refused_with_its_line(tmp_path, rules, line, problem):
    answers = tmp_path / "answers.yaml"
    answers.write_text(f"actions:\n{line}\n")
    result = drill_cli(rules, "--answers", answers)
    assert result.exit_code == 2 and f"{answers.name}:2:" in result.output and problem in result.output


def test_in_the_terminal_a_trainee_reads_the_draft_and_sends_it_rewritten(tmp_path, rules):
    saved = tmp_path / "played.yaml"
    typed = "drafts\nsend Hello Dana,\\n\\nwe are on it. -- she wants specifics\ndrafts\nsend\nsend #1\nend\n"
    live = drill_cli(rules, "--step", "--no-record", "--save-answers", saved, input=typed)
    assert live.exit_code == 0, live.output
    assert "#1 ack.md.j2 on ticket_comment to the ticket (public): goes out by itself as drafted at +10m" in live.output
    assert "Hello Dana Kowalski," in live.output                 # the template's text, to rewrite
    assert "#1 ack.md.j2 on ticket_comment to the ticket (public): sent at +0m" in live.output
    assert "ticket SUP-412 has no draft waiting" in live.output
    assert "this draft was already sent by Trainee; nothing was sent again" in live.output
    [sent] = yaml.safe_load(saved.read_text())["actions"]
    assert sent == {"at": "+0m", "do": "send_draft", "text": "Hello Dana,\n\nwe are on it.", "rationale":
                    "she wants specifics", "draft": 1}


@pytest.mark.parametrize("typed, fields", [
    ("send", {"do": "send_draft", "draft": 0, "text": ""}),
    ("send Hello Dana,\\n\\nwe are on it", {"do": "send_draft", "draft": 0, "text": "Hello Dana,\n\nwe are on it"}),
    ("send #2 3 engineers are on it", {"do": "send_draft", "draft": 2, "text": "3 engineers are on it"}),
    ("discard #2 called her instead -- she asked", {"do": "discard_draft", "draft": 2, "reason": "called her instead",
                                                     "rationale": "she asked"}),
])
def test_the_terminal_words_for_drafts(typed, fields):
    action = parse(typed, "SUP-412", "ana")
    assert {name: getattr(action, name) for name in fields} == fields


@pytest.mark.parametrize("typed, problem", [("discard", "discard needs a reason"),
                                            ("send #x hi", "not a draft number")])
def test_terminal_words_a_draft_cannot_take_say_what_to_type(typed, problem):
    with pytest.raises(CommandError, match=problem):
        parse(typed, "SUP-412", "ana")


# -- the API route and the play page ---------------------------------------------------------------

@pytest.fixture
def app(make_app, rules):
    app = make_app(clients={}, api_token=TOKEN, rules=str(rules))
    app.config["ESCALATOR_SCENARIOS"] = str(ROOT / "scenarios")
    return app


def test_over_the_api_a_trainee_sees_the_draft_edits_and_sends_it_and_the_debrief_shows_both(app):
    client = with_token(app)
    base = f"/api/drills/{call(client, 'POST', '/api/drills', 201, {'scenario': SCENARIO.name})['session']['id']}"
    shown = call(client, "POST", f"{base}/advance", 200, {"to": "+2m"})
    [draft] = shown["state"]["tickets"][0]["drafts"]
    assert (draft["status"], draft["sends_at"], draft["to"]) == ("pending", "+10m", ["the ticket (public)"])
    assert draft["template_text"].startswith("Hello Dana Kowalski")
    answer = call(client, "POST", f"{base}/actions", 201, {"do": "send_draft", "draft": draft["id"], "text": EDITED})
    assert answer["action"] == {"at": "+2m", "do": "send_draft", "ticket": "SUP-412", "by": "Trainee",
                                "draft": draft["id"], "channel": "ticket_comment", "template": "ack.md.j2",
                                "text": EDITED}
    [sent] = answer["state"]["tickets"][0]["drafts"]
    assert (sent["status"], sent["text"], sent["by"], sent["acted_at"]) == ("sent", EDITED, "Trainee", "+2m")
    again = call(client, "POST", f"{base}/actions", 409, {"do": "discard_draft", "draft": draft["id"], "reason": "x"})
    assert "already sent by Trainee" in again["error"]
    result = call(client, "POST", f"{base}/finish", 200)
    assert acknowledgement_json(result)["reason"] == "you sent the draft at +2m, tailored"
    page = call(client, "GET", f"{base}/debrief.html", 200)
    assert "Hello Dana Kowalski," in page and "&lt;b&gt;Next update by 15:30 UTC&lt;/b&gt;" in page


def acknowledgement_json(result: dict) -> dict:
    return next(e for e in result["expectations"] if e["expected"] == "send ack.md.j2 on ticket_comment")


def test_a_discard_without_a_reason_is_refused_by_the_route(app):
    client = with_token(app)
    base = f"/api/drills/{call(client, 'POST', '/api/drills', 201, {'scenario': SCENARIO.name})['session']['id']}"
    answer = call(client, "POST", f"{base}/actions", 400, {"do": "discard_draft"})
    assert "reason" in answer["error"]
    assert call(client, "GET", base, 200)["state"]["tickets"][0]["drafts"][0]["status"] == "pending"


def test_on_the_play_page_a_trainee_rewrites_the_draft_and_sends_it(app):
    trainer, trainee = client_as(app, "trainer"), client_as(app, "trainee", "ana")
    session = start(trainer, scenario=SCENARIO.name)
    page = trainee.get(f"/drills/{session}").text
    assert 'id="draft-1"' in page and "goes out by itself, as drafted, at <strong>+10m</strong>" in page
    assert ">Hello Dana Kowalski," in page                     # the textarea starts from the template's text
    answer = post(trainee, f"/drills/{session}/actions", {"do": "send_draft", "draft": "1", "text": EDITED},
                  f"/drills/{session}")
    assert answer.status_code == 303, answer.text
    page = trainee.get(f"/drills/{session}").text
    assert 'id="draft-1"' not in page and "sent at +0m" in page
    assert "&lt;b&gt;Next update by 15:30 UTC&lt;/b&gt;" in page
