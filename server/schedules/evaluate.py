"""The reference evaluator of a compiled config (docs/protocol.md section 9): which level a lamp runs
at a given instant, and the whole plan of one night. Pure: sun times come in through ``SunFn``.

This is what the server shows operators ("the plan for tonight"), what the simulator's lamps obey,
and what the firmware's own evaluator is tested against. It covers the schedule part of the
device's precedence (overrides, calendar, profile, clamps); time validity and the no-contact
fallback are device states, not plans.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from server.schedules.sun import local_midnight, night_bounds, night_of

ANCHOR_CLOCK = 0
ANCHOR_SUNSET = 1
ANCHOR_SUNRISE = 2
NOON_MINUTES = 720

# (sunset, sunrise) of the night that begins on a local date, Unix seconds.
SunFn = Callable[[dt.date], tuple[int, int]]
Config = Mapping[str, Any]


@dataclass(frozen=True)
class StepAt:
    """One profile step placed on one night."""

    index: int  # position in the profile
    at: int  # Unix s
    level: int
    fade_s: int


def date_code(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def rule_matches(rule: list[int], day: dt.date) -> bool:
    _profile, mask, lo, hi = rule
    code = date_code(day)
    return bool(mask >> day.weekday() & 1) and (not lo or code >= lo) and (not hi or code <= hi)


def choose_profile(cal: list[list[int]], day: dt.date) -> tuple[int, int | None]:
    """(profile index, index of the rule that chose it or None): the first matching rule wins."""
    for j, rule in enumerate(cal):
        if rule_matches(rule, day):
            return rule[0], j
    return 0, None


def step_instant(step: Sequence[int], day: dt.date, tz_minutes: int, sun: tuple[int, int]) -> int:
    anchor, minutes = step[0], step[1]
    if anchor == ANCHOR_CLOCK:
        # The night runs noon to noon: clock times before noon fall on the next calendar day.
        base = local_midnight(day if minutes >= NOON_MINUTES else day + dt.timedelta(days=1), tz_minutes)
        return base + minutes * 60
    return (sun[0] if anchor == ANCHOR_SUNSET else sun[1]) + minutes * 60


def night_steps(cfg: Config, day: dt.date, sun_fn: SunFn) -> tuple[int, int | None, list[StepAt]]:
    """(profile index, deciding rule, steps in the order they take effect) for the night of ``day``."""
    profile, rule = choose_profile(cfg.get("cal", []), day)
    sun = sun_fn(day)
    tz = int(cfg["tz"])
    steps = [StepAt(j, step_instant(s, day, tz, sun), int(s[2]), int(s[3])) for j, s in enumerate(cfg["prof"][profile])]
    steps.sort(key=lambda s: s.at)  # stable: steps at one instant keep their profile order
    return profile, rule, steps


def _carry_in(cfg: Config, day: dt.date, sun_fn: SunFn) -> int:
    """The level a night starts with: the last level of the night before."""
    _, _, steps = night_steps(cfg, day - dt.timedelta(days=1), sun_fn)
    return steps[-1].level


def _ramp(prev: float, step: StepAt, ts: float) -> float:
    if step.fade_s and ts < step.at + step.fade_s:
        return prev + (step.level - prev) * (ts - step.at) / step.fade_s
    return float(step.level)


def _profile_value(carry: float, steps: list[StepAt], ts: float) -> float:
    """The profile's level at ``ts`` (before overrides and clamps); fractional during a fade."""
    level = carry
    for k, step in enumerate(steps):
        if step.at > ts:
            break
        nxt = steps[k + 1].at if k + 1 < len(steps) else None
        # A fade cut short by the next step: that step starts from the level reached at its instant.
        level = _ramp(level, step, nxt if nxt is not None and nxt <= ts else ts)
    return level


def active_override(ovr: list[list[int]], ts: float) -> int | None:
    """Index of the override in force at ``ts``: [from, until), the later-starting wins (on a tie,
    the later in the list)."""
    best: int | None = None
    for j, (_lvl, start, until) in enumerate(ovr):
        if start <= ts < until and (best is None or start >= ovr[best][1]):
            best = j
    return best


def clamp(cfg: Config, level: float) -> int:
    lvl = int(level + 0.5)  # levels are whole percent; half rounds up
    if lvl > 0:
        lvl = max(lvl, int(cfg.get("min", 0)))
    return min(lvl, int(cfg.get("max", 100)))


def level_at(cfg: Config, ts: float, sun_fn: SunFn) -> int:
    """The level the lamp runs at ``ts``: an override in force, else the calendar's profile; then the clamps."""
    ovr = cfg.get("ovr", [])
    j = active_override(ovr, ts)
    if j is not None:
        return clamp(cfg, ovr[j][0])
    day = night_of(ts, int(cfg["tz"]))
    _, _, steps = night_steps(cfg, day, sun_fn)
    return clamp(cfg, _profile_value(_carry_in(cfg, day, sun_fn), steps, ts))


@dataclass(frozen=True)
class NightPlan:
    day: dt.date
    start: int
    end: int
    sunset: int
    sunrise: int
    profile: int
    rule: int | None
    steps: list[StepAt]
    # The level through the night as a piecewise-linear function: (t, level) points, ascending t; two
    # points at one t are a jump. Overrides and clamps are applied.
    points: list[tuple[int, float]]


def night_plan(cfg: Config, day: dt.date, sun_fn: SunFn) -> NightPlan:
    tz = int(cfg["tz"])
    start, end = night_bounds(day, tz)
    profile, rule, steps = night_steps(cfg, day, sun_fn)
    carry = float(_carry_in(cfg, day, sun_fn))
    # Every instant where the level may change slope or jump.
    cuts = {start, end}
    for k, step in enumerate(steps):
        cuts.add(step.at)
        if step.fade_s:
            cuts.add(step.at + step.fade_s)
        if k + 1 < len(steps):
            cuts.add(steps[k + 1].at)
    ovr = cfg.get("ovr", [])
    for _lvl, o_start, o_until in ovr:
        cuts.update((o_start, o_until))
    times = sorted(t for t in cuts if start <= t <= end)

    def value(ts: float) -> float:
        j = active_override(ovr, ts)
        raw = float(ovr[j][0]) if j is not None else _profile_value(carry, steps, ts)
        return float(clamp_exact(cfg, raw))

    points: list[tuple[int, float]] = []
    for t in times:
        if t > start:
            before = value(t - 1e-6)
            if not points or points[-1][1] != before or points[-1][0] != t:
                points.append((t, round(before, 3)))
        if t < end:
            after = value(t)
            if points and points[-1][0] == t and points[-1][1] == round(after, 3):
                continue
            points.append((t, round(after, 3)))
    sunset, sunrise = sun_fn(day)
    return NightPlan(day, start, end, sunset, sunrise, profile, rule, steps, _simplify(points))


def clamp_exact(cfg: Config, level: float) -> float:
    """The clamps without rounding, for integrating energy over fades."""
    if level > 0:
        level = max(level, float(cfg.get("min", 0)))
    return min(level, float(cfg.get("max", 100)))


def _simplify(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Drops points in the middle of a straight, level stretch."""
    out: list[tuple[int, float]] = []
    for p in points:
        if len(out) >= 2 and out[-1][1] == p[1] == out[-2][1] and out[-1][0] != out[-2][0]:
            out[-1] = p
        else:
            out.append(p)
    return out
