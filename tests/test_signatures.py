"""Webhook authenticity: Jira's X-Hub-Signature and Automation token, Zendesk's timestamped signature;
checked alone and through the endpoint, where every refusal is a JSON 401 that stores nothing."""
import ast
import base64
import hmac
import re
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from plugin.platforms import PLATFORMS, SignatureError, _signing
from plugin.platforms.jira import sign_jira, verify_jira
from plugin.platforms.jira import signatures as jira_signatures
from plugin.platforms.zendesk import ZENDESK_TEST_SECRET, sign_zendesk, verify_zendesk
from plugin.platforms.zendesk import signatures as zendesk_signatures
from plugin.settings import Settings

from .conftest import FIXTURES, START

MODULES = [Path(m.__file__) for m in (_signing, jira_signatures, zendesk_signatures)]
BODY = b'{"webhookEvent":"jira:issue_updated","issue":{"key":"SUP-1"}}'
SECRET = "jira-Secret-q7Zx"
TOKEN = "automation-Token-w3Kv"
ZD_BODY = b'{"type":"zen:event-type:ticket.created","detail":{"id":"35436"}}'
ZD_SECRET = "zendesk-Secret-p4Ny"
SENT = datetime(2021, 3, 25, 5, 9, 27, tzinfo=UTC).timestamp()
SENT_STAMP = "2021-03-25T05:09:27Z"


def zendesk_headers(body=ZD_BODY, secret=ZD_SECRET, stamp=SENT_STAMP):
    signature, stamp = sign_zendesk(body, secret, stamp)
    return {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}


def flip_one_byte(body: bytes, index: int) -> bytes:
    changed = bytearray(body)
    changed[index % len(body)] ^= 0x01
    return bytes(changed)


# --- known answers -------------------------------------------------------------------------------------

def test_jira_signature_matches_the_published_websub_test_vector():
    # GitHub's documented X-Hub-Signature-256 example (same sha256=<hex> scheme as Jira), confirmed with
    # `printf 'Hello, World!' | openssl dgst -sha256 -hmac "It's a Secret to Everybody"`.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign_jira(b"Hello, World!", "It's a Secret to Everybody") == expected
    assert verify_jira(b"Hello, World!", {"X-Hub-Signature": expected}, "It's a Secret to Everybody") == "signature"


def test_zendesk_signature_matches_a_vector_computed_with_openssl():
    # printf '%s' '2021-03-25T05:09:27Z{"type":"zen:event-type:ticket.created"}' \
    #   | openssl dgst -sha256 -hmac 'dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==' -binary | base64
    body = b'{"type":"zen:event-type:ticket.created"}'
    expected = "69EIqFt9nbXumm7w0tvopVmD8Bclei89GEk+Qcfyr4Y="
    assert sign_zendesk(body, ZENDESK_TEST_SECRET, SENT_STAMP) == (expected, SENT_STAMP)
    headers = {"X-Zendesk-Webhook-Signature": expected, "X-Zendesk-Webhook-Signature-Timestamp": SENT_STAMP}
    assert verify_zendesk(body, headers, ZENDESK_TEST_SECRET, now=SENT) == "signature"


def test_zendesk_signs_the_timestamp_before_the_body():
    # The first published example signed body + timestamp; current docs say timestamp + body.
    stamp = "2021-07-25T10:00:00Z"
    signature, _ = sign_zendesk(b'{"say": "hello"}', "HRkRd4BeOAoUkfZr-mhauJT64rvBASlJRoIyPsd3zeA=", stamp)
    assert signature == "Rry/4TtIdFyawtXXp8QdI6tlAUUQ/5kL1OTp5qo/ZIk="
    assert signature != "tRDSF7URY8BLCDlaBcQ7FHu051Zk+aAB0NKMP53teMw="


def test_zendesk_epoch_timestamps_are_formatted_like_zendesk_sends_them():
    assert sign_zendesk(ZD_BODY, ZD_SECRET, SENT)[1] == SENT_STAMP


