"""`/drills` in the Flask test client: trainers start drills for trainees, a trainee plays only their own
through the page's forms to the score and debrief, refusals are shown on the page, and typed text is escaped."""
import re

import pytest

from simulator.drills.scoring import _action_json
from simulator.drills.solution import solve
from simulator.scenarios import load_scenario

from .conftest import ROOT, RULES, START
from .test_web_reviews import HOSTILE, browser, csrf_token, log_in

SCENARIO = "01-checkout-outage-unacknowledged.yaml"


@pytest.fixture(scope="module")
def solution():
    """The matrix's own answers as the play page's forms would send them: (story time, form)."""
    actions = solve(load_scenario(ROOT / "scenarios" / SCENARIO), RULES)
    forms = []
    for action in map(_action_json, actions):
        at = action.pop("at")
        action.pop("by")
        if "apply" in action:
            action["apply"] = "apply" if action["apply"] else "refuse"
        forms.append((at, action))
    return forms


@pytest.fixture
def app(make_app):
    return make_app(clients={})


def client_as(app, role, name=None):
    """A browser-like client of its own, logged in as a new user with `role`."""
    client = browser(app)
    log_in(client, role, name)
    return client


def post(client, path, data, page="/drills"):
    token = csrf_token(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data})


def start(trainer, trainees=("ana",), roles=(), mode="step", scenario=SCENARIO, **extra):
    form = {"scenario": scenario, "mode": mode, **extra}
    for row, name in enumerate(trainees):
        form[f"trainee_{row}"] = name
        if roles:
            form[f"role_{row}"] = roles[row]
    answer = post(trainer, "/drills", form)
    assert answer.status_code == 303, answer.text
    return int(re.search(r"/drills/(\d+)$", answer.headers["Location"]).group(1))


def play(client, session, forms):
    page = f"/drills/{session}"
    for at, form in forms:
        assert post(client, f"{page}/advance", {"how": "to", "to": at}, page).status_code == 303
        answer = post(client, f"{page}/actions", form, page)
        assert answer.status_code == 303, answer.text
    return post(client, f"{page}/finish", {}, page)


# -- who may do what --------------------------------------------------------------------------------

@pytest.mark.parametrize("role, status", [("viewer", 403), ("trainee", 200), ("trainer", 200), ("lead", 200)])
def test_the_drills_page_is_for_everyone_who_plays_or_runs_drills(app, role, status):
    assert client_as(app, role).get("/drills").status_code == status


def test_only_trainers_see_the_scenarios_and_start_drills(app):
    trainee = client_as(app, "trainee", "ana")
    page = trainee.get("/drills").text
    assert "Start a drill" not in page and "No drill is waiting for you" in page
    assert post(trainee, "/drills", {"scenario": SCENARIO, "trainee_0": "ana"}).status_code == 403
    trainer = client_as(app, "trainer")
    page = trainer.get("/drills").text
    assert "Start a drill" in page and "Enterprise checkout outage nobody acknowledges" in page
    assert "beginner" in page and "Routing (level and owner)" in page
    assert '<option value="ana"></option>' in page          # trainee users are offered by name


def test_a_trainee_sees_and_opens_only_the_drills_that_name_them(app):
    trainer = client_as(app, "trainer")
    mine, theirs = start(trainer, ["ana"]), start(trainer, ["ben"])
    ana = client_as(app, "trainee", "ana")
    listed = ana.get("/drills").text
    assert f"/drills/{mine}" in listed and f"/drills/{theirs}" not in listed
    assert ana.get(f"/drills/{mine}").status_code == 200
    for path in (f"/drills/{theirs}", f"/drills/{theirs}/live", f"/drills/{theirs}/debrief.md"):
        assert ana.get(path).status_code == 404
    page = f"/drills/{mine}"
    assert post(ana, f"/drills/{theirs}/actions", {"do": "acknowledge"}, page).status_code == 404
    assert post(ana, f"/drills/{theirs}/finish", {}, page).status_code == 404
    assert trainer.get(f"/drills/{theirs}").status_code == 200          # a trainer sees every drill


def test_through_the_api_too_a_trainee_reaches_only_their_own_drills(app):
    trainer = client_as(app, "trainer")
    mine, theirs = start(trainer, ["ana"]), start(trainer, ["ben"])
    ana = client_as(app, "trainee", "ana")
    assert [s["id"] for s in ana.get("/api/drills").json["sessions"]] == [mine]
    assert ana.get(f"/api/drills/{mine}").status_code == 200
    assert ana.get(f"/api/drills/{theirs}").status_code == 404
    token = {"X-CSRFToken": csrf_token(ana.get(f"/drills/{mine}").text)}
    assert ana.post(f"/api/drills/{theirs}/actions", json={"do": "acknowledge"}, headers=token).status_code == 404
    assert ana.post(f"/api/drills/{mine}/actions", json={"do": "acknowledge"}, headers=token).status_code == 201
    assert trainer.get(f"/api/drills/{theirs}").status_code == 200
    assert len(trainer.get("/api/drills").json["sessions"]) == 2


