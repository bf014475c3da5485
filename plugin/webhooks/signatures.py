"""Decide whether a webhook delivery really comes from Jira or Zendesk, from its raw body and headers.

Jira admin webhooks with a secret send `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`;
Jira Automation's "Send web request" cannot sign, so the rule sends our shared token in
`X-Escalator-Token`. Zendesk sends `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(timestamp + body))
with the ISO 8601 `X-Zendesk-Webhook-Signature-Timestamp`. Standard library only, and the clock is
passed in, so this stays testable with exact times and usable from any web framework.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from plugin.domain.errors import EscalatorError

JIRA_SIGNATURE_HEADER = "X-Hub-Signature"
JIRA_TOKEN_HEADER = "X-Escalator-Token"
ZENDESK_SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"

# Published by Zendesk: "Test webhook" on a webhook that is not created yet is signed with this
# instead of the webhook's own secret. It is public, so it is never accepted implicitly.
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_JIRA_SECRET_HINT = ("give the Jira webhook (Jira settings > System > WebHooks) the same Secret as "
                     "ESCALATOR_JIRA_WEBHOOK_SECRET")
_AUTOMATION_HINT = (f"in the Jira Automation rule's 'Send web request' action, add the header "
                    f"{JIRA_TOKEN_HEADER} with the value of ESCALATOR_JIRA_AUTOMATION_SECRET")
_ZENDESK_SECRET_HINT = ("set ESCALATOR_ZENDESK_WEBHOOK_SECRET to the webhook's signing secret (Zendesk Admin "
                        "Center > Apps and integrations > Webhooks > the webhook > Reveal secret)")


class SignatureError(EscalatorError):
    """A delivery could not be authenticated; `reason` is a short code (missing, malformed, mismatch, ...)."""

    def __init__(self, message: str, *, reason: str):
        self.reason = reason
        super().__init__(message)


def verify_jira(body: bytes, headers: Mapping[str, str], secret: str, automation_secret: str = "") -> str:
    """Authenticate a Jira delivery: "signature", "automation-secret", or "unsigned" if no secret is set."""
    if not secret and not automation_secret:
        return "unsigned"
    signature = _header(headers, JIRA_SIGNATURE_HEADER)
    token = _header(headers, JIRA_TOKEN_HEADER)
    # A signature outranks the token: it also proves the body was not altered on the way.
    if signature is not None and secret:
        _check_jira_signature(body, signature, secret)
        return "signature"
    if token is not None and automation_secret:
        if not hmac.compare_digest(token.encode(), automation_secret.encode()):
            raise SignatureError(f"{JIRA_TOKEN_HEADER} does not match: {_AUTOMATION_HINT} (check for a "
                                 "typo or stray whitespace in the rule).", reason="mismatch")
        return "automation-secret"
    raise SignatureError(_jira_unauthenticated(signature is not None, token is not None, secret,
                                               automation_secret), reason="missing")


def sign_jira(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature` value Jira would send for `body`."""
    return "sha256=" + _mac(secret, body).hex()


def verify_zendesk(body: bytes, headers: Mapping[str, str], secret: str, now: float,
                   max_age: float = 300) -> str:
    """Authenticate a Zendesk delivery: "signature", or "unsigned" if no secret is set. Zendesk's "Test
    webhook" on an unsaved webhook signs with ZENDESK_TEST_SECRET, so test after saving the webhook."""
    if not secret:
        return "unsigned"
    signature = _header(headers, ZENDESK_SIGNATURE_HEADER)
    stamp = _header(headers, ZENDESK_TIMESTAMP_HEADER)
    missing = [name for name, value in ((ZENDESK_SIGNATURE_HEADER, signature), (ZENDESK_TIMESTAMP_HEADER, stamp))
               if value is None]
    if missing:
        raise SignatureError(f"Zendesk delivery has no {' or '.join(missing)} header, but "
                             "ESCALATOR_ZENDESK_WEBHOOK_SECRET is set: send it from a Zendesk webhook (Admin "
                             "Center > Apps and integrations > Webhooks), which signs every request.",
                             reason="missing")
    sent_at = _parse_zendesk_timestamp(stamp)
    provided = _decode_base64_digest(signature)
    if not hmac.compare_digest(_mac(secret, stamp.encode() + body), provided):
        raise SignatureError(f"{ZENDESK_SIGNATURE_HEADER} does not match the body and timestamp: "
                             f"{_ZENDESK_SECRET_HINT}, and make sure no proxy rewrites the body. Zendesk's "
                             "'Test webhook' on a webhook not yet created signs with its public test secret "
                             "instead.", reason="mismatch")
    # Checked after the signature so that only genuine deliveries get the clock advice.
    age = now - sent_at
    if age > max_age:
        raise SignatureError(f"{ZENDESK_TIMESTAMP_HEADER} is {age:.0f} seconds old (limit {max_age:g}): a "
                             "replayed or long-delayed delivery, or this server's clock is ahead; check it (NTP).",
                             reason="stale")
    if -age > max_age:
        raise SignatureError(f"{ZENDESK_TIMESTAMP_HEADER} is {-age:.0f} seconds in the future (limit "
                             f"{max_age:g}): this server's clock is behind Zendesk's; check it (NTP).",
                             reason="future")
    return "signature"