# --- Jira ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, secret, automation_secret, expected", [
    ({"X-Hub-Signature": sign_jira(BODY, SECRET)}, SECRET, "", "signature"),
    ({"x-hub-signature": sign_jira(BODY, SECRET)}, SECRET, "", "signature"),
    ({"X-HUB-SIGNATURE": sign_jira(BODY, SECRET).upper().replace("SHA256", "sha256")}, SECRET, "", "signature"),
    ({"X-Hub-Signature": sign_jira(BODY, SECRET)}, SECRET, TOKEN, "signature"),
    ({"X-Escalator-Token": TOKEN}, "", TOKEN, "automation-secret"),
    ({"x-escalator-token": TOKEN}, SECRET, TOKEN, "automation-secret"),
    ({"X-Escalator-Token": f"  {TOKEN} "}, "", TOKEN, "automation-secret"),
    # Signed, but only the Automation secret is configured: the token still authenticates it.
    ({"X-Hub-Signature": "sha256=" + "0" * 64, "X-Escalator-Token": TOKEN}, "", TOKEN, "automation-secret"),
    ({}, "", "", "unsigned"),
    ({"X-Hub-Signature": "garbage", "X-Escalator-Token": "wrong"}, "", "", "unsigned"),
], ids=["signed", "lowercase-header", "uppercase-header-and-hex", "signed-with-both-configured",
        "automation-token", "lowercase-token-header", "token-with-whitespace", "token-when-no-webhook-secret",
        "nothing-configured", "nothing-configured-ignores-headers"])
def test_jira_accepts(headers, secret, automation_secret, expected):
    assert verify_jira(BODY, headers, secret, automation_secret) == expected


@pytest.mark.parametrize("body, headers, secret, automation_secret, reason, message", [
    (flip_one_byte(BODY, 10), {"X-Hub-Signature": sign_jira(BODY, SECRET)}, SECRET, "", "mismatch",
     "X-Hub-Signature does not match the body"),
    (BODY, {"X-Hub-Signature": sign_jira(BODY, "other-secret")}, SECRET, "", "mismatch",
     "same Secret as ESCALATOR_JIRA_WEBHOOK_SECRET"),
    (BODY, {}, SECRET, "", "missing", "no X-Hub-Signature header, but ESCALATOR_JIRA_WEBHOOK_SECRET is set"),
    (BODY, {"X-Hub-Signature": "   "}, SECRET, "", "missing", "no X-Hub-Signature header"),
    (BODY, {"X-Escalator-Token": TOKEN}, SECRET, "", "missing",
     "sent X-Escalator-Token, but ESCALATOR_JIRA_AUTOMATION_SECRET is not set"),
    (BODY, {"X-Hub-Signature": sign_jira(BODY, SECRET)[7:]}, SECRET, "", "malformed",
     "expected 'sha256=<64 hex digits>'"),
    (BODY, {"X-Hub-Signature": "sha1=" + "a" * 40}, SECRET, "", "algorithm",
     "unsupported algorithm 'sha1': Escalator verifies only sha256"),
    (BODY, {"X-Hub-Signature": "sha256=" + "g" * 64}, SECRET, "", "malformed", "expected 64 hex digits"),
    (BODY, {"X-Hub-Signature": sign_jira(BODY, SECRET)[:-2]}, SECRET, "", "malformed", "expected 64 hex digits"),
    (BODY, {"X-Hub-Signature": "sha256=" + "ab " * 21 + "a"}, SECRET, "", "malformed", "expected 64 hex digits"),
    # With a webhook secret configured the signature takes precedence over a valid token.
    (BODY, {"X-Hub-Signature": sign_jira(BODY, "other"), "X-Escalator-Token": TOKEN}, SECRET, TOKEN, "mismatch",
     "X-Hub-Signature does not match"),
    (BODY, {"X-Escalator-Token": "wrong-token"}, "", TOKEN, "mismatch", "X-Escalator-Token does not match"),
    (BODY, {"X-Escalator-Token": TOKEN + "x"}, SECRET, TOKEN, "mismatch", "X-Escalator-Token does not match"),
    (BODY, {}, "", TOKEN, "missing", "no X-Escalator-Token header, but ESCALATOR_JIRA_AUTOMATION_SECRET is set"),
    (BODY, {"X-Hub-Signature": sign_jira(BODY, SECRET)}, "", TOKEN, "missing",
     "ESCALATOR_JIRA_WEBHOOK_SECRET is not set"),
    (BODY, {}, SECRET, TOKEN, "missing", "neither X-Hub-Signature nor X-Escalator-Token"),
], ids=["body-changed", "wrong-secret", "missing-signature", "blank-signature", "token-not-configured",
        "no-algorithm-prefix", "unknown-algorithm", "non-hex-digest", "short-digest", "spaced-hex",
        "signature-outranks-token", "wrong-token", "token-with-suffix", "missing-token",
        "signature-without-webhook-secret", "missing-both"])