def test_an_action_without_its_csrf_token_is_refused(app):
    session = start(client_as(app, "trainer"), ["ana"])
    ana = client_as(app, "trainee", "ana")
    answer = ana.post(f"/drills/{session}/actions", data={"do": "acknowledge"})
    assert answer.status_code == 400 and "CSRF" in answer.text


@pytest.mark.parametrize("path", ["/drills/999", "/drills/99999999999", "/drills/abc"])
def test_an_unknown_drill_is_a_404_page(app, path):
    assert client_as(app, "trainer").get(path).status_code == 404


# -- playing ----------------------------------------------------------------------------------------

def test_a_trainee_plays_the_model_answers_through_the_forms_and_scores_100(app, solution):
    trainer = client_as(app, "trainer")
    session = start(trainer, ["ana"])
    ana = client_as(app, "trainee", "ana")
    page = ana.get(f"/drills/{session}").text
    assert "Story time" in page and "SUP-412: Checkout down for all our shoppers" in page
    assert 'name="csrf_token"' in page and page.count('class="card action ') == 13
    finished = play(ana, session, solution)
    assert finished.status_code == 303
    result = ana.get(f"/drills/{session}").text
    assert re.search(r'id="score">100<small>', result)
    assert "✓ pass" in result and "✗ fail" not in result and "Corrective actions" in result
    assert "enterprise outage is critical" in result                    # who says so, per expectation
    debrief = ana.get(f"/drills/{session}/debrief.md")
    assert debrief.status_code == 200 and debrief.text.startswith("# Drill debrief")
    assert trainer.get("/drills").text.count(f"Result {session}") == 1
    progress = trainer.get("/drills").text.split("Trainees' progress")[1]
    suggested = re.search(r'href="(/drills\?scenario=[^"]+&amp;trainee_0=ana#start)"', progress).group(1)
    form = trainer.get(suggested.replace("&amp;", "&")).text             # the start form, filled in
    assert 'name="trainee_0" list="trainee-users" value="ana"' in form
    chosen = re.search(r'<option value="([^"]+)" selected>', form.split('name="scenario"')[1]).group(1)
    assert chosen == suggested.split("scenario=")[1].split("&")[0] != SCENARIO          # not the one just played


def test_after_two_drills_the_scores_are_charted_for_the_trainee_and_the_trainer(app):
    trainer, ana = client_as(app, "trainer"), client_as(app, "trainee", "ana")
    for drills in (1, 2):
        session = start(trainer, ["ana"])
        post(ana, f"/drills/{session}/finish", {}, f"/drills/{session}")
        if drills == 1:
            assert "<svg" not in ana.get("/drills").text                 # one score is no trend yet
    for client in (ana, trainer):
        page = client.get("/drills").text
        assert 'role="img"' in page and "Scores, drill after drill</title>" in page
        assert "ana, drill 1: 0; ana, drill 2: 0" in page                # the values, for screen readers


def test_a_trainer_runs_a_tabletop_for_a_team_and_each_role_is_scored(app):
    trainer = client_as(app, "trainer")
    session = start(trainer, ["ana", "ben", "cleo"], ["incident_owner", "communications", "scribe"])
    page = f"/drills/{session}"
    assert 'name="by"' in trainer.get(page).text                    # the trainer enters actions for a trainee
    assert post(trainer, f"{page}/actions", {"do": "acknowledge", "by": "ana"}, page).status_code == 303
    refused = post(trainer, f"{page}/actions", {"do": "acknowledge", "by": "zed"}, page)
    assert refused.status_code == 400 and "&#39;zed&#39; does not play in this drill" in refused.text
    post(trainer, f"{page}/finish", {}, page)
    result = trainer.get(page).text
    assert "Score by role" in result and re.search(r"<td>incident owner</td><td>ana</td>", result)


@pytest.mark.parametrize("form, message", [
    ({"do": "owner", "to": "nobody"}, "owner &#39;nobody&#39; is not in the matrix; choose one of"),
    ({"do": "status", "to": "Closed"}, "status: one of Open, In Progress, Waiting for customer"),
    ({"do": "message", "channel": "fax", "template": "ack.md.j2"}, "channel &#39;fax&#39; is not in the matrix"),
    ({"do": "severity"}, "action: &#39;to&#39; is a required property"),
    ({"do": "dance"}, "unknown action &#39;dance&#39;"),
])
def test_a_refused_action_is_shown_on_the_play_page(app, form, message):
    session = start(client_as(app, "trainer"), ["ana"])
    ana = client_as(app, "trainee", "ana")
    answer = post(ana, f"/drills/{session}/actions", form, f"/drills/{session}")
    assert answer.status_code == 400 and 'id="drill-error"' in answer.text and message in answer.text


