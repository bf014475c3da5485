"""Whether a delivery really comes from Jira, from its raw body and headers.

Jira admin webhooks with a secret send `X-Hub-Signature: sha256=<hex HMAC-SHA256 of the body>`;
Jira Automation's "Send web request" cannot sign, so the rule sends our shared token in
`X-Escalator-Token`.
"""
from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from datetime import datetime

from .._signing import SignatureError, header, mac

SIGNATURE_HEADER = "X-Hub-Signature"
TOKEN_HEADER = "X-Escalator-Token"

_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_SECRET_HINT = ("give the Jira webhook (Jira settings > System > WebHooks) the same Secret as "
                "ESCALATOR_JIRA_WEBHOOK_SECRET")
_AUTOMATION_HINT = (f"in the Jira Automation rule's 'Send web request' action, add the header "
                    f"{TOKEN_HEADER} with the value of ESCALATOR_JIRA_AUTOMATION_SECRET")


def verify(body: bytes, headers: Mapping[str, str], settings, now: datetime) -> str:
    """The registry's check: verify_jira with the configured secrets."""
    return verify_jira(body, headers, settings.jira_webhook_secret, settings.jira_automation_secret)


def verify_jira(body: bytes, headers: Mapping[str, str], secret: str, automation_secret: str = "") -> str:
    """Authenticate a Jira delivery: "signature", "automation-secret", or "unsigned" if no secret is set."""
    if not secret and not automation_secret:
        return "unsigned"
    signature = header(headers, SIGNATURE_HEADER)
    token = header(headers, TOKEN_HEADER)
    # A signature outranks the token: it also proves the body was not altered on the way.
    if signature is not None and secret:
        _check_signature(body, signature, secret)
        return "signature"
    if token is not None and automation_secret:
        if not hmac.compare_digest(token.encode(), automation_secret.encode()):
            raise SignatureError(f"{TOKEN_HEADER} does not match: {_AUTOMATION_HINT} (check for a "
                                 "typo or stray whitespace in the rule).", reason="mismatch")
        return "automation-secret"
    raise SignatureError(_unauthenticated(signature is not None, token is not None, secret, automation_secret),
                         reason="missing")


def sign_jira(body: bytes, secret: str) -> str:
    """The `X-Hub-Signature` value Jira would send for `body`."""
    return "sha256=" + mac(secret, body).hex()


def _check_signature(body: bytes, value: str, secret: str) -> None:
    algorithm, separator, digest = value.partition("=")
    if not separator:
        raise SignatureError(f"{SIGNATURE_HEADER} is malformed: expected 'sha256=<64 hex digits>'.",
                             reason="malformed")
    if algorithm.strip().lower() != "sha256":
        raise SignatureError(f"{SIGNATURE_HEADER} uses the unsupported algorithm {algorithm[:20]!r}: "
                             "Escalator verifies only sha256, the algorithm Jira uses.", reason="algorithm")
    if not _HEX_SHA256.fullmatch(digest):
        raise SignatureError(f"{SIGNATURE_HEADER} is malformed: after 'sha256=' expected 64 hex digits.",
                             reason="malformed")
    if not hmac.compare_digest(mac(secret, body), bytes.fromhex(digest)):
        raise SignatureError(f"{SIGNATURE_HEADER} does not match the body: {_SECRET_HINT}, and make "
                             "sure no proxy rewrites the body.", reason="mismatch")


def _unauthenticated(has_signature: bool, has_token: bool, secret: str, automation_secret: str) -> str:
    if secret and automation_secret:
        return (f"Jira delivery has neither {SIGNATURE_HEADER} nor {TOKEN_HEADER}: for a Jira "
                f"webhook, {_SECRET_HINT}; for Jira Automation, {_AUTOMATION_HINT}.")
    if secret:
        unused = (f" It sent {TOKEN_HEADER}, but ESCALATOR_JIRA_AUTOMATION_SECRET is not set."
                  if has_token else "")
        return (f"Jira delivery has no {SIGNATURE_HEADER} header, but ESCALATOR_JIRA_WEBHOOK_SECRET is "
                f"set: {_SECRET_HINT}.{unused} For Jira Automation, set ESCALATOR_JIRA_AUTOMATION_SECRET "
                f"and {_AUTOMATION_HINT}.")
    unused = (f" It is signed ({SIGNATURE_HEADER}), but ESCALATOR_JIRA_WEBHOOK_SECRET is not set; set it "
              "to the Jira webhook's Secret to accept signed webhooks." if has_signature else "")
    return (f"Jira delivery has no {TOKEN_HEADER} header, but ESCALATOR_JIRA_AUTOMATION_SECRET is set: "
            f"{_AUTOMATION_HINT}.{unused}")
