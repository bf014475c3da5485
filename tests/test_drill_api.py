"""Drills over HTTP (/api/drills, /api/trainees) and their storage on SQLite and PostgreSQL."""
import re
from datetime import timedelta

import pytest
import requests

from plugin.store.drills import FINISHED, DrillNotFound, DrillRepository, DrillSession
from plugin.store.sql import SqlStore
from simulator.drills.scoring import _action_json
from simulator.drills.solution import solve
from simulator.scenarios import load_scenario

from .conftest import ROOT, RULES, START, fresh_postgres_store
from .test_serve import serve  # noqa: F401 - the fixture

SCENARIO = "01-checkout-outage-unacknowledged.yaml"


@pytest.fixture(scope="module")
def solution():
    """The matrix's own answers as API bodies: (offset, action)."""
    actions = solve(load_scenario(ROOT / "scenarios" / SCENARIO), RULES)
    return [(body.pop("at"), body) for body in map(_action_json, actions)]


@pytest.fixture
def client(make_app):
    return make_app(clients={}).test_client()


def start(client, **body):
    answer = client.post("/api/drills", json={"scenario": SCENARIO, "trainees": {"ana": "solo"}, **body})
    assert answer.status_code == 201, answer.json
    return answer.json["session"]["id"]


def play(post, base, solution):
    for at, action in solution:
        assert post(f"{base}/advance", {"to": at}).status_code == 200
        answer = post(f"{base}/actions", action)
        assert answer.status_code == 201, answer.json
    return post(f"{base}/finish", {})


# -- the flow ---------------------------------------------------------------------------------------

def test_the_catalogue_lists_scenarios_with_difficulty_and_objectives(client):
    start(client)
    body = client.get("/api/drills").json
    first = next(s for s in body["scenarios"] if s["file"] == SCENARIO)
    assert first["difficulty"] in ("beginner", "intermediate", "advanced") and first["objectives"]
    assert first["name"] and first["description"]
    assert [s["scenario"] for s in body["sessions"]] == [SCENARIO]


def test_the_solution_played_over_the_api_scores_100_and_joins_the_history(client, solution):
    session = start(client)
    result = play(lambda path, body: client.post(path, json=body), f"/api/drills/{session}", solution)
    assert result.status_code == 200 and result.json["score"] == 100.0
    assert all(e["passed"] for e in result.json["expectations"])
    shown = client.get(f"/api/drills/{session}").json
    assert shown["session"]["status"] == FINISHED and shown["result"]["score"] == 100.0
    progress = client.get("/api/trainees/ana").json
    assert progress["drills"] == 1 and progress["scores"][0]["score"] == 100.0
    assert set(progress["objectives"]) == set(result.json["objectives"])
    assert client.get("/api/trainees").json == {"trainees": [{"name": "ana", "drills": 1}]}


def test_a_session_read_back_is_the_drill_as_it_was_answered(client, solution):
    session = start(client)
    client.post(f"/api/drills/{session}/advance", json={"to": "+2m"})
    answered = client.post(f"/api/drills/{session}/actions", json={"do": "severity", "to": "high",
                                                                   "rationale": "looks contained"}).json
    assert answered["action"] == {"at": "+2m", "do": "severity", "to": "high", "ticket": "SUP-412", "by": "ana",
                                  "rationale": "looks contained"}
    assert client.get(f"/api/drills/{session}").json["state"] == answered["state"]
    assert answered["state"]["tickets"][0]["decided"] == {"severity": "high"}


def test_step_mode_moves_only_when_told(client, clock):
    session = start(client)
    clock.advance(timedelta(hours=1))
    assert client.get(f"/api/drills/{session}").json["state"]["now"] == "+0m"
    upcoming = client.get(f"/api/drills/{session}").json["state"]["next_inject"]
    moved = client.post(f"/api/drills/{session}/advance", json={"next": True}).json["state"]
    assert moved["now"] == upcoming
    assert client.post(f"/api/drills/{session}/advance", json={"by": "5m"}).json["state"]["now"] != upcoming


@pytest.mark.parametrize("mode, speed, wall, expected", [
    ("realtime", None, timedelta(minutes=7), "+7m"),
    ("accelerated", 10, timedelta(minutes=3), "+30m"),
    ("accelerated", 3600, timedelta(hours=1), "+3h"),        # capped at the end of the story
])
def test_running_drills_follow_the_wall_clock(client, clock, mode, speed, wall, expected):
    session = start(client, mode=mode, **({"speed": speed} if speed else {}))
    clock.advance(wall)
    assert client.get(f"/api/drills/{session}").json["state"]["now"] == expected


