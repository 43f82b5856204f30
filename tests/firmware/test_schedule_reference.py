"""The lamp's evaluator against the server's reference, minute by minute over whole nights.

The firmware's schedule, lighting policy and dimmer (``schedule.py``, ``policy.py``, ``dimming.py``,
run on MicroPython as the controller runs them) must report the level that
``server/schedules/evaluate.py`` says, for configs the server compiles: calendars with weekday,
date-range and holiday rules, clock and sun steps across midnight with fades, overlapping overrides,
clamps, 60 deg N, and polar latitudes through polar night, midnight sun and the days between.

Fed the server's sun times, the two must agree at every minute. With its own sun (``suntime.py``) the
lamp may differ only within two minutes of a step anchored to sunset or sunrise (the agreement the
sun algorithm is held to, tests/firmware/test_suntime.py).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from astral import Observer
from astral.sun import sunrise, sunset

from firmware.device import codec
from firmware.tools import micropython
from server.schedules.compile import (
    CalendarSpec,
    LampSpec,
    OverrideSpec,
    ProfileSpec,
    RuleSpec,
    compile_lamp,
    window_for,
    with_version,
)
from server.schedules.evaluate import ANCHOR_CLOCK, level_at, night_steps
from server.schedules.holidays import dates_between
from server.schedules.sun import EPOCH, local_midnight, night_bounds, night_sun

CLOCK, SUNSET, SUNRISE = 0, 1, 2
FRI_SAT = 1 << 4 | 1 << 5  # nights beginning on Friday and Saturday (bit 0 = Monday)
SUN_TOLERANCE_S = 120

# The controller's own path from config to reported level, as app.Controller._light and _reading
# take it: the policy decides (in contact with the server, no operator command), the dimmer clamps,
# and a reading reports dimmer.level. One hex line of levels per case, a minute apart.
DEVICE = r'''
import sys, json, suntime, schedule, policy, dimming
class Out:
    def __init__(self): self.v = 0
    def write(self, x): self.v = x
    def read(self): return self.v
class Relay:
    def __init__(self): self.c = False
    def set(self, c): self.c = c
    def get(self): return self.c
class Hal:
    def __init__(self):
        self.dimmer = Out()
        self.relay = Relay()
    def ticks_ms(self): return 0
own_sun = suntime.sun_times
for line in sys.stdin:
    case = json.loads(line)
    cfg = case["cfg"]
    if case["sun"] is None:
        suntime.sun_times = own_sun
    else:
        table = {}
        for k, v in case["sun"].items():
            table[int(k)] = (v[0], v[1])
        suntime.sun_times = lambda day, lat, lon, table=table: table[day]
    schedule._sun[:] = []
    schedule._nights[:] = []
    p = policy.Policy()
    d = dimming.Dimmer(Hal())
    d.configure(dimming.CURVE_LOG if cfg["curve"] == "log" else dimming.CURVE_LINEAR, max(1, cfg["min"]),
                cfg["max"], 2000)
    n = case["n"]
    out = bytearray(n)
    t = case["first"]
    for k in range(n):
        p.decide(cfg, t, -1, [], 0, 0.0, 0.0, 0, 100)
        if p.level != d.want:
            d.set(p.level, p.fade_s * 1000)
        out[k] = d.level
        t += 60
    print(out.hex())
'''


@dataclass(frozen=True)
class Case:
    name: str
    config: dict[str, Any]  # as the lamp decodes it
    first_night: dt.date
    nights: int

    @property
    def lat(self) -> float:
        return float(self.config["loc"][0])

    @property
    def lon(self) -> float:
        return float(self.config["loc"][1])

    @property
    def tz(self) -> int:
        return int(self.config["tz"])

    def minutes(self) -> list[int]:
        start, _ = night_bounds(self.first_night, self.tz)
        return list(range(start, start + self.nights * 86_400, 60))

    def sun(self, day: dt.date) -> tuple[int, int]:
        return night_sun(self.lat, self.lon, day, self.tz)


TIMIKA = LampSpec(-4.54678, 136.88712, 300)
OSLO = LampSpec(59.91, 10.75, 300)
LONGYEARBYEN = LampSpec(78.22, 15.65, 300)
MCMURDO = LampSpec(-77.85, 166.67, 300)

HEMAT = ProfileSpec(11, "hemat", ((SUNSET, 0, 90, 0), (CLOCK, 22 * 60, 40, 600), (CLOCK, 3 * 60, 60, 300),
                                  (SUNRISE, -15, 0, 120)))
FESTIVAL = ProfileSpec(12, "festival", ((SUNSET, -15, 100, 0), (SUNRISE, 15, 0, 0)))
WEEKEND = ProfileSpec(13, "weekend", ((SUNSET, 0, 100, 0), (CLOCK, 30, 70, 0), (SUNRISE, 0, 0, 0)))
DRY = ProfileSpec(14, "dry season", ((SUNSET, 30, 80, 120), (SUNSET, 420, 30, 0), (SUNRISE, -30, 0, 0)))
MIDNIGHT = ProfileSpec(15, "across midnight", ((SUNSET, -20, 100, 300), (CLOCK, 23 * 60 + 30, 50, 900),
                                               (CLOCK, 60, 30, 0), (CLOCK, 4 * 60 + 45, 70, 600),
                                               (SUNRISE, 10, 0, 0)))
DEEP = ProfileSpec(16, "deep dim", ((SUNSET, 0, 100, 0), (CLOCK, 22 * 60, 5, 900), (CLOCK, 2 * 60, 50, 0),
                                    (SUNRISE, 0, 0, 0)))
NORTH = ProfileSpec(17, "north", ((SUNSET, 0, 100, 0), (CLOCK, 60, 50, 300), (SUNRISE, -30, 0, 0)))
POLAR = ProfileSpec(18, "polar", ((SUNSET, 0, 100, 0), (CLOCK, 23 * 60, 50, 600), (CLOCK, 5 * 60, 30, 0),
                                  (SUNRISE, 0, 0, 0)))
ALL_NIGHT = ProfileSpec(0, "all night", ((SUNSET, 0, 100, 0), (SUNRISE, 0, 0, 0)))
PROFILES = {p.id: p for p in (HEMAT, FESTIVAL, WEEKEND, DRY, MIDNIGHT, DEEP, NORTH, POLAR, ALL_NIGHT)}


def compiled(lamp: LampSpec, tz: int, first_night: dt.date, calendar: CalendarSpec,
             overrides: Sequence[OverrideSpec] = (), **protocol: Any) -> dict[str, Any]:
    """The config the server publishes for `lamp`, compiled when the first night begins, as the lamp
    decodes it. `protocol`: fields the operators' model does not set (min, max, curve)."""
    out = compile_lamp(lamp=lamp, calendar=calendar, profiles=PROFILES, overrides=overrides, tz_minutes=tz,
                       window=window_for(first_night, 400), now=night_bounds(first_night, tz)[0],
                       fallback_s=86_400, holiday_dates=dates_between)
    return codec.decode_config(codec.encode_config(with_version({**out.config, **protocol}, 1)))


