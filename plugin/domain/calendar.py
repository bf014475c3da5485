"""Working time on a calendar: when an SLA timer falls due and how much of it has run.

Business calendars count only opening hours on working days that are not holidays, in the
calendar's own time zone; "always" calendars count every second of real time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .matrix import Calendar

Interval = tuple[datetime, datetime]
Pause = tuple[datetime, datetime | None]   # an end of None: still paused

_DAY = timedelta(days=1)
_FOREVER = datetime.max.replace(tzinfo=UTC)
# A calendar that opens less than once in three years is misconfigured, not just quiet.
_SEARCH_LIMIT_DAYS = 3 * 366


def never_a_holiday(day: date) -> bool:
    """The holiday check of a calendar without holidays."""
    return False


class BusinessClock:
    """Working-time arithmetic on one calendar: aware instants in, UTC instants out.

    `paused` intervals (the ticket waits on the customer) do not count; an open one `(t, None)` freezes the timer at t.
    """

    def __init__(self, calendar: Calendar, is_holiday: Callable[[date], bool] = never_a_holiday):
        if calendar.kind not in ("always", "business"):
            raise ValueError(f"calendar {calendar.name!r} has kind {calendar.kind!r}; use always or business")
        self.calendar = calendar
        self.is_holiday = is_holiday
        self.zone = ZoneInfo(calendar.timezone)
        self.opens = time.fromisoformat(calendar.start)
        self.closes, self.closes_next_day = _closing(calendar.end)

    def due_at(self, start: datetime, duration: timedelta, paused: Sequence[Pause] = ()) -> datetime | None:
        """When `duration` of working time has run after `start`; None while an open pause freezes the timer."""
        if duration < timedelta(0):
            raise ValueError(f"a timer duration cannot be negative, got {duration}")
        remaining = duration
        for begin, finish in self._segments(_utc(start), paused):
            # `<=` keeps a due time that lands exactly at closing at closing, not at the next opening.
            if remaining <= finish - begin:
                return begin + remaining
            remaining -= finish - begin
        return None

    def warn_at(self, start: datetime, duration: timedelta, fraction: float,
                paused: Sequence[Pause] = ()) -> datetime | None:
        """When `fraction` (0 to 1) of the working duration has run; None while frozen."""
        if not 0 <= fraction <= 1:
            raise ValueError(f"a warning fraction must be between 0 and 1, got {fraction}")
        return self.due_at(start, duration * fraction, paused)

    def elapsed(self, start: datetime, end: datetime, paused: Sequence[Pause] = ()) -> timedelta:
        """Working time between two instants; zero when `end` is not after `start`."""
        end = _utc(end)
        total = timedelta(0)
        for begin, finish in self._segments(_utc(start), paused, until=end):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total

    def is_open(self, instant: datetime) -> bool:
        """Whether working time runs at `instant` (opening is inside, closing is not)."""
        instant = _utc(instant)
        return any(begin <= instant < finish for begin, finish in self._windows(instant - _DAY, until=instant))

    # -- intervals ---------------------------------------------------------------------------

    def _segments(self, start: datetime, paused: Sequence[Pause],
                  until: datetime | None = None) -> Iterator[Interval]:
        """Working intervals from `start` on, in order, with paused time cut out."""
        pauses, frozen_at = _normalized(paused)
        for begin, finish in self._windows(start, until):
            if frozen_at is not None and begin >= frozen_at:
                return
            if frozen_at is not None:
                finish = min(finish, frozen_at)
            yield from _cut(begin, finish, pauses)

    def _windows(self, start: datetime, until: datetime | None = None) -> Iterator[Interval]:
        """Opening hours from `start` on, one interval per working local day, clipped to `start`."""
        if self.calendar.kind == "always":
            yield start, _FOREVER
            return
        # Begin a day early so a window reaching past local midnight is not missed.
        day = start.astimezone(self.zone).date() - _DAY
        last_day = until.astimezone(self.zone).date() + _DAY if until is not None else date.max
        idle_days = 0
        while day <= last_day:
            window = self._window(day)
            if window and window[1] > start:
                idle_days = 0
                yield max(window[0], start), window[1]
            elif not window:
                idle_days += 1
                if idle_days > _SEARCH_LIMIT_DAYS:
                    raise ValueError(f"calendar {self.calendar.name!r} has no working time in three years; "
                                     "check its days, hours and holidays")
            day += _DAY

    def _window(self, day: date) -> Interval | None:
        """The opening hours of one local day as UTC instants, or None when closed all day."""
        if day.weekday() not in self.calendar.days or self.is_holiday(day):
            return None
        begin = self._instant(day, self.opens, latest=False)
        finish = self._instant(day + _DAY if self.closes_next_day else day, self.closes, latest=True)
        return (begin, finish) if begin < finish else None

    def _instant(self, day: date, wall: time, latest: bool) -> datetime:
        """A local wall time as UTC: a repeated time maps to its first occurrence (its last when
        `latest`), so the window covers both; a skipped time maps to the instant after the gap."""
        local = datetime.combine(day, wall, tzinfo=self.zone)
        if latest and _exists(local):
            local = local.replace(fold=1)
        return local.astimezone(UTC)


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant.isoformat()} has no time zone; pass an aware datetime")
    return instant.astimezone(UTC)


def _exists(local: datetime) -> bool:
    """Whether the wall time occurs at all (it does not inside a spring-forward gap)."""
    back = local.astimezone(UTC).astimezone(local.tzinfo)
    return back.replace(tzinfo=None) == local.replace(tzinfo=None)


def _closing(text: str) -> tuple[time, bool]:
    """The closing wall time and whether it is the next day's midnight ("24:00")."""
    return (time(0), True) if text == "24:00" else (time.fromisoformat(text), False)


def _normalized(paused: Sequence[Pause]) -> tuple[list[Interval], datetime | None]:
    """Closed pauses as sorted, merged UTC intervals, and the start of the earliest open pause."""
    open_starts = [_utc(begin) for begin, end in paused if end is None]
    closed = sorted((_utc(begin), _utc(end)) for begin, end in paused if end is not None)
    merged: list[Interval] = []
    for begin, end in closed:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif begin < end:
            merged.append((begin, end))
    return merged, min(open_starts, default=None)


def _cut(begin: datetime, finish: datetime, pauses: list[Interval]) -> Iterator[Interval]:
    """The parts of [begin, finish) outside every pause, skipping empty ones."""
    for pause_start, pause_end in pauses:
        if pause_end <= begin:
            continue
        if pause_start >= finish:
            break
        if pause_start > begin:
            yield begin, pause_start
        begin = max(begin, pause_end)
        if begin >= finish:
            return
    if begin < finish:
        yield begin, finish
