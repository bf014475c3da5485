"""SLA time on calendars: opening hours, weekends, public holidays, DST and pauses."""
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plugin.domain.calendar import BusinessClock
from plugin.domain.matrix import Calendar
from plugin.holidays_adapter import holiday_checker

WEEKDAYS = (0, 1, 2, 3, 4)
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")

ALWAYS = Calendar("24x7", "always")
US = Calendar("business-us", "business", "America/New_York", WEEKDAYS, "09:00", "17:00", "US")
DE = Calendar("business-de", "business", "Europe/Berlin", WEEKDAYS, "09:00", "17:00", "DE")
BAVARIA = Calendar("business-by", "business", "Europe/Berlin", WEEKDAYS, "09:00", "17:00", "DE-BY")
EU = Calendar("business-eu", "business", "Europe/Berlin", WEEKDAYS, "08:00", "18:00", "DE")


def clock(calendar: Calendar) -> BusinessClock:
    return BusinessClock(calendar, holiday_checker(calendar.holidays))


def ny(*parts) -> datetime:
    return datetime(*parts, tzinfo=NEW_YORK)


def berlin(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.mark.parametrize("calendar, start, duration, due", [
    pytest.param(ALWAYS, utc(2026, 11, 16, 23, 55), timedelta(minutes=15), utc(2026, 11, 17, 0, 10),
                 id="24x7 runs through midnight"),
    pytest.param(US, ny(2026, 11, 13, 16, 30), hours(1), ny(2026, 11, 16, 9, 30),
                 id="friday afternoon continues on monday morning"),
    pytest.param(US, ny(2026, 11, 14, 12, 0), hours(1), ny(2026, 11, 16, 10, 0),
                 id="weekend start begins at monday opening"),
    pytest.param(US, ny(2026, 11, 16, 9, 0), hours(8), ny(2026, 11, 16, 17, 0),
                 id="due exactly at closing stays at closing"),
    pytest.param(US, ny(2026, 11, 16, 9, 0), hours(48), ny(2026, 11, 23, 17, 0),
                 id="two days of business time span six working days"),
    pytest.param(US, ny(2026, 11, 17, 7, 0), hours(1), ny(2026, 11, 17, 10, 0),
                 id="early start begins at opening"),
    pytest.param(US, ny(2026, 11, 16, 9, 0), timedelta(0), ny(2026, 11, 16, 9, 0),
                 id="zero duration inside hours is due at once"),
    pytest.param(US, ny(2026, 11, 25, 16, 30), hours(1), ny(2026, 11, 27, 9, 30),
                 id="us thanksgiving is skipped"),
    pytest.param(DE, berlin(2026, 1, 5, 16, 30), hours(1), berlin(2026, 1, 6, 9, 30),
                 id="epiphany is a working day in germany at large"),
    pytest.param(BAVARIA, berlin(2026, 1, 5, 16, 30), hours(1), berlin(2026, 1, 7, 9, 30),
                 id="epiphany is skipped in bavaria"),
    pytest.param(EU, berlin(2026, 3, 27, 16, 0), hours(4), utc(2026, 3, 30, 8, 0),
                 id="berlin spring forward weekend keeps monday 10:00 local"),
    pytest.param(US, ny(2026, 10, 30, 16, 0), hours(2), utc(2026, 11, 2, 15, 0),
                 id="new york fall back weekend keeps monday 10:00 local"),
    pytest.param(ALWAYS, ny(2026, 3, 8, 0, 30), hours(3), utc(2026, 3, 8, 8, 30),
                 id="24x7 across spring forward is real time"),
    pytest.param(ALWAYS, ny(2026, 11, 1, 0, 30), hours(3), utc(2026, 11, 1, 7, 30),
                 id="24x7 across fall back is real time"),
])
def test_timer_is_due_after_its_working_time_has_run(calendar, start, duration, due):
    assert clock(calendar).due_at(start, duration) == due
    assert clock(calendar).due_at(start, duration).tzinfo is UTC


@pytest.mark.parametrize("start, due_local", [
    (utc(2026, 3, 8, 5, 30), datetime(2026, 3, 8, 4, 30)),
    (utc(2026, 11, 1, 4, 30), datetime(2026, 11, 1, 2, 30)),
])
def test_24x7_timer_across_dst_shows_the_shifted_wall_clock(start, due_local):
    due = clock(ALWAYS).due_at(start, hours(3))

    assert due.astimezone(NEW_YORK).replace(tzinfo=None) == due_local


@pytest.mark.parametrize("zone, day, opening, closing, length", [
    ("Europe/Berlin", date(2026, 3, 29), "09:00", "18:00", hours(9)),
    ("Europe/Berlin", date(2026, 10, 25), "09:00", "18:00", hours(9)),
    ("America/New_York", date(2026, 11, 1), "09:00", "18:00", hours(9)),
    ("Europe/Berlin", date(2026, 3, 29), "00:00", "24:00", hours(23)),
    ("Europe/Berlin", date(2026, 10, 25), "00:00", "24:00", hours(25)),
    ("America/New_York", date(2026, 3, 8), "01:00", "04:00", hours(2)),
    ("America/New_York", date(2026, 11, 1), "01:00", "03:00", hours(3)),
    ("America/New_York", date(2026, 3, 8), "02:30", "04:00", hours(0.5)),    # 02:30 is skipped: opens 03:30
    ("America/New_York", date(2026, 11, 1), "00:00", "01:30", hours(2.5)),   # 01:30 repeats: closes the second
])
def test_working_day_on_a_dst_change_lasts_its_real_time(zone, day, opening, closing, length):
    calendar = Calendar("daily", "business", zone, tuple(range(7)), opening, closing)
    midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(zone))
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))

    assert BusinessClock(calendar).elapsed(midnight, next_midnight) == length