def test_jira_rejects(body, headers, secret, automation_secret, reason, message):
    with pytest.raises(SignatureError) as raised:
        verify_jira(body, headers, secret, automation_secret)
    assert raised.value.reason == reason
    assert message in str(raised.value)


def test_jira_error_without_headers_names_both_ways_to_authenticate():
    with pytest.raises(SignatureError) as raised:
        verify_jira(BODY, {}, SECRET, TOKEN)
    message = str(raised.value)
    assert "Jira settings > System > WebHooks" in message
    assert "'Send web request'" in message and "ESCALATOR_JIRA_AUTOMATION_SECRET" in message


# --- Zendesk -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, now, max_age", [
    (zendesk_headers(), SENT, 300),
    ({key.lower(): value for key, value in zendesk_headers().items()}, SENT, 300),
    ({key.upper(): value for key, value in zendesk_headers().items()}, SENT, 300),
    (zendesk_headers(), SENT + 300, 300),
    (zendesk_headers(), SENT - 300, 300),
    (zendesk_headers(), SENT + 60, 60),
    (zendesk_headers(stamp="2021-03-25T05:09:27.000+00:00"), SENT, 300),
    (zendesk_headers(stamp="2021-03-25T07:09:27+02:00"), SENT, 300),
], ids=["signed", "lowercase-headers", "uppercase-headers", "exactly-max-age-old", "exactly-max-age-ahead",
        "custom-max-age", "fractional-offset-form", "other-zone"])
def test_zendesk_accepts(headers, now, max_age):
    assert verify_zendesk(ZD_BODY, headers, ZD_SECRET, now=now, max_age=max_age) == "signature"


def test_flask_request_headers_work_as_they_are():
    headers = Headers([("x-hub-signature", sign_jira(BODY, SECRET))])
    assert verify_jira(BODY, headers, SECRET) == "signature"


def test_zendesk_without_a_secret_is_unsigned():
    assert verify_zendesk(ZD_BODY, {}, "", now=SENT) == "unsigned"


def test_zendesk_accepts_an_empty_body():
    assert verify_zendesk(b"", zendesk_headers(body=b""), ZD_SECRET, now=SENT) == "signature"


def without(name):
    return {key: value for key, value in zendesk_headers().items() if key != name}


