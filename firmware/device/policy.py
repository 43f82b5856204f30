# What level the lamp should burn at now, and why (the reading flags that say so).
#
# In order of precedence (docs/protocol.md section 9):
#   1. no valid time (power cut without RTC backup, no NTP yet): the photocell decides,
#      full on while it says dark, off while it says light; without a photocell, full on
#                                                                   (F_NO_TIME, F_PHOTOCELL)
#   2. an override in force: an operator's level command until its expiry, or one of the
#      config's override windows; when both are, the one that started later wins (F_OVERRIDE)
#   3. no config yet, or no contact with the server for longer than the config's `fb`:
#      the default level from sunset to sunrise, computed on the lamp        (F_FALLBACK)
#   4. the compiled schedule
#
# The server sets intent; the lamp keeps the street lit without it. Fallback keeps to the
# night (the default level all day would be day burning), and the schedule's own dimming steps
# are not trusted once the server has been silent that long: they may be stale.

import codec
import schedule
import suntime

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

DARK_LUX = const(20)  # at or below: dark (lamp on)
LIGHT_LUX = const(50)  # at or above: light (lamp off)
PHOTO_SAMPLES = const(5)  # consecutive samples beyond a threshold before switching
DEFAULT_FADE_S = const(2)


def is_night(utc: int, lat: float, lon: float, tz_min: int) -> bool:
    day = (utc + tz_min * 60) // 86400
    rise, sset = schedule.sun_for(day, lat, lon)
    if rise is None or sset is None:
        return not suntime.polar_day(day, lat, lon)  # a polar night is night all day
    return bool(utc < rise or utc >= sset)


def daylight(utc: int, lat: float, lon: float, tz_min: int, margin_s: int) -> bool:
    """The sun has been up for `margin_s` and stays up for as long: a lamp lit now is day burning,
    whatever the schedule's dusk and dawn steps say."""
    day = (utc + tz_min * 60) // 86400
    rise, sset = schedule.sun_for(day, lat, lon)
    if rise is None or sset is None:
        return False
    return bool(rise + margin_s <= utc < sset - margin_s)


class Policy:
    def __init__(self) -> None:
        self.dark = True  # assume night until the photocell proves otherwise: safe side
        self._streak = 0
        self.level = 0
        self.fade_s = DEFAULT_FADE_S  # the dimmer's soft fade for every change of level
        self.flags = 0
        self.why = ""

    def photocell(self, lux: int) -> None:
        if lux < 0:
            return
        flip = (self.dark and lux >= LIGHT_LUX) or (not self.dark and lux <= DARK_LUX)
        if flip:
            self._streak += 1
            if self._streak >= PHOTO_SAMPLES:
                self.dark = not self.dark
                self._streak = 0
        else:
            self._streak = 0

    def decide(self, cfg: object, now: int, lux: int, override: list[int], silent_s: int,
               lat: float, lon: float, tz_min: int, default_level: int) -> None:
        """Sets level, flags and why. cfg: the decoded config or None; now: Unix seconds
        or -1; override: [level, until, start] of the last level command, or []; silent_s: seconds
        since the server was last heard from."""
        self.photocell(lux)
        if now < 0:
            if lux < 0:
                self._set(100, codec.F_NO_TIME, "no_time")
            else:
                self._set(100 if self.dark else 0, codec.F_NO_TIME | codec.F_PHOTOCELL, "photocell")
            return
        lvl = -1
        start = 0
        if override and override[2] <= now < override[1]:
            lvl = override[0]
            start = override[2]
        if isinstance(cfg, dict):
            clvl, cstart = schedule.override_at(cfg, now)
            if clvl >= 0 and (lvl < 0 or cstart > start):
                lvl = clvl
        if lvl >= 0:
            self._set(lvl, codec.F_OVERRIDE, "override")
            return
        if isinstance(cfg, dict):
            if silent_s <= cfg["fb"]:
                # A step's fade arrives here as a ramp, one level a second; the dimmer's short fade
                # smooths between them.
                self._set(schedule.level_at(cfg, now), 0, "schedule")
                return
            default_level = cfg["def"]
            loc = cfg["loc"]
            lat = loc[0]
            lon = loc[1]
            tz_min = cfg["tz"]
        night = is_night(now, lat, lon, tz_min)
        self._set(default_level if night else 0, codec.F_FALLBACK, "fallback")

    def _set(self, level: int, flags: int, why: str) -> None:
        self.level = level
        self.flags = flags
        self.why = why
