"""`/simulations` and `/api/simulations` in the Flask test client: the kept reports listed and shown in
full (a replay with its rule-change diff), who may read them and who may start a simulation from the
page, the form's limits, and ticket text from a report shown escaped."""
import re
import threading
from datetime import timedelta

import pytest

from plugin.simulation_reports import PageSimulations, report_run, simulate_and_record

from .conftest import RULES, START
from .openapi_check import check_response
from .test_openapi import TOKEN, call, with_token
from .test_web_reviews import csrf_token, log_in

HOSTILE = '<script>alert(1)</script>{{7*7}}'


class Kept:
    """A repository that hands back what it is given: runs a simulation once for the whole module."""

    def record(self, run):
        return run


@pytest.fixture(scope="module")
def simulated():
    """A real small simulation's report, as the page's form would keep it."""
    return simulate_and_record(Kept(), incidents=60, days=2, seed=4, rules=str(RULES), engine="python",
                               created_at=START)


def hostile_replay(simulated):
    """A replay report whose ticket fields carry customer-controlled text."""
    summary = simulated.summary
    candidate = {**summary, "load_by_owner": {HOSTILE: 3, **summary["load_by_owner"]}}
    changed = {f"jira/SUP-{n}": {"severity": ["high", "critical"]} for n in range(250)}
    changed["zendesk/9"] = {"owner": ["support-oncall", HOSTILE], "breaches": [[], ["ack"]]}
    diff = {"tickets": 400, "changed": changed,
            "aggregate": {"breaches": [10, 12], "escalations": [40, 55], "load_by_owner": {HOSTILE: [0, 3]}}}
    params = {"seed": 4, "incidents": 60, "days": 2, "start": "2026-01-05", "baseline": "rules",
              "candidate": "candidate-rules", "engine": "python", "baseline_version": "aaaaaaaaaaaa",
              "candidate_version": "bbbbbbbbbbbb"}
    return report_run("replay", params, {"baseline": summary, "candidate": candidate}, diff,
                      created_at=START + timedelta(hours=1))


def with_page(app):
    """The app with the simulations page, whether or not the dashboard lists it yet."""
    from web.simulations import simulations
    if simulations.name not in app.blueprints:
        app.register_blueprint(simulations)
    return app


@pytest.fixture
def app(make_app):
    return with_page(make_app())


@pytest.fixture
def client(app):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT"] = "text/html,application/xhtml+xml"
    return client


@pytest.fixture
def runs(app):
    return app.extensions["escalator.simulations"].repo


@pytest.fixture
def kept(runs, simulated):
    """A simulation and a replay, kept in the app's database."""
    return runs.record(simulated), runs.record(hostile_replay(simulated))


# -- who may do what --------------------------------------------------------------------------------

def test_a_visitor_who_is_not_logged_in_is_sent_to_the_login_page(client, kept):
    answer = client.get(f"/simulations/{kept[0].id}")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("role, status, form", [
    ("viewer", 200, False), ("trainer", 200, True), ("lead", 200, True), ("admin", 200, True),
    ("trainee", 403, False)])
def test_reading_needs_view_and_the_start_form_shows_to_admins_leads_and_trainers(client, kept, role, status, form):
    log_in(client, role)
    listed = client.get("/simulations")
    assert listed.status_code == status
    assert client.get(f"/simulations/{kept[1].id}").status_code == status
    if status == 200:
        assert ("Start a simulation" in listed.text) is form


def test_a_viewer_cannot_start_a_simulation(client, kept, runs):
    log_in(client, "viewer")
    token = csrf_token(client.get("/simulations").text)
    answer = client.post("/simulations", data={"csrf_token": token, "incidents": "5", "days": "1", "seed": "1"})
    assert answer.status_code == 403 and "trainer" in answer.text
    assert runs.count() == 2


def test_a_start_without_its_csrf_token_is_refused(client, app):
    log_in(client, "lead")
    answer = client.post("/simulations", data={"incidents": "5", "days": "1", "seed": "1"})
    assert answer.status_code == 400 and "CSRF" in answer.text
    assert app.extensions["escalator.simulations"].running is None


# -- the list and a run -----------------------------------------------------------------------------

def test_the_list_shows_each_run_newest_first_with_its_headline_figures(client, kept, simulated):
    log_in(client, "viewer")
    page = client.get("/simulations").text
    simulation, replay = kept
    assert page.index(replay.title) < page.index(simulation.title)
    headline = simulation.summary["headline"]
    row = re.search(rf'<tr>(?:(?!</tr>).)*?/simulations/{simulation.id}".*?</tr>', page, re.S).group(0)
    assert f"{headline['mtta_minutes']} min" in row and f"{headline['mttr_hours']} h" in row
    assert f"{headline['escalation_rate'] * 100:.1f}%" in row and f"{headline['sla_attainment'] * 100:.1f}%" in row
    assert simulation.matrix_version in row and "2026-11-30 09:00 UTC" in row
    assert "251 of 400 tickets decided differently" in page


