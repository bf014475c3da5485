"""Schemathesis against the API's own description (`/api/openapi.json`), on an app with data in it.

For every operation it generates requests from the description, valid and invalid, and holds each
answer to it: never a 5xx, only documented status codes, the documented content type, and a body that
matches the documented schema. The data (decided tickets, a review, drills) makes the generated ids
hit real records some of the time, so the success paths are checked too, not only the 404s.
"""
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from plugin import bootstrap
from plugin.app import create_app
from plugin.domain.clock import FixedClock
from plugin.platforms.jira import sign_jira
from plugin.settings import Settings
from web.openapi import spec

from .conftest import RULES, START, scratch_postgres
from .test_webhooks import outage_payload

TOKEN = "schemathesis-t0ken"
SECRET = "schemathesis-Secret"
SCENARIO = "01-checkout-outage-unacknowledged.yaml"
# Not positive_data_acceptance: a valid request may still name a scenario, an owner or a drill time that does
# not exist, and those documented 400s (unknown scenario, unknown owner, a drill clock moved backwards, a
# period past 366 days) depend on the data, not on the shape the description can state.
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def seed(client) -> None:
    """Tickets decided from signed deliveries (each with its review), a drill in progress and a finished one."""
    for number in range(1, 4):
        body = json.dumps(outage_payload(f"SUP-{number}")).encode()
        answer = client.post("/webhooks/jira", data=body, content_type="application/json",
                             headers={"X-Hub-Signature": sign_jira(body, SECRET),
                                      "X-Atlassian-Webhook-Identifier": f"seed-{number}"})
        assert answer.status_code == 202, answer.json
    assert client.application.extensions["escalator"].processor.drain() == 3
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for trainees in ({"ana": "solo"}, {"ben": "solo"}):
        answer = client.post("/api/drills", json={"scenario": SCENARIO, "trainees": trainees}, headers=bearer)
        assert answer.status_code == 201, answer.json
    assert client.post("/api/drills/2/finish", headers=bearer).status_code == 200
    action = {"title": "Canary every checkout deploy", "owner": "platform-sre", "due": "2026-12-04"}
    assert client.post("/api/reviews/1/actions", json=action, headers=bearer).status_code == 201


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    container = bootstrap.build(Settings(rules=str(RULES), data_dir=str(tmp_path_factory.mktemp("schemathesis")),
                                         jira_webhook_secret=SECRET, api_token=TOKEN),
                                clock=FixedClock(START), clients={})
    app = create_app(container)
    app.config["TESTING"] = True
    seed(app.test_client())
    return app


# The document the app serves at /api/openapi.json (test_openapi proves they are equal); loaded from the
# dict, since schemathesis' fixture-based loader does not run under this pytest.
schema = schemathesis.openapi.from_dict(spec())
# Ids of records `seed` made: random ids would almost always miss them and test only the 404s.
SEEDED = {"platform": "jira", "key": "SUP-1", "review_id": 1, "number": 1, "session_id": 1, "name": "ana",
          "kind": "md", "run_id": 1, "draft_id": 1}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Half of the cases ask for seeded records."""
    if not path_parameters:
        return st.just(path_parameters)
    seeded = {**path_parameters, **{name: SEEDED[name] for name in path_parameters if name in SEEDED}}
    return st.sampled_from([path_parameters, seeded])


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
def test_every_operation_answers_as_described(app, case):
    case.call_and_validate(app=app, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS)


# -- what schemathesis found, kept as plain regression tests --------------------------------------------

HUGE_IDS = [("POST", "/api/outbox/{}/retry"), ("GET", "/api/drills/{}"), ("GET", "/api/reviews/{}"),
            ("GET", "/api/simulations/{}"), ("GET", "/api/drafts/{}")]


@pytest.fixture(scope="module")
def postgres_app(tmp_path_factory):
    from plugin.store.sql import SqlStore
    with scratch_postgres("schemathesis") as url:
        store = SqlStore(url)
        container = bootstrap.build(Settings(rules=str(RULES), data_dir=str(tmp_path_factory.mktemp("pg")),
                                             api_token=TOKEN), clock=FixedClock(START), clients={}, store=store)
        yield create_app(container)
        store.dispose()


@pytest.mark.parametrize("method, path", HUGE_IDS)
@pytest.mark.parametrize("backend, number", [("app", 2**63), ("postgres_app", 2**31)],
                         ids=["past SQLite's integer", "past PostgreSQL's integer"])
def test_an_id_past_the_database_integer_is_a_404(request, backend, number, method, path):
    """The database refuses to compare such a number: that was a 503 for POST /api/outbox/<id>/retry."""
    client = request.getfixturevalue(backend).test_client()
    answer = client.open(path.format(number), method=method, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404 and str(number) in answer.json["error"], answer.get_data()
