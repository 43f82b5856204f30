"""Sunset and sunrise on the server, computed with astral: the reference that the lamps' own compact
algorithm is held to (within 2 minutes).

Times are Unix seconds. The "night" of a local date D runs from local noon on D to local noon on
D + 1 (docs/protocol.md section 9): its sunset is the one on D, its sunrise the one on D + 1.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from astral import Observer
from astral.sun import elevation, sunrise, sunset

EPOCH = dt.date(1970, 1, 1)
DAY_S = 86_400
NOON_S = 43_200


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

    Where the sun does not set (polar summer) the night has no length: both are local midnight.
    Where it does not rise (polar winter) the night is the whole noon-to-noon span.
    """
    observer = Observer(latitude=lat, longitude=lon)
    tz = dt.timezone(dt.timedelta(minutes=tz_minutes))
    start, end = night_bounds(day, tz_minutes)
    try:
        set_ts = sunset(observer, day, tzinfo=tz).timestamp()
    except ValueError:
        set_ts = None
    try:
        rise_ts = sunrise(observer, day + dt.timedelta(days=1), tzinfo=tz).timestamp()
    except ValueError:
        rise_ts = None
    if set_ts is None or rise_ts is None:
        noon = dt.datetime.fromtimestamp(start, dt.UTC)
        midnight = start + NOON_S
        if elevation(observer, noon) > 0:  # the sun stays up around this night
            set_ts = set_ts if set_ts is not None else midnight
            rise_ts = rise_ts if rise_ts is not None else midnight
        else:
            set_ts = set_ts if set_ts is not None else start
            rise_ts = rise_ts if rise_ts is not None else end
    return round(set_ts), round(rise_ts)
