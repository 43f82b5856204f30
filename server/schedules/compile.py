"""Compiles the operators' model for one lamp into its config (docs/protocol.md section 9). Pure.

- Profiles: the calendar's default profile becomes profile 0, the others follow in the order the
  rules first use them.
- Rules: ordered by priority (higher first; on a tie, as listed), so that the device's first match
  is the operators' highest priority. Special days (a holiday set or explicit dates) become one rule
  per run of consecutive dates inside the compile window; the server re-compiles as the window moves.
- Overrides: those not yet over, earliest first, at most four (the device's limit); the pusher
  re-compiles when one ends, so the next one takes its place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from firmware.device import codec
from server.schedules.evaluate import date_code

# Sunset to sunrise at full power: what a lamp runs when nobody has written a schedule.
ALL_NIGHT_STEPS: tuple[tuple[int, int, int, int], ...] = ((1, 0, 100, 0), (2, 0, 0, 0))
EVERY_DAY = 127

Step = tuple[int, int, int, int]  # anchor, minutes, level, fade_s


@dataclass(frozen=True)
class ProfileSpec:
    id: int
    name: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class RuleSpec:
    profile_id: int
    priority: int = 0
    weekdays: int = EVERY_DAY  # bit 0 Monday ... bit 6 Sunday
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    holidays: str | None = None  # a special-day set, e.g. "id-national"
    dates: tuple[dt.date, ...] = ()  # explicit special days

    @property
    def special(self) -> bool:
        return self.holidays is not None or bool(self.dates)


@dataclass(frozen=True)
class CalendarSpec:
    id: int | None
    name: str
    default_profile_id: int
    fallback_level: int = 100
    rules: tuple[RuleSpec, ...] = ()


@dataclass(frozen=True)
class OverrideSpec:
    id: int
    level: int
    start: int  # Unix s
    until: int  # Unix s, exclusive


@dataclass(frozen=True)
class LampSpec:
    lat: float
    lon: float
    report_interval_s: int = 300


@dataclass(frozen=True)
class Window:
    """The dates whose special days are written out concretely."""

    first: dt.date
    last: dt.date


@dataclass
class Compiled:
    config: dict[str, Any]  # normalised by codec.check_config, cv 0
    profile_ids: list[int]  # compiled profile index -> profile id
    warnings: list[str] = field(default_factory=list)


HolidayFn = Callable[[str, dt.date, dt.date], list[dt.date]]


def window_for(today: dt.date, horizon_days: int) -> Window:
    """From the first of ``today``'s month, so that a calendar compiles the same all month."""
    first = today.replace(day=1)
    return Window(first, first + dt.timedelta(days=horizon_days))


def default_calendar() -> tuple[CalendarSpec, dict[int, ProfileSpec]]:
    return CalendarSpec(None, "built-in", 0), {0: ProfileSpec(0, "all night", ALL_NIGHT_STEPS)}


def _runs(days: Sequence[dt.date]) -> list[tuple[dt.date, dt.date]]:
    out: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + dt.timedelta(days=1):
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def _code(day: dt.date | None) -> int:
    return date_code(day) if day is not None else 0


def expand_rules(
    rules: Sequence[RuleSpec], window: Window, holiday_dates: HolidayFn
) -> list[tuple[RuleSpec, int, int, int]]:
    """(rule, weekdays, from, to) in the device's first-match order, for ``window``."""
    ordered = sorted(enumerate(rules), key=lambda jr: (-jr[1].priority, jr[0]))
    out: list[tuple[RuleSpec, int, int, int]] = []
    for _, rule in ordered:
        lo = max(window.first, rule.from_date) if rule.from_date else window.first
        hi = min(window.last, rule.to_date) if rule.to_date else window.last
        if rule.special:
            days = list(rule.dates)
            if rule.holidays is not None:
                days += holiday_dates(rule.holidays, lo, hi)
            for a, b in _runs([d for d in days if lo <= d <= hi]):
                out.append((rule, rule.weekdays, date_code(a), date_code(b)))
        elif rule.to_date is not None and rule.to_date < window.first:
            continue  # over for good
        else:
            out.append((rule, rule.weekdays, _code(rule.from_date), _code(rule.to_date)))
    return out


def compile_lamp(
    *,
    lamp: LampSpec,
    calendar: CalendarSpec,
    profiles: Mapping[int, ProfileSpec],
    overrides: Sequence[OverrideSpec],
    tz_minutes: int,
    window: Window,
    now: int,
    fallback_s: int,
    holiday_dates: HolidayFn,
    max_overrides: int = codec.CFG_MAX_OVERRIDES,
) -> Compiled:
    warnings: list[str] = []
    order = [calendar.default_profile_id]
    expanded = expand_rules(calendar.rules, window, holiday_dates)
    for rule, *_ in expanded:
        if rule.profile_id not in order:
            order.append(rule.profile_id)
    if len(order) > codec.CFG_MAX_PROFILES:
        raise ValueError(f"the calendar uses {len(order)} profiles; a lamp holds {codec.CFG_MAX_PROFILES}")
    cal = [[order.index(rule.profile_id), mask, lo, hi] for rule, mask, lo, hi in expanded]
    if len(cal) > codec.CFG_MAX_RULES:
        warnings.append(f"{len(cal)} calendar rules in the window; the last {len(cal) - codec.CFG_MAX_RULES} "
                        "were left out (a lamp holds 64)")
        cal = cal[: codec.CFG_MAX_RULES]
    live = sorted((o for o in overrides if o.until > now and o.until > o.start), key=lambda o: (o.start, o.id))
    if len(live) > max_overrides:
        warnings.append(f"{len(live)} overrides pending; the lamp gets the first {max_overrides} now, "
                        "the rest as those end")
        live = live[:max_overrides]
    config = {
        "cv": 0,
        "loc": [round(lamp.lat, 5), round(lamp.lon, 5)],
        "tz": tz_minutes,
        "prof": [[list(s) for s in profiles[pid].steps] for pid in order],
        "cal": cal,
        "ovr": [[o.level, o.start, o.until] for o in live],
        "def": calendar.fallback_level,
        "fb": fallback_s,
        "curve": "lin",
        "min": 0,
        "max": 100,
        "ri": lamp.report_interval_s,
        "k": [1, 1, 1],
    }
    return Compiled(codec.check_config(config), order, warnings)


def with_version(config: Mapping[str, Any], cv: int) -> dict[str, Any]:
    return {**config, "cv": cv}


def digest(config: Mapping[str, Any]) -> str:
    """Identity of a config's content, whatever its version."""
    body = orjson.dumps(with_version(config, 0), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:32]


def next_boundary(overrides: Sequence[OverrideSpec], now: int) -> int | None:
    """The next instant at which the compiled overrides change (one ends), if any."""
    ends = [o.until for o in overrides if o.until > now]
    return min(ends) if ends else None
