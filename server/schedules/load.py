"""Reads one site's schedule model from the database (see site_model.py for what it means)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg

from server.registry.errors import NotFound
from server.schedules.compile import CalendarSpec, ProfileSpec, RuleSpec
from server.schedules.site_model import Assignment, LampRow, OverrideRow, SiteModel

FAR_FUTURE = dt.datetime(2106, 1, 1, tzinfo=dt.UTC)

_LAMPS = """
SELECT key, id, site_id, district_id, cabinet_id, lat, lon, rated_w, report_interval_s
FROM lamps WHERE site_id = %(site)s AND (%(ids)s::text[] IS NULL OR id = ANY(%(ids)s)) ORDER BY key
"""

_OVERRIDES = """
SELECT * FROM (
    SELECT id, target_type, target_id, level, floor(extract(epoch FROM starts_at))::bigint AS starts,
           ceil(extract(epoch FROM LEAST(until, COALESCE(cancelled_at, until))))::bigint AS ends
    FROM control_overrides
    WHERE site_id = %(site)s AND starts_at < %(end)s AND LEAST(until, COALESCE(cancelled_at, until)) > %(start)s
) o
-- Cancelled before it began: nothing to do.
WHERE ends > starts
ORDER BY starts, id
"""


async def site_timezone(conn: psycopg.AsyncConnection[Any], *, site_id: str) -> str:
    row = await (await conn.execute("SELECT timezone FROM sites WHERE id = %s", (site_id,))).fetchone()
    if row is None:
        raise NotFound(f"site {site_id!r} not found", field="site_id")
    return str(row[0])


async def load_site(
    conn: psycopg.AsyncConnection[Any],
    *,
    site_id: str,
    lamp_ids: list[str] | None = None,
    overrides_from: dt.datetime,
    overrides_to: dt.datetime = FAR_FUTURE,
) -> SiteModel:
    """The site's model, its lamps (all, or ``lamp_ids``), and the overrides in force at some time in
    [overrides_from, overrides_to)."""
    model = SiteModel(site_id=site_id, timezone=await site_timezone(conn, site_id=site_id))
    params = {"site": site_id, "ids": lamp_ids, "start": overrides_from, "end": overrides_to}
    cur = await conn.execute("SELECT id, name, steps FROM schedule_profiles WHERE site_id = %(site)s", params)
    for pid, name, steps in await cur.fetchall():
        model.profiles[pid] = ProfileSpec(pid, name, tuple(tuple(s) for s in steps))
    rules: dict[int, list[RuleSpec]] = {}
    cur = await conn.execute(
        "SELECT calendar_id, profile_id, priority, weekdays, from_date, to_date, holidays, dates"
        " FROM schedule_calendar_rules WHERE site_id = %(site)s ORDER BY calendar_id, position", params)
    for cal_id, prof, prio, mask, lo, hi, hol, dates in await cur.fetchall():
        rules.setdefault(cal_id, []).append(RuleSpec(prof, prio, mask, lo, hi, hol, tuple(dates or ())))
    cur = await conn.execute(
        "SELECT id, name, default_profile_id, fallback_level FROM schedule_calendars WHERE site_id = %(site)s", params)
    for cid, name, default, fallback in await cur.fetchall():
        model.calendars[cid] = CalendarSpec(cid, name, default, fallback, tuple(rules.get(cid, ())))
    cur = await conn.execute(
        "SELECT id, calendar_id, target_type, target_id, priority FROM schedule_assignments WHERE site_id = %(site)s",
        params)
    model.assignments = [Assignment(*row) for row in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT lamp_id, group_id FROM lamp_group_members WHERE site_id = %(site)s"
        " AND (%(ids)s::text[] IS NULL OR lamp_id = ANY(%(ids)s)) ORDER BY group_id", params)
    for lamp_id, group_id in await cur.fetchall():
        model.groups_of.setdefault(lamp_id, []).append(group_id)
    cur = await conn.execute(_LAMPS, params)
    model.lamps = [LampRow(*row) for row in await cur.fetchall()]
    cur = await conn.execute(_OVERRIDES, params)
    model.overrides = [OverrideRow(*row) for row in await cur.fetchall()]
    model.reindex()
    return model
