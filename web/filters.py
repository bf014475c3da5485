"""Jinja filters the pages share: times and durations as a support lead reads them."""
from __future__ import annotations

from datetime import datetime


def when(value) -> str:
    """An instant as `2026-11-30 09:15 UTC`; ISO strings are accepted (the API's form)."""
    if value in (None, ""):
        return "–"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds) -> str:
    """`1h 05m`, `12m`, `45s`; negative values read as overdue by that much."""
    if seconds is None:
        return "–"
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours:02d}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m" if minutes else f"{sign}{secs}s"


ALL = {"when": when, "duration": duration}