def at(day: dt.date, hh: int, mm: int, tz: int = 540) -> int:
    return local_midnight(day, tz) + hh * 3600 + mm * 60


def only(profile: ProfileSpec) -> CalendarSpec:
    return CalendarSpec(1, profile.name, profile.id)


AUG12 = dt.date(2026, 8, 12)  # a Wednesday; 17 August (Monday) and 25 August are national holidays
MAR2 = dt.date(2026, 3, 2)
NEXT = dt.timedelta(days=1)
CALENDAR = CalendarSpec(1, "kota", HEMAT.id, rules=(
    RuleSpec(FESTIVAL.id, priority=10, holidays="id-national"),
    RuleSpec(DRY.id, priority=5, from_date=dt.date(2026, 8, 19), to_date=dt.date(2026, 8, 20)),
    RuleSpec(WEEKEND.id, weekdays=FRI_SAT),
))
OVERRIDES = (
    OverrideSpec(1, 20, at(MAR2, 19, 0), at(MAR2, 22, 0)),
    OverrideSpec(2, 70, at(MAR2, 21, 0), at(MAR2, 22, 5)),  # ends inside the 22:00 fade
    OverrideSpec(3, 50, at(MAR2, 21, 0), at(MAR2, 21, 30)),  # same start: the later listed wins
    OverrideSpec(4, 0, at(MAR2, 23, 30), at(MAR2 + NEXT, 2, 0)),
)


def polar(name: str, first: dt.date, nights: int, lamp: LampSpec = LONGYEARBYEN, tz: int = 60) -> list[Case]:
    return [Case(f"{name}, {p.name}", compiled(lamp, tz, first, only(p)), first, nights) for p in (ALL_NIGHT, POLAR)]


CASES = [
    Case("Timika calendar: holidays, a date range, weekends, fades", compiled(TIMIKA, 540, AUG12, CALENDAR), AUG12, 14),
    Case("clock, sunset and sunrise steps across midnight", compiled(TIMIKA, 540, MAR2, only(MIDNIGHT)), MAR2, 3),
    Case("overlapping overrides", compiled(TIMIKA, 540, MAR2, only(HEMAT), OVERRIDES), MAR2, 2),
    Case("clamps and the log curve", compiled(TIMIKA, 540, MAR2, only(DEEP), min=20, max=80, curve="log"), MAR2, 2),
    Case("max 0 keeps the lamp off", compiled(TIMIKA, 540, MAR2, only(ALL_NIGHT), max=0), MAR2, 1),
    Case("60 N in June", compiled(OSLO, 60, dt.date(2026, 6, 19), only(NORTH)), dt.date(2026, 6, 19), 3),
    Case("60 N in December", compiled(OSLO, 60, dt.date(2026, 12, 19), only(NORTH)), dt.date(2026, 12, 19), 3),
    *polar("78 N polar night", dt.date(2025, 12, 20), 2),
    *polar("78 N midnight sun", dt.date(2025, 6, 20), 2),
    *polar("78 N polar night begins", dt.date(2025, 10, 22), 8),
    *polar("78 N polar night ends", dt.date(2025, 2, 11), 8),
    *polar("78 N midnight sun begins", dt.date(2025, 4, 15), 8),
    *polar("78 N midnight sun ends", dt.date(2025, 8, 20), 8),
    *polar("78 S polar night", dt.date(2025, 6, 20), 2, MCMURDO, 720),
]
OWN_SUN = [c for c in CASES if abs(c.lat) < 61]