def test_an_accelerated_drill_skipped_ahead_keeps_running_from_there(client, clock):
    session = start(client, mode="accelerated", speed=10)
    client.post(f"/api/drills/{session}/advance", json={"to": "+1h"})
    clock.advance(timedelta(minutes=1))
    assert client.get(f"/api/drills/{session}").json["state"]["now"] == "+1h10m"


# -- errors: always JSON, never a 500 ---------------------------------------------------------------

BAD = [
    ("post", "/api/drills", {"scenario": "../rules/matrix"}, 400, "no scenario '../rules/matrix'"),
    ("post", "/api/drills", {"scenario": SCENARIO, "mode": "fast"}, 400, "mode 'fast' is not one of"),
    ("post", "/api/drills", {"scenario": SCENARIO, "mode": "accelerated", "speed": -1}, 400, "speed:"),
    ("post", "/api/drills", {"scenario": SCENARIO, "trainees": {"ana": "boss"}}, 400, "a role is one of"),
    ("post", "/api/drills", {}, 400, "scenario: a non-empty string"),
    ("post", "/api/drills", ["not", "an", "object"], 400, "send a JSON object"),
    ("post", "{drill}/actions", {"do": "severity", "to": "sev0"}, 400, "severity 'sev0' is not in the matrix"),
    ("post", "{drill}/actions", {"do": "dance"}, 400, "do: 'dance' is not one of"),
    ("post", "{drill}/actions", {"do": "note", "ticket": "NOPE-1"}, 400, "there is no ticket NOPE-1"),
    ("post", "{drill}/actions", {"do": "note", "at": "+1h"}, 400, "leave out `at`"),
    ("post", "{drill}/advance", {}, 400, "say how far"),
    ("post", "{drill}/advance", {"to": "soon"}, 400, "to:"),
    ("post", "{drill}/advance", {"by": "99999999999999999999d"}, 400, "by:"),
    ("get", "/api/drills/4242", None, 404, "no drill session 4242"),
    ("get", "/api/drills/99999999999999999999999", None, 404, "no drill session"),
    ("get", "{drill}/debrief.md", None, 409, "still playing"),
    ("post", "/api/drills/4242/finish", None, 404, "no drill session 4242"),
]


@pytest.mark.parametrize("method, path, body, status, error", BAD)
def test_bad_drill_requests_are_answered_with_what_to_send(client, method, path, body, status, error):
    path = path.format(drill=f"/api/drills/{start(client)}")
    answer = getattr(client, method)(path, json=body) if body is not None else getattr(client, method)(path)
    assert answer.status_code == status and error in answer.json["error"]


def test_a_finished_drill_takes_no_more_actions(client):
    session = start(client)
    client.post(f"/api/drills/{session}/finish")
    for path, body in (("actions", {"do": "acknowledge"}), ("advance", {"next": True}), ("finish", {})):
        answer = client.post(f"/api/drills/{session}/{path}", json=body)
        assert answer.status_code == 409 and "is finished" in answer.json["error"]


