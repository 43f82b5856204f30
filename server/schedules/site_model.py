"""One site's schedule model as loaded from the database, and the rules that pick, for each lamp, its
calendar (the most specific assignment wins) and its overrides. Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from zoneinfo import ZoneInfo

from server.schedules import holidays
from server.schedules.compile import (
    CalendarSpec,
    Compiled,
    LampSpec,
    OverrideSpec,
    ProfileSpec,
    Window,
    compile_lamp,
    default_calendar,
)
from server.schedules.evaluate import SunFn
from server.schedules.sun import night_sun

# Most specific first.
SPECIFICITY = ("lamp", "group", "cabinet", "district", "site")


@dataclass(frozen=True)
class LampRow:
    key: int
    id: str
    site_id: str
    district_id: str | None
    cabinet_id: str | None
    lat: float
    lon: float
    rated_w: float
    report_interval_s: int


@dataclass(frozen=True)
class Assignment:
    id: int
    calendar_id: int
    target_type: str
    target_id: str
    priority: int = 0


@dataclass(frozen=True)
class OverrideRow:
    id: int
    target_type: str
    target_id: str
    level: int
    start: int  # Unix s
    until: int  # Unix s, already cut short by a cancellation


@dataclass
class SiteModel:
    site_id: str
    timezone: str
    profiles: dict[int, ProfileSpec] = field(default_factory=dict)
    calendars: dict[int, CalendarSpec] = field(default_factory=dict)
    assignments: list[Assignment] = field(default_factory=list)
    groups_of: dict[str, list[str]] = field(default_factory=dict)  # lamp id -> group ids
    lamps: list[LampRow] = field(default_factory=list)
    overrides: list[OverrideRow] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_target = {(a.target_type, a.target_id): a for a in self.assignments}

    def reindex(self) -> None:
        self._by_target = {(a.target_type, a.target_id): a for a in self.assignments}

    def targets(self, lamp: LampRow) -> list[tuple[str, str]]:
        """Everything a lamp belongs to, most specific first."""
        out = [("lamp", lamp.id)]
        out += [("group", g) for g in self.groups_of.get(lamp.id, [])]
        if lamp.cabinet_id:
            out.append(("cabinet", lamp.cabinet_id))
        if lamp.district_id:
            out.append(("district", lamp.district_id))
        out.append(("site", lamp.site_id))
        return out

    def assignment_for(self, lamp: LampRow) -> Assignment | None:
        found = [a for t in self.targets(lamp) if (a := self._by_target.get(t)) is not None]
        if not found:
            return None
        # The most specific level wins; among a lamp's groups, the highest priority, then the lowest id.
        found.sort(key=lambda a: (SPECIFICITY.index(a.target_type), -a.priority, a.target_id))
        return found[0]

    def calendar_for(self, lamp: LampRow) -> tuple[CalendarSpec, dict[int, ProfileSpec], Assignment | None]:
        assignment = self.assignment_for(lamp)
        if assignment is None or assignment.calendar_id not in self.calendars:
            cal, profiles = default_calendar()
            return cal, profiles, None
        return self.calendars[assignment.calendar_id], self.profiles, assignment

    def overrides_for(self, lamp: LampRow) -> list[OverrideSpec]:
        targets = set(self.targets(lamp))
        return [OverrideSpec(o.id, o.level, o.start, o.until) for o in self.overrides
                if (o.target_type, o.target_id) in targets]


def tz_minutes(zone: str, at: dt.datetime) -> int:
    """The zone's UTC offset at ``at``, in minutes (configs carry a fixed offset)."""
    offset = at.astimezone(ZoneInfo(zone)).utcoffset()
    return int(offset.total_seconds() // 60) if offset is not None else 0


def local_date(zone: str, at: dt.datetime) -> dt.date:
    return at.astimezone(ZoneInfo(zone)).date()


def sun_for(lamp: LampRow, tz: int) -> SunFn:
    return partial(_sun, lamp.lat, lamp.lon, tz)


def _sun(lat: float, lon: float, tz: int, day: dt.date) -> tuple[int, int]:
    return night_sun(lat, lon, day, tz)


def compile_for(
    model: SiteModel,
    lamp: LampRow,
    *,
    now: int,
    tz: int,
    window: Window,
    fallback_s: int,
    overrides: Sequence[OverrideSpec] | None = None,
) -> Compiled:
    calendar, profiles, _ = model.calendar_for(lamp)
    return compile_lamp(
        lamp=LampSpec(lamp.lat, lamp.lon, lamp.report_interval_s),
        calendar=calendar,
        profiles=profiles,
        overrides=model.overrides_for(lamp) if overrides is None else overrides,
        tz_minutes=tz,
        window=window,
        now=now,
        fallback_s=fallback_s,
        holiday_dates=holidays.dates_between,
    )


def compile_site(
    model: SiteModel, *, now: int, tz: int, window: Window, fallback_s: int
) -> list[tuple[LampRow, Compiled | ValueError]]:
    """Every lamp's config. Lamps that share a calendar, overrides and report interval share all of
    their config but the location, so each such set is compiled once (a site of 100,000 lamps has a
    handful of sets) and only ``loc`` is written per lamp."""
    shared: dict[tuple[object, ...], Compiled | ValueError] = {}
    out: list[tuple[LampRow, Compiled | ValueError]] = []
    for lamp in model.lamps:
        assignment = model.assignment_for(lamp)
        overrides = model.overrides_for(lamp)
        key = (assignment.calendar_id if assignment else None, tuple(o.id for o in overrides), lamp.report_interval_s)
        template = shared.get(key)
        if template is None:
            try:
                template = compile_for(model, lamp, now=now, tz=tz, window=window, fallback_s=fallback_s,
                                       overrides=overrides)
            except ValueError as exc:
                template = exc
            shared[key] = template
        if isinstance(template, ValueError):
            out.append((lamp, template))
            continue
        config = {**template.config, "loc": [round(lamp.lat, 5), round(lamp.lon, 5)]}
        out.append((lamp, Compiled(config, template.profile_ids, template.warnings)))
    return out