@pytest.mark.parametrize("body, headers, now, reason, message", [
    (flip_one_byte(ZD_BODY, 3), zendesk_headers(), SENT, "mismatch", "does not match the body and timestamp"),
    (ZD_BODY, zendesk_headers(secret="other-secret"), SENT, "mismatch", "Reveal secret"),
    (ZD_BODY, zendesk_headers(secret=ZENDESK_TEST_SECRET), SENT, "mismatch", "public test secret"),
    (ZD_BODY, {**zendesk_headers(), "X-Zendesk-Webhook-Signature-Timestamp": "2021-03-25T05:09:28Z"}, SENT,
     "mismatch", "does not match"),
    (ZD_BODY, without("X-Zendesk-Webhook-Signature"), SENT, "missing",
     "no X-Zendesk-Webhook-Signature header, but ESCALATOR_ZENDESK_WEBHOOK_SECRET is set"),
    (ZD_BODY, without("X-Zendesk-Webhook-Signature-Timestamp"), SENT, "missing",
     "no X-Zendesk-Webhook-Signature-Timestamp header"),
    (ZD_BODY, {}, SENT, "missing",
     "no X-Zendesk-Webhook-Signature or X-Zendesk-Webhook-Signature-Timestamp header"),
    (ZD_BODY, {**zendesk_headers(), "X-Zendesk-Webhook-Signature": "not base64!"}, SENT, "malformed",
     "expected the base64 of a 32-byte HMAC-SHA256 digest"),
    (ZD_BODY, {**zendesk_headers(), "X-Zendesk-Webhook-Signature": base64.b64encode(b"short").decode()}, SENT,
     "malformed", "32-byte"),
    (ZD_BODY, {**zendesk_headers(), "X-Zendesk-Webhook-Signature": "é" * 44}, SENT, "malformed", "base64"),
    (ZD_BODY, zendesk_headers(stamp="1616648967"), SENT, "malformed", "'1616648967' is not an ISO 8601 time"),
    (ZD_BODY, zendesk_headers(stamp="yesterday"), SENT, "malformed", "e.g. 2021-03-25T05:09:27Z"),
    (ZD_BODY, zendesk_headers(stamp="2021-03-25T05:09:27"), SENT, "malformed", "with a zone"),
    (ZD_BODY, zendesk_headers(), SENT + 301, "stale", "is 301 seconds old (limit 300)"),
    (ZD_BODY, zendesk_headers(), SENT + 301, "stale", "this server's clock is ahead"),
    (ZD_BODY, zendesk_headers(), SENT + 86_400, "stale", "check it (NTP)"),
    (ZD_BODY, zendesk_headers(), SENT - 301, "future", "is 301 seconds in the future (limit 300)"),
    (ZD_BODY, zendesk_headers(), SENT - 301, "future", "this server's clock is behind"),
], ids=["body-changed", "wrong-secret", "signed-with-test-secret", "timestamp-changed", "missing-signature",
        "missing-timestamp", "missing-both", "signature-not-base64", "signature-too-short",
        "signature-not-ascii", "epoch-timestamp", "timestamp-not-a-time", "timestamp-without-zone",
        "one-second-too-old", "stale-blames-a-fast-clock", "a-day-old", "one-second-too-far-ahead",
        "future-blames-a-slow-clock"])
def test_zendesk_rejects(body, headers, now, reason, message):
    with pytest.raises(SignatureError) as raised:
        verify_zendesk(body, headers, ZD_SECRET, now=now)
    assert raised.value.reason == reason
    assert message in str(raised.value)


def test_zendesk_max_age_boundary_follows_the_argument():
    with pytest.raises(SignatureError, match="61 seconds old"):
        verify_zendesk(ZD_BODY, zendesk_headers(), ZD_SECRET, now=SENT + 61, max_age=60)


# --- properties ----------------------------------------------------------------------------------------

secrets = st.text(min_size=1, max_size=64)
bodies = st.binary(min_size=1, max_size=512)


@given(body=bodies, secret=secrets, index=st.integers(min_value=0))
def test_jira_sign_then_verify_passes_and_any_changed_byte_fails(body, secret, index):
    headers = {"X-Hub-Signature": sign_jira(body, secret)}
    assert verify_jira(body, headers, secret) == "signature"
    with pytest.raises(SignatureError):
        verify_jira(flip_one_byte(body, index), headers, secret)


@given(body=bodies, secret=secrets, index=st.integers(min_value=0),
       sent=st.integers(min_value=0, max_value=4_102_444_800), skew=st.integers(min_value=-300, max_value=300))
def test_zendesk_sign_then_verify_passes_and_any_changed_byte_fails(body, secret, index, sent, skew):
    signature, stamp = sign_zendesk(body, secret, sent)
    headers = {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    assert verify_zendesk(body, headers, secret, now=sent + skew) == "signature"
    with pytest.raises(SignatureError, match="does not match"):
        verify_zendesk(flip_one_byte(body, index), headers, secret, now=sent + skew)


# Header values as a server hands them over: any Latin-1 text (WSGI decodes raw header bytes as Latin-1).
header_values = st.text(st.characters(codec="latin-1"), max_size=80)
zendesk_stamps = header_values | st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat())


@given(body=bodies, value=header_values | st.builds("sha256={}".format, header_values), token=header_values)
def test_any_jira_header_is_verified_or_refused_with_a_signature_error(body, value, token):
    try:
        verify_jira(body, {"X-Hub-Signature": value, "X-Escalator-Token": token}, SECRET, TOKEN)
    except SignatureError as refused:
        assert refused.reason in {"missing", "malformed", "algorithm", "mismatch"}


