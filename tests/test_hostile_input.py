"""Hostile webhook input: random, mutated and extreme bodies, signed so that they reach the parsers.

The promise under test: no body produces a 500 or a 503 (a 503 makes the sender retry the same body
forever); every refusal is JSON with a readable `error` and stores nothing; whatever is accepted is
decided by the processor without an error, on SQLite and on PostgreSQL.
"""
import json
from datetime import UTC

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin import bootstrap
from plugin.app import create_app
from plugin.domain.clock import FixedClock
from plugin.domain.errors import AnomalousPayload, UnsupportedEvent
from plugin.domain.ticket import TicketEvent
from plugin.intake import load_json
from plugin.platforms import PLATFORMS, parse
from plugin.platforms.jira import sign_jira
from plugin.platforms.zendesk import sign_zendesk
from plugin.settings import Settings

from .conftest import FIXTURES, RULES, START, scratch_postgres
from .strategies import any_text, json_values, mutated

SECRET = "hostile-Secret-k2Vd"
FIXTURE_FILES = sorted(FIXTURES.glob("*/*.json"))
REAL = [(path.parent.name, json.loads(path.read_text())) for path in FIXTURE_FILES]
JIRA_CREATED = json.loads((FIXTURES / "jira" / "mattermost__webhook-issue-created.json").read_text())
ZENDESK_RATED = json.loads((FIXTURES / "zendesk" / "escalator__trigger_body__satisfaction_rated.json").read_text())
ANSWERED = {"accepted", "duplicate", "ignored"}
QUICK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build_app(data_dir, store=None):
    container = bootstrap.build(Settings(rules=str(RULES), data_dir=str(data_dir), jira_webhook_secret=SECRET,
                                         zendesk_webhook_secret=SECRET),
                                clock=FixedClock(START), store=store)
    app = create_app(container)
    app.config["TESTING"] = True
    return app


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    """One app for every example: building one per example would dominate the run."""
    return build_app(tmp_path_factory.mktemp("hostile")).test_client()