def test_a_bad_advance_and_an_action_after_the_finish_are_refused_on_the_page(app):
    session = start(client_as(app, "trainer"), ["ana"])
    ana, page = client_as(app, "trainee", "ana"), f"/drills/{session}"
    post(ana, f"{page}/advance", {"how": "to", "to": "+30m"}, page)
    back = post(ana, f"{page}/advance", {"how": "to", "to": "+10m"}, page)
    assert back.status_code == 400 and "time only moves forward" in back.text
    post(ana, f"{page}/finish", {}, page)
    late = post(ana, f"{page}/actions", {"do": "acknowledge"}, page)
    assert late.status_code == 409 and "is finished" in late.text


@pytest.mark.parametrize("form, message", [
    ({"scenario": SCENARIO}, "name at least one trainee"),
    ({"scenario": "../etc/passwd", "trainee_0": "ana"}, "no scenario &#39;../etc/passwd&#39;"),
    ({"scenario": SCENARIO, "trainee_0": "ana", "trainee_1": "ana"}, "ana is named twice"),
    ({"scenario": SCENARIO, "trainee_0": "ana", "role_0": "scribe", "trainee_1": "ben", "role_1": "scribe"},
     "each trainee plays a different role"),
    ({"scenario": SCENARIO, "trainee_0": "ana", "mode": "accelerated", "speed": "fast"}, "speed: a number"),
    ({"scenario": SCENARIO, "trainee_0": "ana", "mode": "warp"}, "mode &#39;warp&#39; is not one of"),
])
def test_a_drill_that_cannot_start_says_why_and_keeps_the_form(app, form, message):
    answer = post(client_as(app, "trainer"), "/drills", {"mode": "step", **form})
    assert answer.status_code == 400 and 'id="start-error"' in answer.text and message in answer.text
    if form.get("trainee_0"):
        assert 'name="trainee_0" list="trainee-users" value="ana"' in answer.text


@pytest.mark.parametrize("scenario", sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml")))
def test_every_shipped_scenario_plays_as_a_tabletop_to_a_result_page(app, scenario):
    trainer = client_as(app, "trainer")
    session = start(trainer, ["ana", "ben"], ["incident_owner", "communications"], scenario=scenario)
    page = f"/drills/{session}"
    assert post(trainer, f"{page}/actions", {"do": "acknowledge", "by": "ana"}, page).status_code == 303
    for _ in range(3):
        assert post(trainer, f"{page}/advance", {"how": "next"}, page).status_code == 303
        assert trainer.get(page).status_code == 200
    assert post(trainer, f"{page}/finish", {}, page).status_code == 303
    result = trainer.get(page)
    assert result.status_code == 200 and 'id="score"' in result.text and "Score by role" in result.text


def test_a_drill_whose_scenario_is_gone_says_so_instead_of_failing(app):
    from plugin.drills_api import drill_sessions
    from plugin.store.drills import DrillSession
    with app.app_context():
        stored = drill_sessions().repo.create(DrillSession("gone.yaml", {"ana": "solo"}, "step", 0.0, START))
    ana = client_as(app, "trainee", "ana")
    for path in (f"/drills/{stored.id}", f"/drills/{stored.id}/live"):
        answer = ana.get(path)
        assert answer.status_code == 409 and "no scenario &#39;gone.yaml&#39;" in answer.text
        assert "start a new drill" in answer.text


def test_the_live_part_refreshes_alone_and_sends_the_browser_on_when_finished(app):
    session = start(client_as(app, "trainer"), ["ana"], mode="accelerated", speed="60")
    ana = client_as(app, "trainee", "ana")
    live = ana.get(f"/drills/{session}/live")
    assert live.status_code == 200 and live.text.startswith('<div id="live"') and "<html" not in live.text
    assert 'hx-trigger="every 5s"' in live.text and "running at 60×" in live.text
    post(ana, f"/drills/{session}/finish", {}, f"/drills/{session}")
    done = ana.get(f"/drills/{session}/live")
    assert done.status_code == 204 and done.headers["HX-Redirect"] == f"/drills/{session}"


def test_text_a_trainee_types_is_shown_escaped_on_the_page_and_in_the_debrief(app):
    session = start(client_as(app, "trainer"), ["ana"])
    ana, page = client_as(app, "trainee", "ana"), f"/drills/{session}"
    post(ana, f"{page}/actions", {"do": "note", "text": HOSTILE, "rationale": HOSTILE}, page)
    for text in (ana.get(page).text, ana.get(f"{page}/live").text):
        assert "<script>alert(1)" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}}" in text
    post(ana, f"{page}/finish", {}, page)
    result = ana.get(page).text
    assert "<script>alert(1)" not in result and "&lt;script&gt;alert(1)&lt;/script&gt; {{7*7}}" in result