@given(body=bodies, signature=header_values, stamp=zendesk_stamps, now=st.floats(-1e10, 1e11))
def test_any_zendesk_header_is_verified_or_refused_with_a_signature_error(body, signature, stamp, now):
    headers = {"X-Zendesk-Webhook-Signature": signature, "X-Zendesk-Webhook-Signature-Timestamp": stamp}
    with pytest.raises(SignatureError) as refused:       # without the secret no header can pass
        verify_zendesk(body, headers, ZD_SECRET, now=now)
    assert refused.value.reason in {"missing", "malformed", "mismatch"}


# --- secrets stay secret -------------------------------------------------------------------------------

def jira_failures():
    expected = sign_jira(BODY, SECRET)
    for headers, automation_secret in [
        ({"X-Hub-Signature": sign_jira(BODY, "other")}, ""), ({}, TOKEN), ({}, ""),
        ({"X-Hub-Signature": "sha512=" + expected[7:]}, ""), ({"X-Hub-Signature": expected[:-1]}, ""),
        ({"X-Escalator-Token": TOKEN[:-1]}, TOKEN), ({"X-Escalator-Token": TOKEN}, ""),
    ]:
        with pytest.raises(SignatureError) as raised:
            verify_jira(flip_one_byte(BODY, 0), headers, SECRET, automation_secret)
        yield str(raised.value), [SECRET, TOKEN, expected[7:]]


def zendesk_failures():
    expected, _ = sign_zendesk(ZD_BODY, ZD_SECRET, SENT_STAMP)
    for body, headers, now in [
        (flip_one_byte(ZD_BODY, 0), zendesk_headers(), SENT), (ZD_BODY, {}, SENT),
        (ZD_BODY, zendesk_headers(stamp="nope"), SENT), (ZD_BODY, zendesk_headers(), SENT + 999),
        (ZD_BODY, zendesk_headers(), SENT - 999),
        (ZD_BODY, {**zendesk_headers(), "X-Zendesk-Webhook-Signature": "%%%"}, SENT),
    ]:
        with pytest.raises(SignatureError) as raised:
            verify_zendesk(body, headers, ZD_SECRET, now=now)
        yield str(raised.value), [ZD_SECRET, expected, base64.b64decode(expected).hex()]


@pytest.mark.parametrize("message, secrets_and_digests", [*jira_failures(), *zendesk_failures()])
def test_error_messages_never_contain_the_secret_or_the_expected_digest(message, secrets_and_digests):
    for value in secrets_and_digests:
        assert value not in message


# --- through the registry, with the settings ---------------------------------------------------------

def test_the_registry_checks_jira_deliveries_with_the_configured_secrets():
    verify = PLATFORMS["jira"].verify
    now = datetime.fromtimestamp(SENT, UTC)
    signed = {"X-Hub-Signature": sign_jira(BODY, SECRET)}
    assert verify(BODY, signed, Settings(jira_webhook_secret=SECRET), now) == "signature"
    automation = Settings(jira_automation_secret=TOKEN)
    assert verify(BODY, {"X-Escalator-Token": TOKEN}, automation, now) == "automation-secret"
    assert verify(BODY, {}, Settings(), now) == "unsigned"
    with pytest.raises(SignatureError):
        verify(BODY, signed, Settings(jira_webhook_secret="other"), now)


def test_the_registry_checks_zendesk_deliveries_with_the_configured_secret_and_age():
    verify = PLATFORMS["zendesk"].verify
    settings = Settings(zendesk_webhook_secret=ZD_SECRET, zendesk_max_age="60")
    assert verify(ZD_BODY, zendesk_headers(), settings, datetime.fromtimestamp(SENT + 60, UTC)) == "signature"
    with pytest.raises(SignatureError, match="61 seconds old"):
        verify(ZD_BODY, zendesk_headers(), settings, datetime.fromtimestamp(SENT + 61, UTC))
    assert verify(ZD_BODY, {}, Settings(), datetime.fromtimestamp(SENT, UTC)) == "unsigned"


# --- how the modules are written -----------------------------------------------------------------------

def module_tree():
    return ast.Module(body=[node for path in MODULES for node in ast.parse(path.read_text("utf-8")).body],
                      type_ignores=[])