def signed(platform: str, body: bytes) -> dict:
    """The headers the platform would send with `body`, signed with the configured secret."""
    if platform == "jira":
        return {"X-Hub-Signature": sign_jira(body, SECRET)}
    signature, stamp = sign_zendesk(body, SECRET, START.astimezone(UTC).timestamp())
    return {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def newest_delivery(client) -> dict:
    deliveries = client.get("/api/deliveries?limit=1").json["deliveries"]
    return deliveries[0] if deliveries else {"id": 0}


def post(client, platform: str, body: bytes, content_type: str = "application/json"):
    """Post a signed body and hold the answer to the contract; then the processor decides what was stored."""
    before = newest_delivery(client)
    answer = client.post(f"/webhooks/{platform}", data=body, content_type=content_type,
                         headers=signed(platform, body))
    assert answer.status_code in (202, 400, 413, 415), (answer.status_code, answer.get_data()[:300])
    assert answer.is_json, answer.get_data()[:300]
    if answer.status_code == 202:
        assert answer.json["status"] in ANSWERED
    else:
        assert isinstance(answer.json["error"], str) and len(answer.json["error"]) > 20, answer.json
        assert newest_delivery(client)["id"] == before["id"], "a refused delivery was stored"
    client.application.extensions["escalator"].processor.drain()     # raises if a stored event cannot be decided
    if answer.json.get("status") == "accepted":
        assert newest_delivery(client)["status"] == "decided"
    return answer


def as_body(value) -> bytes:
    return json.dumps(value).encode()


# -- through the endpoints ---------------------------------------------------------------------------

@QUICK
@given(platform=st.sampled_from(sorted(PLATFORMS)), value=json_values)
def test_random_json_is_answered_202_or_400_never_a_server_error(client, platform, value):
    post(client, platform, as_body(value))


@QUICK
@given(data=st.data(), real=st.sampled_from(REAL))
def test_mutated_real_payloads_are_answered_and_decided_without_an_error(client, data, real):
    platform, payload = real
    post(client, platform, as_body(data.draw(mutated(payload))))


@QUICK
@given(platform=st.sampled_from(sorted(PLATFORMS)), body=st.binary(max_size=400))
def test_random_bytes_are_answered_202_or_400(client, platform, body):
    post(client, platform, body)


def jira_with(key="SUP-7", user=None, **fields) -> bytes:
    payload = json.loads(json.dumps(JIRA_CREATED))
    payload["issue"]["key"] = key
    payload["issue"]["fields"].update(fields)
    if user is not None:
        payload["user"] = {"accountId": user}
    return as_body(payload)


def zendesk_rated(rating) -> bytes:
    return as_body({**ZENDESK_RATED, "satisfaction": {**ZENDESK_RATED["satisfaction"], "rating": rating}})


def nested(depth: int, opener: bytes, closer: bytes, inner: bytes = b"1") -> bytes:
    return opener * depth + inner + closer * depth


EXTREMES = [
    # (id, platform, body, status, what the error says)
    ("empty body", "jira", b"", 400, "not valid JSON"),
    ("only whitespace", "zendesk", b" \r\n\t", 400, "not valid JSON"),
    ("invalid UTF-8", "jira", b'{"webhookEvent": "\xff\xfe"}', 400, "not valid JSON"),
    ("truncated", "zendesk", as_body(ZENDESK_RATED)[:-7], 400, "not valid JSON"),
    ("100000 nested lists", "jira", nested(100_000, b"[", b"]"), 400, "deeper than 64 levels"),
    ("100000 nested objects", "zendesk", nested(100_000, b'{"a":', b"}"), 400, "deeper than 64 levels"),
    ("a number of 5000 digits", "jira", b'{"webhookEvent": "jira:issue_created", "timestamp": ' + b"9" * 5000 + b"}",
     400, "not valid JSON"),
    ("a JSON string as the body", "zendesk", b'"zen:event-type:ticket.created"', 400, "expected"),
    ("null as the body", "jira", b"null", 400, "expected a JSON object from Jira, found null"),
    ("a key with NUL", "jira", jira_with("SUP\u00007"), 400, "its ticket key 'SUP\\x007' is not printable text"),
    ("a key with half a UTF-16 pair", "jira", jira_with("SUP-\ud800"), 400, "is not printable text"),
    ("a key of 65 characters", "jira", jira_with("S" * 65), 400, "is longer than 64 characters"),
    ("an actor of 129 characters", "jira", jira_with(user="u" * 129), 400, "its actor"),
    ("an actor with NUL", "jira", jira_with(user="bot\u0000"), 400, "its actor 'bot\\x00' is not printable text"),
    ("over the size limit", "jira", jira_with(description="x" * 1_100_000), 413, "larger than the limit"),
    ("a form body", "jira", b"webhookEvent=jira%3Aissue_created", 415, "expected a JSON body"),
]


@pytest.mark.parametrize("platform, body, status, message", [case[1:] for case in EXTREMES],
                         ids=[case[0] for case in EXTREMES])
def test_extreme_bodies_are_refused_with_a_clear_error(client, platform, body, status, message):
    content_type = "application/x-www-form-urlencoded" if status == 415 else "application/json"
    answer = post(client, platform, body, content_type)
    assert answer.status_code == status and message in answer.json["error"], answer.json


@pytest.mark.parametrize("content_type", ["text/plain", "", "application/jsonp", "multipart/form-data"])
def test_a_body_that_is_not_declared_json_is_415(client, content_type):
    answer = post(client, "zendesk", as_body(ZENDESK_RATED), content_type)
    assert answer.status_code == 415 and "Content-Type: application/json" in answer.json["error"]


ODD_BUT_ACCEPTABLE = [
    # (id, platform, body): not what a platform sends, but harmless to take; each must be decided cleanly.
    ("NaN and Infinity tokens", "jira",
     jira_with().replace(b'"timestamp": ', b'"timestamp": NaN, "x": Infinity, "y": ')),
    ("a float past the double range", "jira", jira_with().replace(b'"timestamp": ', b'"x": 1e400, "timestamp": ')),
    ("a rating of NaN", "zendesk", zendesk_rated("NaN")),
    ("a rating of Infinity", "zendesk", zendesk_rated("-Infinity")),
    ("a rating of 1e400", "zendesk", zendesk_rated("1e400")),
    ("duplicate keys, the last wins", "jira", jira_with().replace(b"{", b'{"webhookEvent": "sprint_started", ', 1)),
    ("a summary of 900000 characters", "jira", jira_with(summary="outage " * 130_000)),
    ("text with NUL and half a UTF-16 pair", "jira",
     jira_with(summary="down\u0000\ud800", description="\udfff" * 50, labels=["x\u0000y", "\ud83d"])),
    ("a UTF-16 body", "jira", jira_with().decode().encode("utf-16")),
    ("a UTF-8 byte order mark", "zendesk", b"\xef\xbb\xbf" + zendesk_rated("Good")),
    ("every field retyped to a number", "zendesk",
     as_body({**ZENDESK_RATED, "ticket": {key: 7 for key in ZENDESK_RATED["ticket"]}})),
]


@pytest.mark.parametrize("platform, body", [case[1:] for case in ODD_BUT_ACCEPTABLE],
                         ids=[case[0] for case in ODD_BUT_ACCEPTABLE])
def test_odd_but_harmless_bodies_are_taken_and_decided(client, platform, body):
    assert post(client, platform, body).status_code == 202


# -- the same on PostgreSQL, which refuses what SQLite stores (NUL, NaN in JSON, over-long text) ----------

@pytest.fixture(scope="module")
def postgres_client(tmp_path_factory):
    from plugin.store.sql import SqlStore
    with scratch_postgres("hostile") as url:
        store = SqlStore(url)
        yield build_app(tmp_path_factory.mktemp("hostile-pg"), store).test_client()
        store.dispose()


@pytest.mark.parametrize("platform, body, status", [
    *[(case[1], case[2], case[3]) for case in EXTREMES if case[3] == 400],
    *[(case[1], case[2], 202) for case in ODD_BUT_ACCEPTABLE],
], ids=[case[0] for case in EXTREMES if case[3] == 400] + [case[0] for case in ODD_BUT_ACCEPTABLE])
def test_postgresql_stores_and_decides_the_same_bodies(postgres_client, platform, body, status):
    assert post(postgres_client, platform, body).status_code == status


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), real=st.sampled_from(REAL))
def test_postgresql_decides_mutated_real_payloads(postgres_client, data, real):
    platform, payload = real
    post(postgres_client, platform, as_body(data.draw(mutated(payload))))


