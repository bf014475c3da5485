"""Public holidays from the `holidays` package, as the date predicate the domain calendar takes."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import cache

import holidays

from .domain.calendar import never_a_holiday


def holiday_checker(code: str) -> Callable[[date], bool]:
    """A predicate for a "US", "DE" or "DE-BY" style code; "" has no holidays, an unknown code raises ValueError."""
    return _checker(code.strip().upper())


@cache
def _checker(code: str) -> Callable[[date], bool]:
    if not code:
        return never_a_holiday
    country, _, subdivision = code.partition("-")
    try:
        table = holidays.country_holidays(country, subdiv=subdivision or None)
    except NotImplementedError as unknown:
        raise ValueError(f"unknown holiday calendar {code!r} ({unknown}); use an ISO country code such as "
                         "US or DE, optionally with a subdivision such as DE-BY") from None
    return table.__contains__