@pytest.mark.parametrize("start, end, worked", [
    (ny(2026, 11, 13, 16, 30), ny(2026, 11, 16, 9, 30), hours(1)),
    (ny(2026, 11, 14, 8, 0), ny(2026, 11, 15, 20, 0), timedelta(0)),
    (ny(2026, 11, 16, 7, 0), ny(2026, 11, 20, 23, 0), hours(40)),
    (ny(2026, 11, 16, 12, 0), ny(2026, 11, 16, 11, 0), timedelta(0)),
])
def test_elapsed_counts_only_opening_hours(start, end, worked):
    assert clock(US).elapsed(start, end) == worked


MONDAY_10 = ny(2026, 11, 16, 10, 0)


@pytest.mark.parametrize("paused, due", [
    pytest.param([(ny(2026, 11, 16, 10, 15), ny(2026, 11, 16, 10, 45))], ny(2026, 11, 16, 11, 30),
                 id="pause in the middle delays by its length"),
    pytest.param([(ny(2026, 11, 16, 10, 15), ny(2026, 11, 16, 10, 45)),
                  (ny(2026, 11, 16, 10, 30), ny(2026, 11, 16, 11, 0))], ny(2026, 11, 16, 11, 45),
                 id="overlapping pauses count once"),
    pytest.param([(ny(2026, 11, 16, 9, 0), ny(2026, 11, 16, 10, 30))], ny(2026, 11, 16, 11, 30),
                 id="pause begun before the start counts from the start"),
    pytest.param([(ny(2026, 11, 16, 16, 30), ny(2026, 11, 17, 9, 30))], ny(2026, 11, 16, 11, 0),
                 id="pause after the due time changes nothing"),
    pytest.param([(ny(2026, 11, 16, 10, 30), None)], None,
                 id="open pause freezes the timer"),
    pytest.param([(ny(2026, 11, 16, 12, 0), None)], ny(2026, 11, 16, 11, 0),
                 id="open pause after the due time keeps the due time"),
])
def test_paused_time_does_not_count(paused, due):
    assert clock(US).due_at(MONDAY_10, hours(1), paused) == due


def test_pause_across_closing_counts_only_the_opening_hours_it_covers():
    paused = [(ny(2026, 11, 16, 16, 30), ny(2026, 11, 17, 9, 30))]

    assert clock(US).due_at(ny(2026, 11, 16, 16, 0), hours(1), paused) == ny(2026, 11, 17, 10, 0)
    assert clock(US).elapsed(ny(2026, 11, 16, 16, 0), ny(2026, 11, 17, 10, 0), paused) == hours(1)


def test_24x7_timer_pauses_in_real_time():
    paused = [(utc(2026, 11, 16, 10, 0), utc(2026, 11, 16, 12, 0))]

    assert clock(ALWAYS).due_at(utc(2026, 11, 16, 9, 0), hours(2), paused) == utc(2026, 11, 16, 13, 0)


@pytest.mark.parametrize("calendar, start, fraction, warning", [
    (US, ny(2026, 11, 13, 16, 30), 0.8, ny(2026, 11, 16, 9, 18)),
    (US, ny(2026, 11, 13, 16, 30), 0.5, ny(2026, 11, 13, 17, 0)),
    (ALWAYS, utc(2026, 11, 16, 9, 0), 0.8, utc(2026, 11, 16, 9, 48)),
])
def test_warning_fires_after_its_fraction_of_working_time(calendar, start, fraction, warning):
    assert clock(calendar).warn_at(start, hours(1), fraction) == warning


