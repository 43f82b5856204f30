from __future__ import annotations

import datetime as dt

import numpy as np

from simulator.districts import TIMIKA_LAT, TIMIKA_LON
from simulator.schedule import AllNightFullOn, last_sunset, local_hour, sun_times

WIT = dt.timezone(dt.timedelta(hours=9))


def at(day: int, hour: float, month: int = 3) -> float:
    return dt.datetime(2025, month, day, tzinfo=WIT).timestamp() + hour * 3600


def test_timika_sunset_is_around_six_in_the_evening_all_year() -> None:
    for month in (1, 4, 7, 10):
        day = int(dt.datetime(2025, month, 15, tzinfo=WIT).timestamp() // 86400)
        rise, set_ = sun_times(TIMIKA_LAT, TIMIKA_LON, day)
        assert 5.5 < local_hour(np.array([rise]))[0] < 6.2
        assert 17.6 < local_hour(np.array([set_]))[0] < 18.3


def test_lamps_are_on_at_night_and_off_by_day() -> None:
    sched = AllNightFullOn(np.array([TIMIKA_LON]), TIMIKA_LAT, TIMIKA_LON)
    lamp = np.array([0])
    assert sched.levels(lamp, np.array([at(1, 22.0)]))[0] == 100
    assert sched.levels(lamp, np.array([at(1, 3.0)]))[0] == 100
    assert sched.levels(lamp, np.array([at(1, 12.0)]))[0] == 0
    assert sched.levels(lamp, np.array([at(1, 7.0)]))[0] == 0


def test_eastern_lamps_light_up_before_western_ones() -> None:
    west, east = 135.3, 137.7
    sched = AllNightFullOn(np.array([west, east]), TIMIKA_LAT, TIMIKA_LON)
    day = int(at(1, 12) // 86400)
    _, set_ = sun_times(TIMIKA_LAT, TIMIKA_LON, day)
    # Just after the eastern lamp's sunset, the western lamp's sun has not set yet.
    t = set_ - (east - TIMIKA_LON) * 240 + 60
    levels = sched.levels(np.array([0, 1]), np.array([t, t]))
    assert levels.tolist() == [0, 100]


def test_schedule_level_can_be_set_lower() -> None:
    sched = AllNightFullOn(np.array([TIMIKA_LON]), TIMIKA_LAT, TIMIKA_LON, level=60)
    assert sched.levels(np.array([0]), np.array([at(1, 23.0)]))[0] == 60


def test_last_sunset_is_yesterdays_by_day_and_todays_at_night() -> None:
    by_day = last_sunset(at(10, 15.0), TIMIKA_LAT, TIMIKA_LON)
    at_night = last_sunset(at(10, 22.0), TIMIKA_LAT, TIMIKA_LON)
    assert at(9, 17.5) < by_day < at(9, 18.5)
    assert at(10, 17.5) < at_night < at(10, 18.5)
