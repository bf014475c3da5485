"""Whether a delivery really comes from Zendesk, from its raw body and headers.

Zendesk sends `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(timestamp + body)) with the
ISO 8601 `X-Zendesk-Webhook-Signature-Timestamp`; stale timestamps are refused.
"""
from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from .._signing import SignatureError, header, mac

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"

# Published by Zendesk: "Test webhook" on a webhook that is not created yet is signed with this
# instead of the webhook's own secret. It is public, so it is never accepted implicitly.
ZENDESK_TEST_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="

_SECRET_HINT = ("set ESCALATOR_ZENDESK_WEBHOOK_SECRET to the webhook's signing secret (Zendesk Admin "
                "Center > Apps and integrations > Webhooks > the webhook > Reveal secret)")


def verify(body: bytes, headers: Mapping[str, str], settings, now: datetime) -> str:
    """The registry's check: verify_zendesk with the configured secret and age limit."""
    return verify_zendesk(body, headers, settings.zendesk_webhook_secret, now.timestamp(),
                          max_age=settings.zendesk_max_age)


def verify_zendesk(body: bytes, headers: Mapping[str, str], secret: str, now: float,
                   max_age: float = 300) -> str:
    """Authenticate a Zendesk delivery: "signature", or "unsigned" if no secret is set. Zendesk's "Test
    webhook" on an unsaved webhook signs with ZENDESK_TEST_SECRET, so test after saving the webhook."""
    if not secret:
        return "unsigned"
    signature = header(headers, SIGNATURE_HEADER)
    stamp = header(headers, TIMESTAMP_HEADER)
    missing = [name for name, value in ((SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, stamp))
               if value is None]
    if missing:
        raise SignatureError(f"Zendesk delivery has no {' or '.join(missing)} header, but "
                             "ESCALATOR_ZENDESK_WEBHOOK_SECRET is set: send it from a Zendesk webhook (Admin "
                             "Center > Apps and integrations > Webhooks), which signs every request.",
                             reason="missing")
    sent_at = _parse_timestamp(stamp)
    provided = _decode_base64_digest(signature)
    if not hmac.compare_digest(mac(secret, stamp.encode() + body), provided):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body and timestamp: "
                             f"{_SECRET_HINT}, and make sure no proxy rewrites the body. Zendesk's "
                             "'Test webhook' on a webhook not yet created signs with its public test secret "
                             "instead.", reason="mismatch")
    # Checked after the signature so that only genuine deliveries get the clock advice.
    age = now - sent_at
    if age > max_age:
        raise SignatureError(f"{TIMESTAMP_HEADER} is {age:.0f} seconds old (limit {max_age:g}): a "
                             "replayed or long-delayed delivery, or this server's clock is ahead; check it (NTP).",
                             reason="stale")
    if -age > max_age:
        raise SignatureError(f"{TIMESTAMP_HEADER} is {-age:.0f} seconds in the future (limit "
                             f"{max_age:g}): this server's clock is behind Zendesk's; check it (NTP).",
                             reason="future")
    return "signature"


def sign_zendesk(body: bytes, secret: str, timestamp: float | str) -> tuple[str, str]:
    """(signature, timestamp header) as Zendesk would send them; `timestamp` is epoch seconds or ISO 8601."""
    stamp = timestamp if isinstance(timestamp, str) else _format_timestamp(timestamp)
    return base64.b64encode(mac(secret, stamp.encode() + body)).decode("ascii"), stamp


def _parse_timestamp(value: str) -> float:
    """Epoch seconds from Zendesk's ISO 8601 stamp (e.g. 2021-03-25T05:09:27Z)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SignatureError(f"{TIMESTAMP_HEADER} {value[:40]!r} is not an ISO 8601 time with a zone "
                             "(Zendesk sends e.g. 2021-03-25T05:09:27Z).", reason="malformed")
    return moment.timestamp()


def _format_timestamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decode_base64_digest(value: str) -> bytes:
    try:
        digest = base64.b64decode(value, validate=True)
    except ValueError:  # binascii.Error, or non-ASCII text
        digest = b""
    if len(digest) != 32:
        raise SignatureError(f"{SIGNATURE_HEADER} is malformed: expected the base64 of a 32-byte "
                             "HMAC-SHA256 digest.", reason="malformed")
    return digest