def sign_zendesk(body: bytes, secret: str, timestamp: float | str) -> tuple[str, str]:
    """(signature, timestamp header) as Zendesk would send them; `timestamp` is epoch seconds or ISO 8601."""
    stamp = timestamp if isinstance(timestamp, str) else _format_zendesk_timestamp(timestamp)
    return base64.b64encode(_mac(secret, stamp.encode() + body)).decode("ascii"), stamp


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive, because a plain dict is not; a blank value counts as absent."""
    value = headers.get(name)
    if value is None:
        value = {key.lower(): item for key, item in headers.items()}.get(name.lower())
    value = (value or "").strip()
    return value or None


def _check_jira_signature(body: bytes, value: str, secret: str) -> None:
    algorithm, separator, digest = value.partition("=")
    if not separator:
        raise SignatureError(f"{JIRA_SIGNATURE_HEADER} is malformed: expected 'sha256=<64 hex digits>'.",
                             reason="malformed")
    if algorithm.strip().lower() != "sha256":
        raise SignatureError(f"{JIRA_SIGNATURE_HEADER} uses the unsupported algorithm {algorithm[:20]!r}: "
                             "Escalator verifies only sha256, the algorithm Jira uses.", reason="algorithm")
    if not _HEX_SHA256.fullmatch(digest):
        raise SignatureError(f"{JIRA_SIGNATURE_HEADER} is malformed: after 'sha256=' expected 64 hex digits.",
                             reason="malformed")
    if not hmac.compare_digest(_mac(secret, body), bytes.fromhex(digest)):
        raise SignatureError(f"{JIRA_SIGNATURE_HEADER} does not match the body: {_JIRA_SECRET_HINT}, and make "
                             "sure no proxy rewrites the body.", reason="mismatch")


def _jira_unauthenticated(has_signature: bool, has_token: bool, secret: str, automation_secret: str) -> str:
    if secret and automation_secret:
        return (f"Jira delivery has neither {JIRA_SIGNATURE_HEADER} nor {JIRA_TOKEN_HEADER}: for a Jira "
                f"webhook, {_JIRA_SECRET_HINT}; for Jira Automation, {_AUTOMATION_HINT}.")
    if secret:
        unused = (f" It sent {JIRA_TOKEN_HEADER}, but ESCALATOR_JIRA_AUTOMATION_SECRET is not set."
                  if has_token else "")
        return (f"Jira delivery has no {JIRA_SIGNATURE_HEADER} header, but ESCALATOR_JIRA_WEBHOOK_SECRET is "
                f"set: {_JIRA_SECRET_HINT}.{unused} For Jira Automation, set ESCALATOR_JIRA_AUTOMATION_SECRET "
                f"and {_AUTOMATION_HINT}.")
    unused = (f" It is signed ({JIRA_SIGNATURE_HEADER}), but ESCALATOR_JIRA_WEBHOOK_SECRET is not set; set it "
              "to the Jira webhook's Secret to accept signed webhooks." if has_signature else "")
    return (f"Jira delivery has no {JIRA_TOKEN_HEADER} header, but ESCALATOR_JIRA_AUTOMATION_SECRET is set: "
            f"{_AUTOMATION_HINT}.{unused}")


def _parse_zendesk_timestamp(value: str) -> float:
    """Epoch seconds from Zendesk's ISO 8601 stamp (e.g. 2021-03-25T05:09:27Z)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SignatureError(f"{ZENDESK_TIMESTAMP_HEADER} {value[:40]!r} is not an ISO 8601 time with a zone "
                             "(Zendesk sends e.g. 2021-03-25T05:09:27Z).", reason="malformed")
    return moment.timestamp()


def _format_zendesk_timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_base64_digest(value: str) -> bytes:
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        digest = b""
    if len(digest) != 32:
        raise SignatureError(f"{ZENDESK_SIGNATURE_HEADER} is malformed: expected the base64 of a 32-byte "
                             "HMAC-SHA256 digest.", reason="malformed")
    return digest
