"""What the platforms' signature checks share: the error, the HMAC and the header lookup.

Standard library only, and the clock is passed in, so the checks stay testable with exact
times and usable from any web framework.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from plugin.domain.errors import EscalatorError


class SignatureError(EscalatorError):
    """A delivery could not be authenticated; `reason` is a short code (missing, malformed, mismatch, ...)."""

    def __init__(self, message: str, *, reason: str):
        self.reason = reason
        super().__init__(message)


def mac(secret: str, message: bytes) -> bytes:
    """HMAC-SHA256 of `message` under `secret`."""
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive, because a plain dict is not; a blank value counts as absent."""
    value = headers.get(name)
    if value is None:
        value = {key.lower(): item for key, item in headers.items()}.get(name.lower())
    value = (value or "").strip()
    return value or None