@pytest.mark.parametrize("code, day, holiday", [
    ("US", date(2026, 11, 26), True),
    ("US", date(2026, 11, 27), False),
    ("DE-BY", date(2026, 1, 6), True),
    ("de-by", date(2026, 1, 6), True),
    ("DE", date(2026, 1, 6), False),
    ("", date(2026, 12, 25), False),
])
def test_holiday_checker_knows_public_holidays(code, day, holiday):
    assert holiday_checker(code)(day) is holiday


@pytest.mark.parametrize("code", ["XX", "DE-XX", "Germany"])
def test_unknown_holiday_code_is_rejected_with_the_code_named(code):
    with pytest.raises(ValueError, match=repr(code.upper())):
        holiday_checker(code)


@pytest.mark.parametrize("calendar, is_holiday", [
    pytest.param(Calendar("nodays", "business", "UTC", ()), None, id="no working days"),
    pytest.param(Calendar("closed", "business", "UTC", WEEKDAYS, "09:00", "09:00"), None, id="no opening hours"),
    pytest.param(Calendar("holidays", "business", "UTC", WEEKDAYS), lambda day: True, id="every day a holiday"),
])
def test_calendar_without_working_time_is_rejected(calendar, is_holiday):
    business = BusinessClock(calendar, is_holiday) if is_holiday else BusinessClock(calendar)

    with pytest.raises(ValueError, match="no working time"):
        business.due_at(utc(2026, 11, 16, 9, 0), hours(1))


@pytest.mark.parametrize("call", [
    pytest.param(lambda c: c.due_at(datetime(2026, 11, 16, 9, 0), hours(1)), id="naive start"),
    pytest.param(lambda c: c.due_at(utc(2026, 11, 16, 9, 0), -hours(1)), id="negative duration"),
    pytest.param(lambda c: c.warn_at(utc(2026, 11, 16, 9, 0), hours(1), 1.5), id="fraction above one"),
])
def test_invalid_timer_arguments_are_rejected(call):
    with pytest.raises(ValueError):
        call(clock(US))


def test_unknown_calendar_kind_is_rejected():
    with pytest.raises(ValueError, match="'weekly'"):
        BusinessClock(Calendar("odd", "weekly"))


def test_long_timers_are_computed_day_by_day():
    calls = []
    business = BusinessClock(US, lambda day: calls.append(day) or False)

    due = business.due_at(ny(2026, 1, 5, 9, 0), hours(8 * 250))

    assert due == ny(2026, 12, 18, 17, 0)   # 50 weeks of five 8-hour days
    assert len(calls) < 300


# -- properties ------------------------------------------------------------------------------------

CALENDARS = [US, EU, Calendar("weekend-late", "business", "America/New_York", (4, 5, 6), "20:00", "24:00", "US")]
starts = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC))
durations = st.integers(0, 200 * 3600).map(lambda seconds: timedelta(seconds=seconds))


def within_opening_hours(calendar: Calendar, instant: datetime) -> bool:
    local = instant.astimezone(ZoneInfo(calendar.timezone))
    if local.time() == time(0) and calendar.end == "24:00":
        local -= timedelta(microseconds=1)   # midnight closing belongs to the day before
    working_day = local.weekday() in calendar.days and not holiday_checker(calendar.holidays)(local.date())
    closes = time.max if calendar.end == "24:00" else time.fromisoformat(calendar.end)
    return working_day and time.fromisoformat(calendar.start) <= local.time() <= closes


@settings(deadline=None, max_examples=200)
@given(calendar=st.sampled_from(CALENDARS), start=starts, duration=durations)
def test_elapsed_inverts_due_at(calendar, start, duration):
    business = clock(calendar)

    assert business.elapsed(start, business.due_at(start, duration)) == duration


@settings(deadline=None, max_examples=200)
@given(calendar=st.sampled_from(CALENDARS), start=starts, first=durations, second=durations)
def test_due_at_is_monotonic_in_the_duration(calendar, start, first, second):
    business = clock(calendar)
    shorter, longer = sorted((first, second))

    assert business.due_at(start, shorter) <= business.due_at(start, longer)


@settings(deadline=None, max_examples=200)
@given(calendar=st.sampled_from(CALENDARS), start=starts, duration=durations)
def test_due_at_falls_within_opening_hours_or_exactly_at_closing(calendar, start, duration):
    assert within_opening_hours(calendar, clock(calendar).due_at(start, duration))


@settings(deadline=None, max_examples=200)
@given(calendar=st.sampled_from(CALENDARS + [ALWAYS]), start=starts, duration=durations)
def test_warning_never_comes_after_the_due_time(calendar, start, duration):
    business = clock(calendar)

    assert start <= business.warn_at(start, duration, 0.8) <= business.due_at(start, duration)