def test_a_simulation_page_shows_every_figure_of_the_report_with_its_definition(client, kept):
    log_in(client, "viewer")
    simulation = kept[0]
    page = client.get(f"/simulations/{simulation.id}").text
    for title in ("Volume by severity", "Escalation rate by product area", "SLA attainment per timer",
                  "Dwell time per level", "Load per owner", "MTTA (acknowledge)", "MTTR (resolve)"):
        assert title in page
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 5
    for severity, count in simulation.summary["volume_by_severity"].items():
        assert f"{severity}: {count}" in page        # each bar's value is in its description, not colour alone
    ack = simulation.summary["sla_attainment"]["ack"]
    assert f"{ack['met']} / {ack['missed']}" in page
    assert "--incidents 60 --days 2 --start 2026-01-05 --seed 4 --engine python" in page
    assert f"({simulation.details['total']})" in page


def test_a_replay_page_shows_what_changed_per_ticket_with_counts_and_pages(client, kept):
    log_in(client, "viewer")
    replay = kept[1]
    page = client.get(f"/simulations/{replay.id}").text
    assert "251 of 400 tickets decided differently" in page
    assert 'severity</th><td class="num">250<' in page and 'owner</th><td class="num">1<' in page
    assert "Page 1 of 3 (251 tickets)" in page and page.count("<del>high</del> → <ins>critical</ins>") == 100
    last = client.get(f"/simulations/{replay.id}?page=3").text
    assert "zendesk/9" in last and "<del>–</del> → <ins>ack</ins>" in last and "zendesk/9" not in page
    assert "Page 3 of 3" in client.get(f"/simulations/{replay.id}?page=99").text
    owners = client.get(f"/simulations/{replay.id}?field=owner").text
    assert "zendesk/9" in owners and "SUP-1<" not in owners and "(1 tickets)" not in owners
    assert "Deadlines breached</th><td class=\"num\">10</td><td class=\"num\">12" in page


