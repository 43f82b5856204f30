"""Which dim level each lamp is at, at a given time.

This is the seam where the schedules work plugs in: anything with a ``levels`` method of the
``DimSource`` shape can drive the fleet. v0 ships the simplest real schedule: full on from sunset
to sunrise, as a photocell or an astronomical clock would do.
"""

from __future__ import annotations

import datetime as dt
import math
from functools import lru_cache
from typing import Protocol

import numpy as np
import numpy.typing as npt
from astral import Observer
from astral.sun import sun

WIT_OFFSET_S = 9 * 3600  # Asia/Jayapura has no daylight saving
DAY_S = 86_400
# The sun crosses one degree of longitude in four minutes.
SECONDS_PER_DEGREE_LON = 240.0


class DimSource(Protocol):
    def levels(self, lamps: npt.NDArray[np.intp], ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Dim level 0-100 of each lamp in ``lamps`` at the matching Unix time in ``ts``."""
        ...


@lru_cache(maxsize=4096)
def sun_times(lat: float, lon: float, local_day: int, tz_offset_s: int = WIT_OFFSET_S) -> tuple[float, float]:
    """(sunrise, sunset) as Unix seconds on the local calendar day ``local_day`` (days since 1970-01-01)."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=local_day)
    tz = dt.timezone(dt.timedelta(seconds=tz_offset_s))
    times = sun(Observer(latitude=lat, longitude=lon), date=date, tzinfo=tz)
    return times["sunrise"].timestamp(), times["sunset"].timestamp()


class AllNightFullOn:
    """Every lamp at ``level`` from its own sunset to its own sunrise, off by day.

    Sun times are computed once per day at a reference point and shifted by each lamp's longitude;
    across Mimika (about 2.5 degrees wide) that is a ten-minute spread, latitude matters far less.
    """

    def __init__(
        self,
        lon: npt.NDArray[np.float64],
        ref_lat: float,
        ref_lon: float,
        level: int = 100,
        tz_offset_s: int = WIT_OFFSET_S,
    ) -> None:
        if not 0 <= level <= 100:
            raise ValueError("level must be 0..100")
        self.shift_s = (np.asarray(lon, dtype=np.float64) - ref_lon) * SECONDS_PER_DEGREE_LON
        self.ref_lat = ref_lat
        self.ref_lon = ref_lon
        self.level = level
        self.tz_offset_s = tz_offset_s

    def levels(self, lamps: npt.NDArray[np.intp], ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        # The time the reference point had when the sun stood where it stands for this lamp now.
        solar = np.asarray(ts, dtype=np.float64) + self.shift_s[lamps]
        day = np.floor((solar + self.tz_offset_s) / DAY_S).astype(np.int64)
        sunrise = np.empty_like(solar)
        sunset = np.empty_like(solar)
        for d in np.unique(day):
            rise, set_ = sun_times(self.ref_lat, self.ref_lon, int(d), self.tz_offset_s)
            mask = day == d
            sunrise[mask] = rise
            sunset[mask] = set_
        on = (solar < sunrise) | (solar >= sunset)
        return np.where(on, self.level, 0).astype(np.int64)


def local_hour(ts: npt.NDArray[np.float64], tz_offset_s: int = WIT_OFFSET_S) -> npt.NDArray[np.float64]:
    """Local clock hour 0 <= h < 24 as a float."""
    return np.mod((np.asarray(ts, dtype=np.float64) + tz_offset_s) / 3600.0, 24.0)


def last_sunset(ts: float, lat: float, lon: float, tz_offset_s: int = WIT_OFFSET_S) -> float:
    """The most recent sunset at or before ``ts`` (Unix seconds)."""
    day = math.floor((ts + tz_offset_s) / DAY_S)
    _, today = sun_times(lat, lon, day, tz_offset_s)
    return today if today <= ts else sun_times(lat, lon, day - 1, tz_offset_s)[1]
