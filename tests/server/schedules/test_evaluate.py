"""The reference evaluator, case by case: offsets, nights across midnight, carry-in, fades,
calendars and priorities, holidays, overrides ending at the exact instant, clamps."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from server.schedules.evaluate import level_at, night_plan
from server.schedules.sun import local_midnight, night_of, night_sun

WIT = 540
FRIDAY = dt.date(2026, 11, 27)  # a Friday


def fixed_sun(day: dt.date) -> tuple[int, int]:
    """Sunset 18:00, sunrise 06:00 local, every night: makes the tables readable."""
    return local_midnight(day, WIT) + 18 * 3600, local_midnight(day + dt.timedelta(days=1), WIT) + 6 * 3600


def at(day: dt.date, hhmm: str, plus_s: int = 0) -> int:
    """Local WIT clock time on the night that begins on ``day`` (times before noon: the next morning)."""
    h, m = map(int, hhmm.split(":"))
    on = day if h >= 12 else day + dt.timedelta(days=1)
    return local_midnight(on, WIT) + h * 3600 + m * 60 + plus_s


def cfg(prof: list[Any], cal: list[Any] | None = None, ovr: list[Any] | None = None, **kw: Any) -> dict[str, Any]:
    return {"tz": WIT, "prof": prof, "cal": cal or [], "ovr": ovr or [], "min": 0, "max": 100, **kw}


ALL_NIGHT = [[1, 0, 100, 0], [2, 0, 0, 0]]
EVENING_DIM = [[1, 30, 80, 0], [0, 23 * 60, 40, 0], [2, -30, 0, 0]]

CASES = [
    # name, config, time, expected level
    ("before sunset: last level of the previous night", cfg([ALL_NIGHT]), at(FRIDAY, "17:59"), 0),
    ("at sunset", cfg([ALL_NIGHT]), at(FRIDAY, "18:00"), 100),
    ("just before midnight", cfg([ALL_NIGHT]), at(FRIDAY, "23:59"), 100),
    ("just after midnight, same night", cfg([ALL_NIGHT]), at(FRIDAY, "00:01"), 100),
    ("one second before sunrise", cfg([ALL_NIGHT]), at(FRIDAY, "06:00", -1), 100),
    ("at sunrise", cfg([ALL_NIGHT]), at(FRIDAY, "06:00"), 0),
    ("sunset + 30: not yet", cfg([EVENING_DIM]), at(FRIDAY, "18:29"), 0),
    ("sunset + 30: on", cfg([EVENING_DIM]), at(FRIDAY, "18:30"), 80),
    ("clock step at 23:00", cfg([EVENING_DIM]), at(FRIDAY, "23:00"), 40),
    ("sunrise - 30", cfg([EVENING_DIM]), at(FRIDAY, "05:30"), 0),
    ("sunrise - 30, one second before", cfg([EVENING_DIM]), at(FRIDAY, "05:30", -1), 40),
    ("clock step before noon falls on the next day", cfg([[[1, 0, 100, 0], [0, 60, 30, 0], [2, 0, 0, 0]]]),
     at(FRIDAY, "01:00"), 30),
    ("... and not before it", cfg([[[1, 0, 100, 0], [0, 60, 30, 0], [2, 0, 0, 0]]]), at(FRIDAY, "00:59"), 100),
    ("carry-in: the day holds the previous night's last level",
     cfg([[[0, 20 * 60, 100, 0], [2, 0, 20, 0]]]), at(FRIDAY, "15:00"), 20),
    ("fade: half way up after half the fade", cfg([[[1, 0, 100, 600], [2, 0, 0, 0]]]), at(FRIDAY, "18:05"), 50),
    ("fade: done", cfg([[[1, 0, 100, 600], [2, 0, 0, 0]]]), at(FRIDAY, "18:10"), 100),
    ("fade down from the level before", cfg([[[1, 0, 100, 0], [0, 22 * 60, 50, 1000], [2, 0, 0, 0]]]),
     at(FRIDAY, "22:00", 500), 75),
    # Calendars: bit 4 = Friday. The rule is decided by the date the night begins.
    ("weekday rule: Friday night", cfg([ALL_NIGHT, EVENING_DIM], [[1, 1 << 4, 0, 0]]), at(FRIDAY, "23:30"), 40),
    ("weekday rule: still Friday's night on Saturday 02:00", cfg([ALL_NIGHT, EVENING_DIM], [[1, 1 << 4, 0, 0]]),
     at(FRIDAY, "02:00"), 40),
    ("weekday rule: Thursday night is the default profile",
     cfg([ALL_NIGHT, EVENING_DIM], [[1, 1 << 4, 0, 0]]), at(FRIDAY - dt.timedelta(days=1), "23:30"), 100),
    ("first matching rule wins", cfg([ALL_NIGHT, EVENING_DIM, [[1, 0, 10, 0], [2, 0, 0, 0]]],
                                     [[2, 127, 20261127, 20261127], [1, 127, 0, 0]]), at(FRIDAY, "23:30"), 10),
    ("date range: inside", cfg([ALL_NIGHT, EVENING_DIM], [[1, 127, 20261101, 20261130]]), at(FRIDAY, "23:30"), 40),
    ("date range: after its end", cfg([ALL_NIGHT, EVENING_DIM], [[1, 127, 20261101, 20261126]]),
     at(FRIDAY, "23:30"), 100),
    ("holiday (17 August) as a special-day rule", cfg([EVENING_DIM, ALL_NIGHT], [[1, 127, 20260817, 20260817]]),
     at(dt.date(2026, 8, 17), "23:30"), 100),
    ("the night before the holiday is ordinary", cfg([EVENING_DIM, ALL_NIGHT], [[1, 127, 20260817, 20260817]]),
     at(dt.date(2026, 8, 16), "23:30"), 40),
    # Overrides: [level, from, until), the later-starting one wins.
    ("override: one second before it starts", cfg([ALL_NIGHT], ovr=[[30, at(FRIDAY, "20:00"), at(FRIDAY, "21:00")]]),
     at(FRIDAY, "20:00", -1), 100),
    ("override: at the instant it starts", cfg([ALL_NIGHT], ovr=[[30, at(FRIDAY, "20:00"), at(FRIDAY, "21:00")]]),
     at(FRIDAY, "20:00"), 30),
    ("override: one second before it ends", cfg([ALL_NIGHT], ovr=[[30, at(FRIDAY, "20:00"), at(FRIDAY, "21:00")]]),
     at(FRIDAY, "21:00", -1), 30),
    ("override: at the instant it ends the schedule resumes",
     cfg([ALL_NIGHT], ovr=[[30, at(FRIDAY, "20:00"), at(FRIDAY, "21:00")]]), at(FRIDAY, "21:00"), 100),
    ("override by day lights the lamp", cfg([ALL_NIGHT], ovr=[[100, at(FRIDAY, "13:00"), at(FRIDAY, "14:00")]]),
     at(FRIDAY, "13:30"), 100),
    ("later-starting override wins", cfg([ALL_NIGHT], ovr=[[100, at(FRIDAY, "20:00"), at(FRIDAY, "23:00")],
                                                        [10, at(FRIDAY, "21:00"), at(FRIDAY, "22:00")]]),
     at(FRIDAY, "21:30"), 10),
    ("the earlier override resumes when the later ends",
     cfg([EVENING_DIM], ovr=[[70, at(FRIDAY, "20:00"), at(FRIDAY, "23:30")],
                             [10, at(FRIDAY, "21:00"), at(FRIDAY, "22:00")]]), at(FRIDAY, "22:00"), 70),
    # Clamps.
    ("min raises a low level", cfg([[[1, 0, 10, 0], [2, 0, 0, 0]]], min=20), at(FRIDAY, "19:00"), 20),
    ("min leaves off alone", cfg([[[1, 0, 10, 0], [2, 0, 0, 0]]], min=20), at(FRIDAY, "07:00"), 0),
    ("max caps", cfg([ALL_NIGHT], max=80), at(FRIDAY, "19:00"), 80),
]


@pytest.mark.parametrize(("config", "ts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_level_at(config: dict[str, Any], ts: int, expected: int) -> None:
    assert level_at(config, ts, fixed_sun) == expected


def test_night_runs_from_noon_to_noon() -> None:
    assert night_of(at(FRIDAY, "12:00"), WIT) == FRIDAY
    assert night_of(at(FRIDAY, "11:59"), WIT) == FRIDAY
    assert night_of(at(FRIDAY, "12:00") - 1, WIT) == FRIDAY - dt.timedelta(days=1)


def test_plan_of_a_night_lists_jumps_and_ramps() -> None:
    plan = night_plan(cfg([[[1, 0, 100, 600], [0, 23 * 60, 40, 0], [2, 0, 0, 0]]]), FRIDAY, fixed_sun)
    assert plan.points == [
        (at(FRIDAY, "12:00"), 0.0),
        (at(FRIDAY, "18:00"), 0.0),
        (at(FRIDAY, "18:10"), 100.0),
        (at(FRIDAY, "23:00"), 100.0),
        (at(FRIDAY, "23:00"), 40.0),
        (at(FRIDAY, "06:00"), 40.0),
        (at(FRIDAY, "06:00"), 0.0),
        (plan.end, 0.0),
    ]
    assert plan.end - plan.start == 86_400


def test_plan_includes_an_override() -> None:
    plan = night_plan(cfg([ALL_NIGHT], ovr=[[30, at(FRIDAY, "20:00"), at(FRIDAY, "21:00")]]), FRIDAY, fixed_sun)
    assert (at(FRIDAY, "20:00"), 30.0) in plan.points
    assert (at(FRIDAY, "21:00"), 100.0) in plan.points


def test_timika_nights_are_about_twelve_hours() -> None:
    sunset, sunrise = night_sun(-4.55, 136.88, dt.date(2026, 6, 21), WIT)
    local_sunset = dt.datetime.fromtimestamp(sunset, dt.timezone(dt.timedelta(minutes=WIT)))
    assert 17 <= local_sunset.hour <= 18
    assert 11.5 * 3600 < sunrise - sunset < 12.5 * 3600


@pytest.mark.parametrize(("lat", "day", "length"), [(70.0, dt.date(2026, 6, 21), 0),
                                                    (-70.0, dt.date(2026, 6, 21), 86_400)])
def test_polar_nights_do_not_fail(lat: float, day: dt.date, length: int) -> None:
    sunset, sunrise = night_sun(lat, 10.0, day, 60)
    assert sunrise - sunset == length
