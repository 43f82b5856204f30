"""The device's own sunrise/sunset against astral, a whole year, on CPython and on MicroPython."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest
from astral import Observer
from astral.sun import sunrise, sunset

from firmware.device import suntime
from tests.firmware.conftest import mpy_json

TOLERANCE_S = 120
YEAR = [dt.date(2025, 1, 1) + dt.timedelta(days=k) for k in range(365)]
PLACES = {
    "timika": (-4.55, 136.88, "Asia/Jayapura"),
    "60N": (60.0, 10.75, "Europe/Oslo"),
}


def astral_times(lat: float, lon: float, tz: str) -> list[tuple[float, float]]:
    obs = Observer(lat, lon)
    return [(sunrise(obs, d, tzinfo=ZoneInfo(tz)).timestamp(), sunset(obs, d, tzinfo=ZoneInfo(tz)).timestamp())
            for d in YEAR]


def days() -> list[int]:
    return [suntime.days_from_civil(d.year, d.month, d.day) for d in YEAR]


def worst(device: list[list[int | None]], ref: list[tuple[float, float]]) -> float:
    err = 0.0
    for (rise, sset), (arise, aset) in zip(device, ref, strict=True):
        assert rise is not None and sset is not None
        err = max(err, abs(rise - arise), abs(sset - aset))
    return err


@pytest.mark.parametrize("place", sorted(PLACES))
def test_sun_times_match_astral_for_a_year_on_cpython(place: str) -> None:
    lat, lon, tz = PLACES[place]
    device = [list(suntime.sun_times(d, lat, lon)) for d in days()]
    assert worst(device, astral_times(lat, lon, tz)) <= TOLERANCE_S


@pytest.mark.parametrize("place", sorted(PLACES))
def test_sun_times_match_astral_for_a_year_on_micropython(place: str) -> None:
    lat, lon, tz = PLACES[place]
    device = mpy_json(
        "import json, suntime\n"
        f"print(json.dumps([list(suntime.sun_times(d, {lat}, {lon})) for d in {json.dumps(days())}]))"
    )
    assert worst(device, astral_times(lat, lon, tz)) <= TOLERANCE_S


def test_sunrise_is_on_the_local_date_east_of_greenwich() -> None:
    # Timika's sunrise (~05:50 WIT) is the previous UTC day: it must still belong to the local date.
    day = suntime.days_from_civil(2025, 6, 21)
    rise, sset = suntime.sun_times(day, -4.55, 136.88)
    assert rise is not None and sset is not None
    local = ZoneInfo("Asia/Jayapura")
    assert dt.datetime.fromtimestamp(rise, local).date() == dt.date(2025, 6, 21)
    assert dt.datetime.fromtimestamp(sset, local).date() == dt.date(2025, 6, 21)


def test_polar_night_has_no_sunrise() -> None:
    rise, sset = suntime.sun_times(suntime.days_from_civil(2025, 12, 21), 78.2, 15.6)  # Longyearbyen
    assert rise is None and sset is None
    assert suntime.is_night(1766318400, 78.2, 15.6, 60)


def test_civil_date_conversion_round_trips() -> None:
    for z in range(-1000, 40000, 37):
        assert suntime.days_from_civil(*suntime.civil_from_days(z)) == z