def test_text_from_a_report_is_shown_escaped(client, kept):
    log_in(client, "viewer")
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}"     # shown as typed, never run nor evaluated
    for path in ("/simulations", f"/simulations/{kept[1].id}", f"/simulations/{kept[1].id}?field=owner"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page
    shown = client.get(f"/simulations/{kept[1].id}?field=owner").text
    assert f"<ins>{escaped}</ins>" in shown and f"Load: {escaped}</th>" in shown


@pytest.mark.parametrize("path", ["/simulations/999", "/simulations/99999999999", "/simulations/first"])
def test_an_unknown_run_is_a_404_page(client, kept, path):
    log_in(client, "viewer")
    assert client.get(path).status_code == 404


def test_an_empty_list_says_how_to_fill_it(client):
    log_in(client, "lead")
    page = client.get("/simulations").text
    assert "No reports yet" in page and "escalator simulate" in page


# -- starting one from the page ---------------------------------------------------------------------

def start(client, **values):
    token = csrf_token(client.get("/simulations").text)
    return client.post("/simulations", data={"csrf_token": token, **values})


def test_a_trainer_starts_a_small_simulation_that_runs_in_the_background_and_is_kept(client, app, runs):
    log_in(client, "trainer", "tess")
    answer = start(client, incidents="30", days="1", seed="8")
    assert answer.status_code == 302 and answer.headers["Location"] == "/simulations"
    jobs = app.extensions["escalator.simulations"]
    jobs.wait(timeout=120)
    assert jobs.last["by"] == "tess" and "error" not in jobs.last, jobs.last
    [run] = runs.page()
    assert jobs.last["run"] == run.id and run.title == "Simulation: 30 incidents over 1 day, seed 8"
    assert run.params == {"seed": 8, "incidents": 30, "days": 1, "start": "2026-01-05", "rules": str(RULES),
                          "engine": "python", "started_by": "tess"}
    assert "(started from this page by tess)" in client.get(f"/simulations/{run.id}").text


@pytest.mark.parametrize("values, problem", [
    ({"incidents": "2001", "days": "7", "seed": "1"}, "incidents must be a whole number from 1 to 2,000"),
    ({"incidents": "0", "days": "7", "seed": "1"}, "incidents must be a whole number from 1 to 2,000"),
    ({"incidents": "ten", "days": "7", "seed": "1"}, "incidents must be a whole number from 1 to 2,000"),
    ({"incidents": "10", "days": "32", "seed": "1"}, "days must be a whole number from 1 to 31"),
    ({"incidents": "10", "days": "7", "seed": "-3"}, "seed must be a whole number from 0 to 2147483647"),
    ({"incidents": "10", "days": "7", "seed": "１"}, "seed must be a whole number"),
])
def test_a_simulation_outside_the_limits_is_refused_beside_the_form_with_what_was_typed(client, app, values, problem):
    log_in(client, "lead")
    answer = start(client, **values)
    assert answer.status_code == 400 and problem in answer.text
    assert f'name="incidents" inputmode="numeric" size="6" required value="{values["incidents"]}"' in answer.text
    assert app.extensions["escalator.simulations"].running is None


def test_a_second_simulation_waits_for_the_first(client, app, runs):
    release = threading.Event()

    def slow(repo, **asked):
        release.wait(30)
        params = {name: asked[name] for name in ("incidents", "days", "seed")}
        return repo.record(report_run("simulate", params,
                                      {"sla_attainment": {}, "matrix_version": "x"}, {"tickets": {}},
                                      created_at=asked["created_at"]))
    jobs = PageSimulations(runs, str(RULES), app.extensions["escalator"].clock.now, run=slow)
    app.extensions["escalator.simulations"] = jobs
    log_in(client, "admin")
    assert start(client, incidents="10", days="1", seed="1").status_code == 302
    listed = client.get("/simulations").text
    assert "Running: 10 incidents over 1 day, seed 1,\n  started by admin" in listed
    refused = start(client, incidents="10", days="1", seed="2")
    assert refused.status_code == 409 and "still running" in refused.text
    assert 'hx-trigger="every 3s"' in listed, "the list fetches itself while one runs"
    release.set()
    jobs.wait(timeout=30)
    assert runs.count() == 1 and jobs.running is None
    assert "hx-trigger" not in client.get("/simulations").text, "and stops once none runs"
    empty = client.get(f"/simulations/{runs.page()[0].id}")      # a run that measured nothing reads as such
    assert empty.status_code == 200 and empty.text.count("Nothing to show.") == 5
    assert '<td class="num">–</td>' in empty.text


def test_a_failed_simulation_is_said_on_the_list(client, app, runs):
    def broken(repo, **asked):
        raise RuntimeError("the matrix moved\nsecond line")
    app.extensions["escalator.simulations"] = PageSimulations(runs, str(RULES),
                                                              app.extensions["escalator"].clock.now, run=broken)
    log_in(client, "lead")
    start(client, incidents="10", days="1", seed="1")
    app.extensions["escalator.simulations"].wait(timeout=30)
    assert "failed: RuntimeError: the matrix moved" in client.get("/simulations").text


# -- JSON -------------------------------------------------------------------------------------------

@pytest.fixture
def script(make_app, simulated):
    """A client with the API token, as a script calls /api, and the two kept runs."""
    app = with_page(make_app(api_token=TOKEN))
    repo = app.extensions["escalator.simulations"].repo
    return with_token(app), (repo.record(simulated), repo.record(hostile_replay(simulated)))


def test_the_api_lists_runs_a_page_at_a_time_without_details(script):
    client, (simulation, replay) = script
    body = call(client, "GET", "/api/simulations?limit=1", 200)
    assert body["total"] == 2 and body["limit"] == 1 and [r["id"] for r in body["runs"]] == [replay.id]
    assert "details" not in body["runs"][0]
    assert [r["id"] for r in call(client, "GET", "/api/simulations?limit=1&offset=1", 200)["runs"]] == [simulation.id]
    clamped = call(client, "GET", "/api/simulations?limit=5000&offset=-4", 200)
    assert clamped["limit"] == 100 and clamped["offset"] == 0 and len(clamped["runs"]) == 2
    refused = call(client, "GET", "/api/simulations?offset=x", 400)
    assert refused["error"] == "offset must be a whole number, e.g. offset=20"


def test_the_api_gives_a_run_in_full_as_described(script):
    client, runs = script
    for run in runs:
        body = call(client, "GET", f"/api/simulations/{run.id}", 200)
        assert body["kind"] == run.kind and body["details"] == run.details and body["summary"] == run.summary


@pytest.mark.parametrize("run_id", [999, 99999999999])
def test_the_api_answers_404_for_an_unknown_run(script, run_id):
    client, _ = script
    assert "GET /api/simulations" in call(client, "GET", f"/api/simulations/{run_id}", 404)["error"]


def test_the_api_refuses_a_trainee_and_a_stranger_but_a_viewer_reads_it(app, kept):
    log_in(app.test_client(), "lead")        # once anyone can log in, /api asks who it is
    answers = {}
    for role in ("stranger", "trainee", "viewer"):
        client = app.test_client()
        if role != "stranger":
            log_in(client, role)
        answers[role] = check_response(client.get("/api/simulations"), "GET", "/api/simulations")
    assert [answers[role].status_code for role in ("stranger", "trainee", "viewer")] == [401, 403, 200]
    assert [r["id"] for r in answers["viewer"].get_json()["runs"]] == [kept[1].id, kept[0].id]