def test_drills_take_the_api_token(make_app):
    client = make_app(clients={}, api_token="s3cret").test_client()
    assert client.get("/api/drills").status_code == 401
    assert client.get("/api/trainees/ana", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_the_debrief_of_a_finished_drill(client):
    session = start(client)
    client.post(f"/api/drills/{session}/finish")
    markdown = client.get(f"/api/drills/{session}/debrief.md")
    html = client.get(f"/api/drills/{session}/debrief.html")
    assert markdown.status_code == 200 and markdown.mimetype == "text/markdown"
    assert html.status_code == 200 and html.mimetype == "text/html" and "<html" in html.get_data(as_text=True)


# -- storage ------------------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request, tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/d.db") if request.param == "sqlite" else fresh_postgres_store()
    yield DrillRepository(store.engine)
    store.dispose()


def result(score, **trainees):
    return {"file": SCENARIO, "score": score, "trainees": trainees, "roles": {}, "actions": [],
            "objectives": {"severity": {"earned": 3 if score else 0, "possible": 3}}, "expectations": []}


def test_sessions_are_stored_changed_and_read_back(repo):
    made = repo.create(DrillSession(SCENARIO, {"ana": "solo"}, "accelerated", 10.0, START))
    changed = repo.change(made.id, lambda s: DrillSession(**{**s.__dict__, "offset_seconds": 90.0,
                                                             "actions": [{"at": "+1m", "do": "acknowledge"}]}))
    assert repo.get(made.id) == changed
    assert repo.get(made.id).actions == [{"at": "+1m", "do": "acknowledge"}]
    assert repo.get(made.id).started_at == START
    with pytest.raises(DrillNotFound):
        repo.get(made.id + 1)
    assert [s.id for s in repo.recent()] == [made.id]


def test_finished_drills_are_each_trainees_history(repo):
    later = START + timedelta(days=1)
    second = repo.record(result(100.0, ana="solo"), {"ana": "solo"}, later)
    first = repo.record(result(0.0, ana="incident_owner", ben="communications"),
                        {"ana": "incident_owner", "ben": "communications"}, START)
    repo.create(DrillSession(SCENARIO, {"cy": "solo"}, "step", 0.0, START))        # still playing: no history
    assert [s.id for s in repo.history("ana")] == [first, second]
    assert [s.id for s in repo.history("ben")] == [first]
    assert repo.history("cy") == []
    assert repo.trainees() == {"ana": 2, "ben": 1}


# -- through the real server ------------------------------------------------------------------------

COUNTERS = re.compile(r"^(escalator_(?:deliveries|decided|writebacks)_total|escalator_\w+_lag_seconds_count)"
                      r"(\{[^}]*\})? (\S+)$", re.M)


def counters(base: str) -> dict:
    return {m[1] + (m[2] or ""): m[3] for m in COUNTERS.finditer(requests.get(base + "/metrics", timeout=10).text)}


def test_a_drill_played_on_the_server_never_reaches_jira_or_the_metrics(serve, httpserver, solution):  # noqa: F811
    httpserver.expect_request("/rest/api/3/issue/SUP-412", method="PUT").respond_with_data("", status=204)
    base = serve(ESCALATOR_JIRA_BASE_URL=httpserver.url_for("/").rstrip("/"), ESCALATOR_JIRA_EMAIL="bot@example.com",
                 ESCALATOR_JIRA_API_TOKEN="tok", ESCALATOR_API_TOKEN="s3cret")
    auth = {"Authorization": "Bearer s3cret"}
    assert "jira" not in requests.get(base + "/healthz", timeout=10).json()["dry_run"]     # write-back is live
    before = counters(base)
    assert before["escalator_decision_lag_seconds_count"] == "0.0"     # the scrape reads the counters
    created = requests.post(base + "/api/drills", json={"scenario": SCENARIO, "trainees": {"ana": "solo"}},
                            headers=auth, timeout=30)
    assert created.status_code == 201
    drill = f"{base}/api/drills/{created.json()['session']['id']}"
    finished = play(lambda path, body: requests.post(path, json=body, headers=auth, timeout=30), drill, solution)
    assert finished.status_code == 200 and finished.json()["score"] == 100.0
    assert len(finished.json()["actions"]) == len(solution)     # the drill ran: every action of the solution
    assert httpserver.log == []
    assert counters(base) == before
    assert requests.get(f"{base}/api/trainees/ana", headers=auth, timeout=30).json()["drills"] == 1


def test_a_logged_in_trainee_acts_only_as_themself_and_the_debrief_page_runs_no_script(make_app):
    from plugin.passwords import hash_password
    from plugin.store.users import UserStore
    app = make_app()
    container = app.extensions["escalator"]
    users = UserStore(container.store.engine)
    for name, role in (("tia", "trainee"), ("trey", "trainer")):
        users.add(name, role, hash_password("long enough password"), container.clock.now())

    def logged_in(name):
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/login", data={"name": name, "password": "long enough password", "csrf_token": token})
        page = client.get("/drills").get_data(as_text=True)      # the login began a new session and token
        return client, {"X-CSRFToken": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)}

    trainer, trainer_headers = logged_in("trey")
    scenario = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))[0]
    started = trainer.post("/api/drills", json={"scenario": scenario, "trainees": {"tia": "incident_owner",
                                                                                   "tom": "communications"},
                                               "mode": "step"}, headers=trainer_headers)
    assert started.status_code == 201, started.json
    session_id = started.json["session"]["id"]
    trainee, headers = logged_in("tia")
    refused = trainee.post(f"/api/drills/{session_id}/actions", json={"do": "note", "text": "x", "by": "tom"},
                           headers=headers)
    assert refused.status_code == 400 and "you play this drill as tia" in refused.json["error"]
    taken = trainee.post(f"/api/drills/{session_id}/actions", json={"do": "note", "text": "x"}, headers=headers)
    assert taken.status_code == 201 and taken.json["action"]["by"] == "tia"
    assert trainer.post(f"/api/drills/{session_id}/finish", headers=trainer_headers).status_code == 200
    debrief = trainee.get(f"/api/drills/{session_id}/debrief.html")
    csp = debrief.headers["Content-Security-Policy"]
    assert debrief.status_code == 200 and "default-src 'none'" in csp and "script" not in csp
