"""Sunset and sunrise on the server, computed with astral: the reference that the lamps' own compact
algorithm is held to (within 2 minutes).

Times are Unix seconds. The "night" of a local date D runs from local noon on D to local noon on
D + 1 (docs/protocol.md section 9): its sunset is the one on D, its sunrise the one on D + 1.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from astral import Observer
from astral.sun import elevation, noon, sunrise, sunset

EPOCH = dt.date(1970, 1, 1)
DAY_S = 86_400
NOON_S = 43_200
# Sunrise and sunset: the sun's centre this far below the geometric horizon (refraction and its radius).
HORIZON_DEG = -0.833


def local_midnight(day: dt.date, tz_minutes: int) -> int:
    """Unix time of 00:00 local on ``day`` in a zone ``tz_minutes`` east of UTC."""
    return (day - EPOCH).days * DAY_S - tz_minutes * 60


def night_bounds(day: dt.date, tz_minutes: int) -> tuple[int, int]:
    """[local noon on ``day``, local noon on the next day)."""
    start = local_midnight(day, tz_minutes) + NOON_S
    return start, start + DAY_S


def night_of(ts: float, tz_minutes: int) -> dt.date:
    """The local date on which the night containing ``ts`` began."""
    return EPOCH + dt.timedelta(days=int((ts + tz_minutes * 60 - NOON_S) // DAY_S))


@lru_cache(maxsize=262_144)
def night_sun(lat: float, lon: float, day: dt.date, tz_minutes: int) -> tuple[int, int]:
    """(sunset on local ``day``, sunrise on the next local day), Unix seconds.

    A missing event is placed by the sun on its own date: where the sun does not set on ``day``
    (polar summer) sunset is local midnight, where it stays down all ``day`` (polar winter) the night
    begins at noon; where it does not rise on the next day, sunrise is local midnight if the sun
    stays up that day, else the night runs to its noon. So a night of midnight sun has no length, a
    polar night spans noon to noon, and the night on which polar winter begins lasts from the last
    sunset until noon.
    """
    observer = Observer(latitude=lat, longitude=lon)
    tz = dt.timezone(dt.timedelta(minutes=tz_minutes))
    start, end = night_bounds(day, tz_minutes)
    midnight = start + NOON_S

    def up_all_day(date: dt.date) -> bool:
        # On a date with no sunrise or sunset the sun stays on one side of the horizon that the
        # events are computed for (the geometric -0.833 degrees); solar noon tells which.
        return bool(elevation(observer, noon(observer, date, tzinfo=tz), with_refraction=False) > HORIZON_DEG)

    try:
        set_ts = sunset(observer, day, tzinfo=tz).timestamp()
    except ValueError:
        set_ts = midnight if up_all_day(day) else start
    next_day = day + dt.timedelta(days=1)
    try:
        rise_ts = sunrise(observer, next_day, tzinfo=tz).timestamp()
    except ValueError:
        rise_ts = midnight if up_all_day(next_day) else end
    return round(set_ts), round(rise_ts)
