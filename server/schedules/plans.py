"""Evaluated plans for people: one lamp's night, a group's night, energy estimates. Times are given in
the site's time zone. Reads the model from the database, then evaluates with the pure modules."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from server.registry.errors import InvalidReference, NotFound
from server.schedules.compile import CalendarSpec, Compiled, ProfileSpec, window_for
from server.schedules.energy import full_power_wh, plan_wh, saving_pct
from server.schedules.evaluate import NightPlan, night_plan
from server.schedules.load import load_site
from server.schedules.site_model import Assignment, LampRow, SiteModel, compile_for, sun_for, tz_minutes
from server.schedules.steps import label
from server.schedules.sun import night_bounds
from server.settings import Settings

# Where a site without coordinates (and without lamps) is assumed to be: Timika.
DEFAULT_LOCATION = (-4.55, 136.88)

Conn = psycopg.AsyncConnection[Any]


async def site_location(conn: Conn, *, site_id: str) -> tuple[float, float, str]:
    """(lat, lon, timezone) of a site: its own coordinates, else the middle of its lamps, else Timika."""
    row = await (await conn.execute(
        "SELECT s.timezone, s.lat, s.lon, avg(l.lat), avg(l.lon) FROM sites s LEFT JOIN lamps l ON l.site_id = s.id"
        " WHERE s.id = %s GROUP BY s.id", (site_id,))).fetchone()
    if row is None:
        raise InvalidReference(f"site_id: site {site_id!r} does not exist", field="site_id")
    zone, lat, lon, lamp_lat, lamp_lon = row
    if lat is not None and lon is not None:
        return float(lat), float(lon), str(zone)
    if lamp_lat is not None:
        return float(lamp_lat), float(lamp_lon), str(zone)
    return DEFAULT_LOCATION[0], DEFAULT_LOCATION[1], str(zone)


def local_today(zone: str, now: dt.datetime | None = None) -> dt.date:
    """The date the current night began on, locally (before noon it is still last night)."""
    local = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(zone))
    return local.date() if local.hour >= 12 else local.date() - dt.timedelta(days=1)


def iso(ts: int, zone: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(zone)).isoformat()


@dataclass
class LampNight:
    lamp: LampRow
    compiled: Compiled
    plan: NightPlan
    via: str  # what the calendar was assigned to, e.g. "district d12"
    calendar: CalendarSpec
    profiles: dict[int, ProfileSpec]


def evaluate_lamp(model: SiteModel, lamp: LampRow, day: dt.date, settings: Settings) -> LampNight:
    """The plan of ``lamp`` for the night beginning on ``day``, with every override that touches it."""
    noon = dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(model.timezone))
    tz = tz_minutes(model.timezone, noon)
    start, _ = night_bounds(day, tz)
    calendar, profiles, assignment = model.calendar_for(lamp)
    compiled = compile_for(model, lamp, now=start, tz=tz, window=window_for(day, settings.schedule_horizon_days),
                           fallback_s=settings.schedule_fallback_s, overrides=_all_overrides(model, lamp, start))
    plan = night_plan(compiled.config, day, sun_for(lamp, tz))
    via = "built-in default" if assignment is None else f"{assignment.target_type} {assignment.target_id}"
    return LampNight(lamp, compiled, plan, via, calendar, profiles)


def _all_overrides(model: SiteModel, lamp: LampRow, start: int) -> list[Any]:
    # A plan shows every override of the night, not only the four a lamp can hold at once.
    return sorted((o for o in model.overrides_for(lamp) if o.until > start), key=lambda o: (o.start, o.id))


def describe(night: LampNight, zone: str) -> dict[str, Any]:
    plan, lamp = night.plan, night.lamp
    profile_id = night.compiled.profile_ids[plan.profile]
    profile = night.profiles[profile_id]
    estimate = plan_wh(plan.points, lamp.rated_w)
    full = full_power_wh(plan.sunset, plan.sunrise, lamp.rated_w)
    rule = None
    if plan.rule is not None:
        _p, mask, lo, hi = night.compiled.config["cal"][plan.rule]
        rule = {"index": plan.rule, "weekdays": mask, "from": lo, "to": hi}
    return {
        "lamp_id": lamp.id,
        "date": plan.day.isoformat(),
        "timezone": zone,
        "night_start": iso(plan.start, zone),
        "night_end": iso(plan.end, zone),
        "sunset": iso(plan.sunset, zone),
        "sunrise": iso(plan.sunrise, zone),
        "calendar": {"id": night.calendar.id, "name": night.calendar.name, "assigned_to": night.via},
        "profile": {"id": profile.id or None, "name": profile.name},
        "rule": rule,
        "steps": [{"at": iso(s.at, zone), "level": s.level, "fade_s": s.fade_s,
                   "label": label(profile.steps[s.index])} for s in plan.steps],
        "overrides": [{"level": lvl, "from": iso(a, zone), "until": iso(b, zone)}
                      for lvl, a, b in night.compiled.config["ovr"] if a < plan.end and b > plan.start],
        "levels": [{"at": iso(t, zone), "level": round(level, 1)} for t, level in plan.points],
        "energy": {"rated_w": lamp.rated_w, "estimate_kwh": round(estimate / 1000, 3),
                   "full_power_kwh": round(full / 1000, 3), "saving_pct": saving_pct(estimate, full)},
    }


async def lamp_night(conn: Conn, *, lamp_id: str, day: dt.date | None, settings: Settings) -> dict[str, Any]:
    row = await (await conn.execute("SELECT site_id FROM lamps WHERE id = %s", (lamp_id,))).fetchone()
    if row is None:
        raise NotFound(f"lamp {lamp_id!r} not found")
    site_id = str(row[0])
    model = await _model_for(conn, site_id=site_id, lamp_ids=[lamp_id], day=day)
    day = day or local_today(model.timezone)
    return describe(evaluate_lamp(model, model.lamps[0], day, settings), model.timezone)


async def _model_for(conn: Conn, *, site_id: str, lamp_ids: list[str] | None, day: dt.date | None,
                     days: int = 1) -> SiteModel:
    zone = (await (await conn.execute("SELECT timezone FROM sites WHERE id = %s", (site_id,))).fetchone() or ["UTC"])[0]
    first = day or local_today(zone)
    start = dt.datetime.combine(first, dt.time(12), tzinfo=ZoneInfo(zone))
    return await load_site(conn, site_id=site_id, lamp_ids=lamp_ids, overrides_from=start,
                           overrides_to=start + dt.timedelta(days=days))


async def group_preview(
    conn: Conn, *, group_id: str, day: dt.date | None, step_min: int, settings: Settings,
    calendar_id: int | None = None,
) -> dict[str, Any]:
    """Levels through one night for every lamp of a group, sampled every ``step_min`` minutes, as a table:
    one column per distinct plan (with the lamps that follow it), plus the group's power. With
    ``calendar_id``: as if that calendar were assigned to the group."""
    row = await (await conn.execute("SELECT site_id FROM lamp_groups WHERE id = %s", (group_id,))).fetchone()
    if row is None:
        raise InvalidReference(f"group_id: group {group_id!r} does not exist", field="group_id")
    site_id = str(row[0])
    cur = await conn.execute("SELECT lamp_id FROM lamp_group_members WHERE group_id = %s", (group_id,))
    lamp_ids = [r[0] for r in await cur.fetchall()]
    model = await _model_for(conn, site_id=site_id, lamp_ids=lamp_ids, day=day)
    if calendar_id is not None:
        if calendar_id not in model.calendars:
            raise InvalidReference(f"calendar_id: calendar {calendar_id} does not exist in site {site_id!r}",
                                   field="calendar_id")
        model.assignments = [a for a in model.assignments if a.target_type != "lamp"]
        model.assignments.append(Assignment(0, calendar_id, "group", group_id, 1_000_000))
        model.reindex()
    day = day or local_today(model.timezone)
    zone = model.timezone
    nights = [evaluate_lamp(model, lamp, day, settings) for lamp in model.lamps]
    start, end = night_bounds(day, tz_minutes(zone, dt.datetime.combine(day, dt.time(12), tzinfo=ZoneInfo(zone))))
    times = list(range(start, end + 1, step_min * 60))
    columns: dict[tuple[float, ...], list[LampNight]] = {}
    for night in nights:
        key = tuple(_sample(night.plan.points, t) for t in times)
        columns.setdefault(key, []).append(night)
    series = []
    for key, members in sorted(columns.items(), key=lambda kv: -len(kv[1])):
        first = members[0]
        profile = first.profiles[first.compiled.profile_ids[first.plan.profile]]
        series.append({"lamps": len(members), "lamp_ids": [m.lamp.id for m in members][:50],
                       "profile": profile.name, "calendar": first.calendar.name, "assigned_to": first.via,
                       "levels": [round(v, 1) for v in key]})
    power = [round(sum(n.lamp.rated_w * _sample(n.plan.points, t) / 100 for n in nights), 1) for t in times]
    estimate = sum(plan_wh(n.plan.points, n.lamp.rated_w) for n in nights)
    full = sum(full_power_wh(n.plan.sunset, n.plan.sunrise, n.lamp.rated_w) for n in nights)
    return {
        "group_id": group_id, "date": day.isoformat(), "timezone": zone, "step_min": step_min,
        "lamps": len(nights), "times": [iso(t, zone) for t in times], "series": series, "power_w": power,
        "energy": {"estimate_kwh": round(estimate / 1000, 3), "full_power_kwh": round(full / 1000, 3),
                   "saving_pct": saving_pct(estimate, full)},
        "profiles_used": dict(Counter(s["profile"] for s in series)),
    }


def _sample(points: list[tuple[int, float]], t: int) -> float:
    """The plan's level at ``t`` (after a jump at ``t``)."""
    level = points[0][1] if points else 0.0
    for j, (pt, pl) in enumerate(points):
        if pt > t:
            if j == 0:
                return pl
            prev_t, prev_l = points[j - 1]
            if pt > prev_t:
                return prev_l + (pl - prev_l) * (t - prev_t) / (pt - prev_t)
            return prev_l
        level = pl
    return level
