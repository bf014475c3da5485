from datetime import timedelta

import pytest

from plugin.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize("text, delta, shortest", [
    ("30s", timedelta(seconds=30), "30s"),
    ("15m", timedelta(minutes=15), "15m"),
    ("2h", timedelta(hours=2), "2h"),
    ("1d", timedelta(days=1), "1d"),
    ("1h30m", timedelta(hours=1, minutes=30), "1h30m"),
    ("90m", timedelta(hours=1, minutes=30), "1h30m"),
    ("1w", timedelta(weeks=1), "7d"),
])
def test_duration_is_parsed_and_formatted_in_its_shortest_form(text, delta, shortest):
    assert parse_duration(text) == delta
    assert format_duration(delta) == shortest


@pytest.mark.parametrize("text", [
    "15 mins", "15", "m", "", "-5m", 15,
    "0m",
])
def test_malformed_duration_is_rejected_with_an_example_of_the_right_form(text):
    with pytest.raises(ValueError) as raised:
        parse_duration(text)

    assert repr(text) in str(raised.value)
    assert "e.g. 30s, 15m" in str(raised.value)


def test_zero_duration_is_rejected_because_a_timer_must_run():
    with pytest.raises(ValueError, match="must be positive"):
        parse_duration("0m")
