"""Quiet hours: which messages wait, and for exactly how long."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from webapp.core import quiet_hours

JAKARTA = ZoneInfo("Asia/Jakarta")


def at(hour, minute=0, second=0, day=10):
    return datetime(2026, 12, day, hour, minute, second, tzinfo=JAKARTA)


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("21:00-07:00", (time(21), time(7))),
        (" 22:30 - 06:15 ", (time(22, 30), time(6, 15))),
        ("13:00:05-13:00:20", (time(13, 0, 5), time(13, 0, 20))),
    ],
)
def test_a_window_is_read_from_its_spec(spec, expected):
    window = quiet_hours.parse(spec)
    assert (window.start, window.end) == expected


@pytest.mark.parametrize("spec", ["21:00", "21-07", "25:00-07:00", "21:00-07:00-08:00", "x-y"])
def test_a_malformed_spec_is_refused_with_the_reason(spec):
    with pytest.raises(ValueError, match="quiet hours"):
        quiet_hours.parse(spec)


class TestAWindowAcrossMidnight:
    window = quiet_hours.parse("21:00-07:00")

    def test_the_evening_waits_until_the_next_morning(self):
        assert self.window.remaining(at(22, 30)) == timedelta(hours=8, minutes=30)

    def test_the_early_morning_waits_until_seven(self):
        assert self.window.remaining(at(6, 59, 30)) == timedelta(seconds=30)

    def test_the_start_is_quiet_and_the_end_is_not(self):
        assert self.window.remaining(at(21)) == timedelta(hours=10)
        assert self.window.remaining(at(7)) == timedelta(0)

    def test_the_day_is_not_quiet(self):
        assert self.window.remaining(at(12)) == timedelta(0)
        assert self.window.remaining(at(20, 59, 59)) == timedelta(0)


def test_a_window_within_one_day():
    window = quiet_hours.parse("12:00-13:30")
    assert window.remaining(at(12, 15)) == timedelta(hours=1, minutes=15)
    assert window.remaining(at(11, 59)) == timedelta(0)
    assert window.remaining(at(13, 30)) == timedelta(0)
