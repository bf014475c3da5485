"""Working time on a matrix's calendars, with public holidays from the `holidays` package."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from .domain.calendar import BusinessClock
from .domain.matrix import Matrix
from .holidays_adapter import holiday_checker


class SlaClocks:
    """A BusinessClock per calendar of one matrix (the domain's `Clocks`)."""

    def __init__(self, matrix: Matrix):
        self.clocks = {name: BusinessClock(cal, holiday_checker(cal.holidays))
                       for name, cal in matrix.calendars.items()}
        # Real time needs no calendar walk: most timers of a busy day are on 24x7 ones.
        self.always = {name for name, cal in matrix.calendars.items() if cal.kind == "always"}

    def deadline(self, calendar: str, start: datetime, seconds: float) -> datetime:
        if calendar in self.always:
            return start.astimezone(UTC) + timedelta(seconds=max(seconds, 0))
        return self.clocks[calendar].due_at(start, timedelta(seconds=max(seconds, 0)))

    def spent(self, calendar: str, start: datetime, end: datetime) -> int:
        if calendar in self.always:
            return max(int((end - start).total_seconds()), 0)
        return int(self.clocks[calendar].elapsed(start, end).total_seconds())


_clocks_by_version: dict[str, SlaClocks] = {}


def clocks_for(matrix: Matrix) -> SlaClocks:
    if matrix.version not in _clocks_by_version:
        _clocks_by_version[matrix.version] = SlaClocks(matrix)
    return _clocks_by_version[matrix.version]