# -- the parsers, directly ------------------------------------------------------------------------------

def parsed_or_refused(platform: str, payload, headers=None):
    """What a parser may do with any decoded JSON: an event, None, or one of the two refusals."""
    try:
        result = parse(platform, payload, headers)
    except (AnomalousPayload, UnsupportedEvent) as refusal:
        assert str(refusal), "a refusal without a message"
        return refusal
    assert result is None or isinstance(result, TicketEvent)
    return result


@settings(max_examples=150, deadline=None)
@given(platform=st.sampled_from(sorted(PLATFORMS)), payload=json_values,
       headers=st.dictionaries(st.sampled_from(["X-Escalator-Token", "User-Agent", "X-Atlassian-Webhook-Flags"]),
                               any_text, max_size=2))
def test_parsers_take_any_json_value(platform, payload, headers):
    parsed_or_refused(platform, payload, headers)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), real=st.sampled_from(REAL))
def test_parsers_take_any_mutation_of_a_real_payload(data, real):
    platform, payload = real
    parsed_or_refused(platform, data.draw(mutated(payload)))


@pytest.mark.parametrize("platform, payload", REAL, ids=[path.name for path in FIXTURE_FILES])
def test_the_unmutated_fixtures_parse(platform, payload):
    """The mutations start from payloads the parsers take, so a refusal above is the mutation's doing."""
    assert not isinstance(parsed_or_refused(platform, payload), AnomalousPayload)


@settings(max_examples=150, deadline=None)
@given(body=st.binary(max_size=300) | json_values.map(as_body))
def test_decoding_any_bytes_gives_json_or_a_refusal(body):
    try:
        load_json(body)
    except AnomalousPayload as refusal:
        assert "JSON" in str(refusal)


# -- headers -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["client", "postgres_client"], ids=["sqlite", "postgresql"])
@pytest.mark.parametrize("delivery", ["nul-\u0000-in-the-id", "x" * 10_000, "\u00e9\u007f\u0001"],
                         ids=["NUL", "10000 characters", "control characters"])
def test_an_odd_delivery_id_is_stored_and_still_tells_a_redelivery(request, backend, delivery):
    client = request.getfixturevalue(backend)
    body = jira_with(key=f"ODD-{len(delivery)}")
    headers = {**signed("jira", body), "X-Atlassian-Webhook-Identifier": delivery}
    answers = [client.post("/webhooks/jira", data=body, content_type="application/json", headers=headers)
               for _ in range(2)]
    assert [(a.status_code, a.json["status"]) for a in answers] == [(202, "accepted"), (202, "duplicate")]
