# Sunrise and sunset on the device, for the schedule's sunset/sunrise anchors and the no-network
# fallback. NOAA's solar position equations (Meeus, "Astronomical Algorithms"), evaluated at the
# event itself and refined twice, which keeps the result within seconds of NOAA's own calculator.
#
# The ESP32 port computes in single-precision floats, so nothing here may carry a Julian day
# (2.46e6, only ~0.25 day resolution in float32): time is counted in days since J2000 (~1e4) and
# every angle is reduced modulo 360 before it meets a trigonometric function.
#
# MicroPython subset: no typing, no f-strings.

import math

_RAD = math.pi / 180.0
# Geometric horizon plus refraction (34') plus the sun's semi-diameter (16').
_ZENITH_COS = math.cos(90.833 * _RAD)
# 2000-01-01 in days since 1970-01-01; J2000.0 is noon of that day.
_J2000_DAYS = 10957


def days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm)."""
    if m <= 2:
        y -= 1
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    mp = (m + 9) % 12
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def civil_from_days(z: int) -> tuple[int, int, int]:
    """(year, month, day) for days since 1970-01-01."""
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    if m <= 2:
        y += 1
    return y, m, d


def _sun(days: float) -> tuple[float, float]:
    """(declination in radians, equation of time in minutes) at `days` since J2000.0."""
    t = days / 36525.0
    l0 = (280.46646 + (0.98564736 * days) % 360.0 + 0.0003032 * t * t) % 360.0
    m = (357.52911 + (0.98560028 * days) % 360.0 - 0.0001537 * t * t) % 360.0
    e = 0.016708634 - t * (0.000042037 + 0.0000001267 * t)
    mr = m * _RAD
    c = (
        math.sin(mr) * (1.914602 - t * (0.004817 + 0.000014 * t))
        + math.sin(2 * mr) * (0.019993 - 0.000101 * t)
        + math.sin(3 * mr) * 0.000289
    )
    omega = (125.04 - (0.05295378 * days) % 360.0) * _RAD
    app_long = (l0 + c - 0.00569 - 0.00478 * math.sin(omega)) * _RAD
    eps0 = 23.0 + (26.0 + (21.448 - t * (46.815 + t * (0.00059 - t * 0.001813))) / 60.0) / 60.0
    eps = (eps0 + 0.00256 * math.cos(omega)) * _RAD
    decl = math.asin(math.sin(eps) * math.sin(app_long))
    y = math.tan(eps / 2.0)
    y *= y
    l0r = l0 * _RAD
    eqt = 4.0 / _RAD * (
        y * math.sin(2 * l0r)
        - 2 * e * math.sin(mr)
        + 4 * e * y * math.sin(mr) * math.cos(2 * l0r)
        - 0.5 * y * y * math.sin(4 * l0r)
        - 1.25 * e * e * math.sin(2 * mr)
    )
    return decl, eqt


def _event(day: int, lat: float, lon: float, sign: int) -> float | None:
    # Minutes after 00:00 UTC of `day` (days since 1970); may be negative or beyond 1440 far from
    # Greenwich, which is what keeps the event on the observer's own date. None: no such event
    # (polar day or night).
    phi = lat * _RAD
    minutes = 720.0 - 4.0 * lon + sign * 360.0
    for _ in range(3):
        decl, eqt = _sun(day - _J2000_DAYS - 0.5 + minutes / 1440.0)
        cos_ha = (_ZENITH_COS - math.sin(phi) * math.sin(decl)) / (math.cos(phi) * math.cos(decl))
        if cos_ha < -1.0 or cos_ha > 1.0:
            return None
        ha = math.acos(cos_ha) / _RAD
        minutes = 720.0 - 4.0 * lon - eqt + sign * 4.0 * ha
    return minutes


def sun_times(day: int, lat: float, lon: float) -> tuple[int | None, int | None]:
    """(sunrise, sunset) as Unix seconds for the observer's civil date `day` (days since 1970).

    The civil date is the local one, so for Timika (UTC+9) a sunrise at 05:50 local is 20:50 UTC
    of the previous UTC day. Either value is None where the sun does not rise or set that day.
    """
    base = day * 86400
    rise = _event(day, lat, lon, -1)
    sset = _event(day, lat, lon, 1)
    return (
        None if rise is None else base + int(rise * 60.0 + 0.5),
        None if sset is None else base + int(sset * 60.0 + 0.5),
    )


def polar_day(day: int, lat: float, lon: float) -> bool:
    """On a date without sunrise or sunset: True if the sun stays up (polar day), False if down.

    Decided by the sun at solar noon against the same horizon as the events (the server decides
    the same way), so a date on which winter's last sunset has just passed counts as night."""
    # Solar noon at `lon`: 12:00 UTC, less four minutes per degree east.
    decl, _ = _sun(day - _J2000_DAYS - lon / 360.0)
    return bool(math.cos(lat * _RAD - decl) > _ZENITH_COS)


def local_day(utc_seconds: int, tz_offset_min: int) -> int:
    """The observer's civil date (days since 1970) at a Unix time, for a fixed UTC offset."""
    return (utc_seconds + tz_offset_min * 60) // 86400


def is_night(utc_seconds: int, lat: float, lon: float, tz_offset_min: int, margin_s: int = 0) -> bool:
    """True between sunset and the next sunrise; `margin_s` shrinks the night at both ends."""
    rise, sset = sun_times(local_day(utc_seconds, tz_offset_min), lat, lon)
    if rise is None or sset is None:
        # Polar day or night: decide by the sun's declination against the latitude.
        decl, _ = _sun(utc_seconds / 86400.0 - _J2000_DAYS - 0.5)
        return bool((lat >= 0) != (decl >= 0))
    return bool(utc_seconds < rise - margin_s or utc_seconds >= sset + margin_s)