def test_digests_are_compared_in_constant_time():
    calls = [node for node in ast.walk(module_tree()) if isinstance(node, ast.Call)
             and ast.unparse(node.func) == "hmac.compare_digest"]
    assert len(calls) >= 3  # Jira signature, Automation token, Zendesk signature


def test_no_equality_operator_touches_anything_but_a_literal():
    # `==` on a digest or token leaks, through timing, how many leading bytes matched.
    offenders = [ast.unparse(node) for node in ast.walk(module_tree()) if isinstance(node, ast.Compare)
                 and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
                 and not any(isinstance(side, ast.Constant) for side in [node.left, *node.comparators])]
    assert offenders == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_checks_need_only_the_standard_library_the_domain_errors_and_each_other(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            imported.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            imported.add("(relative) " + (node.module or ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module if node.module.startswith("plugin") else node.module.partition(".")[0])
    assert imported - set(sys.stdlib_module_names) <= {"plugin.domain.errors", "(relative) _signing"}


# --- through the endpoint: refused with a JSON 401, nothing stored --------------------------------------

# A real payload, so that only the signature can be the reason for a refusal.
ENDPOINT_BODIES = {"jira": (FIXTURES / "jira" / "mattermost__webhook-issue-created.json").read_bytes(),
                   "zendesk": (FIXTURES / "zendesk" / "escalator__ticket_created.json").read_bytes()}
NOW = START.timestamp()


def hmac_hex(algorithm: str, body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, algorithm).hexdigest()


def jira_signed(make):
    """Jira's headers for a body: X-Hub-Signature set to make(body), or none if that is ""."""
    return lambda body: {"X-Hub-Signature": value} if (value := make(body)) else {}


def jira_signature(value: str):
    return jira_signed(lambda body: value)


def zendesk_signed(secret=ZD_SECRET, sent=NOW, *, signature=None, drop=""):
    """Zendesk's headers for a body, signed at `sent` (epoch seconds), optionally altered or missing one."""
    def headers(body):
        made, stamp = sign_zendesk(body, secret, sent)
        found = {"X-Zendesk-Webhook-Signature": signature if signature is not None else made,
                 "X-Zendesk-Webhook-Signature-Timestamp": stamp}
        return {name: value for name, value in found.items() if name != drop}
    return headers


REFUSED = [
    # (id, platform, headers for the body, what the error says)
    ("jira wrong secret", "jira", jira_signed(lambda body: sign_jira(body, "other")), "does not match the body"),
    ("jira missing", "jira", jira_signature(""), "no X-Hub-Signature header"),
    ("jira blank", "jira", jira_signature("  "), "no X-Hub-Signature header"),
    ("jira sha1= prefix", "jira", jira_signed(lambda body: "sha1=" + hmac_hex("sha1", body)),
     "unsupported algorithm 'sha1'"),
    ("jira sha512= prefix", "jira", jira_signed(lambda body: "sha512=" + hmac_hex("sha512", body)),
     "unsupported algorithm 'sha512'"),
    ("jira sha1= over a sha256 digest", "jira", jira_signed(lambda body: "sha1=" + hmac_hex("sha256", body)),
     "unsupported algorithm 'sha1'"),
    ("jira no prefix", "jira", jira_signed(lambda body: hmac_hex("sha256", body)), "expected 'sha256=<64 hex"),
    ("jira truncated", "jira", jira_signed(lambda body: sign_jira(body, SECRET)[:-1]), "expected 64 hex digits"),
    ("jira non-hex", "jira", jira_signature("sha256=" + "zq" * 32), "expected 64 hex digits"),
    ("jira signed with an empty secret", "jira", jira_signed(lambda body: sign_jira(body, "")),
     "does not match the body"),
    ("jira another body's signature", "jira", jira_signature(sign_jira(BODY, SECRET)), "does not match the body"),
    ("zendesk wrong secret", "zendesk", zendesk_signed(secret="other"), "does not match the body and timestamp"),
    ("zendesk public test secret", "zendesk", zendesk_signed(secret=ZENDESK_TEST_SECRET), "public test secret"),
    ("zendesk signed with an empty secret", "zendesk", zendesk_signed(secret=""), "does not match"),
    ("zendesk missing signature", "zendesk", zendesk_signed(drop="X-Zendesk-Webhook-Signature"),
     "no X-Zendesk-Webhook-Signature header"),
    ("zendesk missing timestamp", "zendesk", zendesk_signed(drop="X-Zendesk-Webhook-Signature-Timestamp"),
     "no X-Zendesk-Webhook-Signature-Timestamp header"),
    ("zendesk replayed 301 s later", "zendesk", zendesk_signed(sent=NOW - 301), "301 seconds old (limit 300)"),
    ("zendesk replayed a week later", "zendesk", zendesk_signed(sent=NOW - 7 * 86_400), "a replayed or long-delayed"),
    ("zendesk from the future", "zendesk", zendesk_signed(sent=NOW + 301), "301 seconds in the future"),
    ("zendesk truncated", "zendesk",
     zendesk_signed(signature=sign_zendesk(ENDPOINT_BODIES["zendesk"], ZD_SECRET, NOW)[0][:-4]), "32-byte"),
    ("zendesk non-base64", "zendesk", zendesk_signed(signature="%" * 44), "expected the base64"),
    ("zendesk hex instead of base64", "zendesk",
     zendesk_signed(signature=hmac_hex("sha256", ENDPOINT_BODIES["zendesk"], ZD_SECRET)), "32-byte"),
]


@pytest.fixture
def signed_client(make_app):
    return make_app(jira_webhook_secret=SECRET, zendesk_webhook_secret=ZD_SECRET).test_client()


def refused_count(client, platform: str) -> str:
    metrics = client.get("/metrics").get_data(as_text=True)
    return re.search(rf'escalator_deliveries_total{{platform="{platform}",status="unauthorized"}} (\S+)',
                     metrics).group(1)


@pytest.mark.parametrize("platform, headers, message", [case[1:] for case in REFUSED], ids=[c[0] for c in REFUSED])
def test_the_endpoint_refuses_with_a_json_401_and_stores_nothing(signed_client, platform, headers, message):
    body = ENDPOINT_BODIES[platform]
    answer = signed_client.post(f"/webhooks/{platform}", data=body, content_type="application/json",
                                headers={**headers(body), "X-Atlassian-Webhook-Identifier": "d-1",
                                         "X-Zendesk-Webhook-Invocation-Id": "inv-1"})
    assert answer.status_code == 401 and answer.is_json, answer.get_data()
    assert message in answer.json["error"]
    assert SECRET not in answer.json["error"] and ZD_SECRET not in answer.json["error"]
    assert signed_client.get("/api/deliveries").json["deliveries"] == []
    assert refused_count(signed_client, platform) == "1.0"


def test_a_replay_inside_the_window_is_a_duplicate_stored_once(signed_client):
    body = ENDPOINT_BODIES["zendesk"]
    headers = {**zendesk_signed(sent=NOW - 60)(body), "X-Zendesk-Webhook-Invocation-Id": "inv-7"}
    answers = [signed_client.post("/webhooks/zendesk", data=body, content_type="application/json", headers=headers)
               for _ in range(3)]
    assert [(a.status_code, a.json["status"]) for a in answers] == [(202, "accepted")] + [(202, "duplicate")] * 2
    [stored] = signed_client.get("/api/deliveries").json["deliveries"]
    assert stored["authenticated_by"] == "signature"


def test_an_empty_secret_counts_as_unset_and_deliveries_are_marked_unsigned(make_app):
    settings = Settings.from_env({"ESCALATOR_JIRA_WEBHOOK_SECRET": "", "ESCALATOR_ZENDESK_WEBHOOK_SECRET": "  "})
    assert (settings.jira_webhook_secret, settings.zendesk_webhook_secret) == ("", "")
    client = make_app(jira_webhook_secret=settings.jira_webhook_secret,
                      zendesk_webhook_secret=settings.zendesk_webhook_secret).test_client()
    for platform, body in ENDPOINT_BODIES.items():
        answer = client.post(f"/webhooks/{platform}", data=body, content_type="application/json")
        assert answer.status_code == 202 and answer.json["status"] == "accepted"
    stored = client.get("/api/deliveries").json["deliveries"]
    assert [(d["platform"], d["authenticated_by"]) for d in stored] == [("zendesk", "unsigned"), ("jira", "unsigned")]