def astral_sun(case: Case) -> dict[str, list[int | None]]:
    """(sunrise, sunset) per local date as the server computes them (None: the sun does not rise or
    set that day), in the shape of the lamp's suntime.sun_times."""
    observer = Observer(latitude=case.lat, longitude=case.lon)
    tz = dt.timezone(dt.timedelta(minutes=case.tz))
    first = (case.first_night - EPOCH).days
    table: dict[str, list[int | None]] = {}
    for n in range(first - 2, first + case.nights + 3):
        day = EPOCH + dt.timedelta(days=n)
        pair: list[int | None] = []
        for event in (sunrise, sunset):
            try:
                pair.append(round(event(observer, day, tzinfo=tz).timestamp()))
            except ValueError:
                pair.append(None)
        table[str(n)] = pair
    return table


def device_levels(cases: Sequence[Case], *, server_sun: bool) -> dict[str, list[int]]:
    lines = [json.dumps({"cfg": c.config, "first": c.minutes()[0], "n": len(c.minutes()),
                         "sun": astral_sun(c) if server_sun else None}) for c in cases]
    out = micropython.run(DEVICE, stdin="\n".join(lines).encode(), timeout=120).split()
    assert len(out) == len(cases), out
    return {c.name: list(bytes.fromhex(h)) for c, h in zip(cases, out, strict=True)}


_server: dict[str, list[int]] = {}


def server_levels(case: Case) -> list[int]:
    if case.name not in _server:
        _server[case.name] = [level_at(case.config, t, case.sun) for t in case.minutes()]
    return _server[case.name]


@pytest.fixture(scope="module")
def with_server_sun() -> dict[str, list[int]]:
    return device_levels(CASES, server_sun=True)


@pytest.fixture(scope="module")
def with_own_sun() -> dict[str, list[int]]:
    return device_levels(OWN_SUN, server_sun=False)


def local(case: Case, t: int) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone(dt.timedelta(minutes=case.tz))).strftime("%Y-%m-%d %H:%M")


def differences(case: Case, device: list[int]) -> list[tuple[str, int, int]]:
    """(local time, server level, lamp level) wherever they differ."""
    return [(local(case, t), ref, got) for t, ref, got in zip(case.minutes(), server_levels(case), device, strict=True)
            if ref != got]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_lamp_and_server_give_the_same_level_every_minute(case: Case, with_server_sun: dict[str, list[int]]) -> None:
    assert differences(case, with_server_sun[case.name]) == []


def sun_windows(case: Case) -> list[tuple[int, int]]:
    """Where the lamp's own sun may put a step elsewhere: around each step anchored to the sun,
    its fade included."""
    out = []
    for k in range(-1, case.nights + 1):
        day = case.first_night + dt.timedelta(days=k)
        profile, _rule, steps = night_steps(case.config, day, case.sun)
        for s in steps:
            if case.config["prof"][profile][s.index][0] != ANCHOR_CLOCK:
                out.append((s.at - SUN_TOLERANCE_S, s.at + s.fade_s + SUN_TOLERANCE_S))
    return out


@pytest.mark.parametrize("case", OWN_SUN, ids=lambda c: c.name)
def test_with_its_own_sun_the_lamp_differs_only_next_to_sun_steps(case: Case,
                                                                  with_own_sun: dict[str, list[int]]) -> None:
    windows = sun_windows(case)
    outside = [(t, ref, got) for t, ref, got in zip(case.minutes(), server_levels(case), with_own_sun[case.name],
                                                    strict=True)
               if ref != got and not any(a <= t <= b for a, b in windows)]
    assert [(local(case, t), ref, got) for t, ref, got in outside] == []


def test_the_cases_cover_what_they_are_named_for() -> None:
    """Guards the table itself: holidays, weekends, the date range and the default all choose a
    night; overrides, fades and clamps show in the levels; the polar nights are polar."""
    cal = CASES[0]
    chosen = {night_steps(cal.config, cal.first_night + dt.timedelta(days=k), cal.sun)[0] for k in range(cal.nights)}
    assert chosen == {0, 1, 2, 3}
    assert {20, 70, 50, 0, 65} <= set(server_levels(CASES[2]))  # 65: the fade resumed after an override
    clamped = set(server_levels(CASES[3])) - {0}
    assert (min(clamped), max(clamped)) == (20, 80) and 50 in clamped  # never 5, never 100
    assert set(server_levels(CASES[4])) == {0}
    assert len(set(server_levels(CASES[0]))) > 20  # fades ramp through the levels between steps
    dark = next(c for c in CASES if c.name == "78 N polar night, all night")
    assert set(server_levels(dark)) == {100}
    bright = next(c for c in CASES if c.name == "78 N midnight sun, all night")
    assert set(server_levels(bright)) == {0}
