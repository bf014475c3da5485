"""Durations as admins write them: `30s`, `15m`, `2h`, `1d`, or combined like `1h30m`."""
from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")


def parse_duration(text: str) -> timedelta:
    """Parse `15m`-style text; raise ValueError with the accepted forms otherwise."""
    if not isinstance(text, str) or not _WHOLE.fullmatch(text.strip()):
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit, e.g. 30s, 15m, 2h, 1d or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
    if seconds <= 0:
        raise ValueError(f"{text!r} is zero; a duration must be positive, e.g. 30s, 15m, 2h or 1d")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """The shortest `1h30m`-style text for a duration."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit in ("d", "h", "m", "s"):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
