"""Readers for untrusted decoded JSON: each returns a safe default instead of raising."""
from __future__ import annotations

import reprlib
from datetime import UTC, datetime

MISSING = object()


def text(value: object) -> str:
    """The value if it is a string, else ""."""
    return value if isinstance(value, str) else ""


def items(value: object) -> list:
    """The value if it is a list, else []."""
    return value if isinstance(value, list) else []


def scalar_text(value: object) -> str:
    """Strings as they are, numbers and booleans as JSON would print them, anything else ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return number_text(value)
    return text(value)


def number(value: object) -> float | None:
    """A JSON number, or a string holding one; booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return float(value)
    except (ValueError, OverflowError):
        return None


def number_text(value: float) -> str:
    """`4`, not `4.0`: platforms send whole numbers as floats."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def iso_time(value: object) -> datetime | None:
    """An aware UTC datetime from an ISO 8601 string; times without a zone are taken as UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        return None


def found(value: object) -> str:
    """A short description of an unexpected value, for error messages."""
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    return f"{type(value).__name__} {reprlib.repr(value)}"
