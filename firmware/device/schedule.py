# The compiled schedule of the `config` message (docs/protocol.md section 9), evaluated on the lamp
# from its own clock and its own sunset and sunrise.
#
# A profile is one night, from local noon to the next local noon. Its steps [anchor, minutes, level,
# fade] fire at: a clock time (anchor 0; before noon it falls on the night's second day), sunset of
# the night's first day (1) or sunrise of its second day (2), plus `minutes`. Steps take effect in
# the order of their instants (two at one instant: in the profile's order, so the later listed holds);
# each holds until the next, and a fade ramps linearly from the level before the step; before a
# night's first step the last level of the previous night holds. The calendar [profile, weekdays,
# from, to] picks the profile by the date on which the night begins: the first rule whose weekday bit
# (bit 0 = Monday ... bit 6 = Sunday) and date range match; none: profile 0. Overrides [level, from,
# until] hold the level inside their window.
#
# The server's reference evaluator (server/schedules/evaluate.py) computes the same levels; the
# firmware tests hold this module to it minute by minute over whole nights.

import suntime

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs (MicroPython has no typing module)
    from typing import Any

_NOON = 43200

# Sun times of the last few dates asked for: the policy asks every second, the answer changes daily.
_sun: "list[tuple[int, float, float, tuple[int | None, int | None]]]" = []
# Step instants of the last few nights: (config, night, [(utc, index, level, fade), ...] in the
# order they take effect).
_nights: "list[tuple[object, int, list[tuple[int, int, int, int]]]]" = []


def sun_for(day: int, lat: float, lon: float) -> "tuple[int | None, int | None]":
    for e in _sun:
        if e[0] == day and e[1] == lat and e[2] == lon:
            return e[3]
    t = suntime.sun_times(day, lat, lon)
    _sun.append((day, lat, lon, t))
    if len(_sun) > 4:
        _sun.pop(0)
    return t


def _date_num(day: int) -> int:
    y, m, d = suntime.civil_from_days(day)
    return y * 10000 + m * 100 + d


def profile_for(cfg: "dict[str, Any]", day: int) -> "list[list[int]]":
    """Steps of the profile for the night that begins on local date `day` (days since 1970)."""
    profs = cfg["prof"]
    bit = 1 << ((day + 3) % 7)  # 1970-01-01 was a Thursday (ISO weekday index 3)
    num = 0
    for rule in cfg.get("cal", ()):
        if not rule[1] & bit:
            continue
        lo = rule[2]
        hi = rule[3]
        if lo or hi:
            if not num:
                num = _date_num(day)
            if (lo and num < lo) or (hi and num > hi):
                continue
        if rule[0] < len(profs):
            return list(profs[rule[0]])
    return list(profs[0])


def night_steps(cfg: "dict[str, Any]", night: int) -> "list[tuple[int, int, int, int]]":
    """(utc instant, index in the profile, level, fade) of each step of the night beginning on local
    date `night`, in the order they take effect."""
    for e in _nights:
        if e[0] is cfg and e[1] == night:
            return e[2]
    tz_s = cfg["tz"] * 60
    lat = cfg["loc"][0]
    lon = cfg["loc"][1]
    sunset = sun_for(night, lat, lon)[1]
    sunrise = sun_for(night + 1, lat, lon)[0]
    # A missing event is placed by the sun on its own date, as the server's reference evaluator
    # does: a sun that stays up puts it at local midnight (a night of midnight sun has no length),
    # one that stays down at the night's noon (a polar night spans noon to noon).
    start = night * 86400 + _NOON - tz_s
    if sunset is None:
        sunset = start + _NOON if suntime.polar_day(night, lat, lon) else start
    if sunrise is None:
        sunrise = start + _NOON if suntime.polar_day(night + 1, lat, lon) else start + 86400
    out = []
    j = 0
    for step in profile_for(cfg, night):
        anchor = step[0]
        m = step[1]
        if anchor == 0:
            day = night if m * 60 >= _NOON else night + 1
            t = day * 86400 + m * 60 - tz_s
        elif anchor == 1:
            t = sunset + m * 60
        else:
            t = sunrise + m * 60
        # The index breaks ties: steps at one instant (sunset and sunrise meet at midnight under a
        # sun that never sets) keep the profile's order, whatever their levels.
        out.append((t, j, step[2], step[3]))
        j += 1
    out.sort()
    _nights.append((cfg, night, out))
    if len(_nights) > 3:
        _nights.pop(0)
    return out


def level_at(cfg: "dict[str, Any]", utc: int) -> int:
    """The profile's level at `utc` (0-100, before overrides and clamps): the last step that has
    fired, part way through its fade if one is running, rounded half up as the server rounds."""
    night = (utc + cfg["tz"] * 60 - _NOON) // 86400
    steps = night_steps(cfg, night)
    # The level as an exact fraction num/den: fades are ramps of whole seconds, so the rounding
    # matches the reference evaluator's to the last half percent. Small ints, nothing allocated,
    # unless fades cut short by the next step chain into large denominators (a config the server
    # never compiles).
    num = night_steps(cfg, night - 1)[-1][2]
    den = 1
    n = len(steps)
    k = 0
    while k < n:
        s = steps[k]
        at = s[0]
        if at > utc:
            break
        end = utc
        if k + 1 < n and steps[k + 1][0] <= utc:
            end = steps[k + 1][0]  # a fade cut short: the next step starts from the level reached
        fade = s[3]
        if fade and end < at + fade:
            num = num * fade + (s[2] * den - num) * (end - at)
            den *= fade
        else:
            num = s[2]
            den = 1
        k += 1
    return (2 * num + den) // (2 * den)


def override_at(cfg: "dict[str, Any]", utc: int) -> "tuple[int, int]":
    """(level, start) of the config override in force at `utc`, or (-1, 0). When several are in
    force the later-starting one wins, and of equal starts the later in the list (protocol 9)."""
    level = -1
    start = 0
    for ov in cfg.get("ovr", ()):
        if ov[1] <= utc < ov[2] and (level < 0 or ov[1] >= start):
            level = int(ov[0])
            start = int(ov[1])
    return level, start
