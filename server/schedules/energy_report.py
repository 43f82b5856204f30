"""Measured energy against the schedule's estimate, per district and night.

A "day" of the report is a night: local noon to local noon in the site's zone, named by the date it
begins on, so one evening's lighting is never split across two rows. Measured energy is the sum of
each lamp's energy-counter increments inside that span (a counter reset counts as zero); the
estimate is the lamp's plan for that night (overrides included) at rated power.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from server.schedules.energy import full_power_wh, plan_wh, saving_pct
from server.schedules.load import load_site
from server.schedules.plans import evaluate_lamp
from server.schedules.site_model import LampRow, SiteModel, tz_minutes
from server.schedules.sun import night_bounds
from server.settings import Settings

Conn = psycopg.AsyncConnection[Any]

_MEASURED = """
WITH r AS (
    SELECT rd.lamp_key, rd.ts,
           rd.e - lag(rd.e) OVER (PARTITION BY rd.lamp_key ORDER BY rd.ts, rd.seq) AS de
    FROM readings rd JOIN lamps l ON l.key = rd.lamp_key
    WHERE l.site_id = %(site)s AND (%(district)s::text IS NULL OR l.district_id = %(district)s)
      AND rd.ts >= %(start)s - interval '2 hours' AND rd.ts < %(end)s
)
SELECT lamp_key, floor((extract(epoch FROM ts) + %(tz)s * 60 - 43200) / 86400)::int AS night,
       sum(GREATEST(COALESCE(de, 0), 0))::float8 AS wh
FROM r WHERE ts >= %(start)s GROUP BY 1, 2
"""

EPOCH = dt.date(1970, 1, 1)


def _plan_key(model: SiteModel, lamp: LampRow) -> tuple[Any, ...]:
    # Lamps with the same calendar and overrides within ~10 km have the same night to the minute.
    assignment = model.assignment_for(lamp)
    overrides = tuple(o.id for o in model.overrides_for(lamp))
    return (assignment.calendar_id if assignment else None, overrides, round(lamp.lat, 1), round(lamp.lon, 1))


async def by_district(
    conn: Conn, *, site_id: str, first: dt.date, last: dt.date, district_id: str | None, settings: Settings
) -> dict[str, Any]:
    zone = (await (await conn.execute("SELECT timezone FROM sites WHERE id = %s", (site_id,))).fetchone() or ["UTC"])[0]
    tz = tz_minutes(zone, dt.datetime.combine(first, dt.time(12), tzinfo=ZoneInfo(zone)))
    start, _ = night_bounds(first, tz)
    _, end = night_bounds(last, tz)
    start_dt, end_dt = dt.datetime.fromtimestamp(start, dt.UTC), dt.datetime.fromtimestamp(end, dt.UTC)
    model = await load_site(conn, site_id=site_id, overrides_from=start_dt, overrides_to=end_dt)
    lamps = [lamp for lamp in model.lamps if district_id is None or lamp.district_id == district_id]
    cur = await conn.execute(_MEASURED, {"site": site_id, "district": district_id, "start": start_dt,
                                         "end": end_dt, "tz": tz})
    measured: dict[tuple[int, dt.date], float] = {}
    for key, night, wh in await cur.fetchall():
        measured[(key, EPOCH + dt.timedelta(days=night))] = wh
    names = dict(await (await conn.execute("SELECT id, name FROM districts WHERE site_id = %s", (site_id,))).fetchall())

    level_hours: dict[tuple[tuple[Any, ...], dt.date], tuple[float, float]] = {}
    rows: dict[tuple[str | None, dt.date], dict[str, Any]] = defaultdict(lambda: {
        "lamps": 0, "lamps_reporting": 0, "measured_wh": 0.0, "estimate_wh": 0.0, "full_wh": 0.0,
        "estimate_all_wh": 0.0})
    day = first
    while day <= last:
        for lamp in lamps:
            key = (_plan_key(model, lamp), day)
            if key not in level_hours:
                night = evaluate_lamp(model, lamp, day, settings)
                level_hours[key] = (plan_wh(night.plan.points, 1.0),
                                    full_power_wh(night.plan.sunset, night.plan.sunrise, 1.0))
            per_w, full_per_w = level_hours[key]
            row = rows[(lamp.district_id, day)]
            row["lamps"] += 1
            row["estimate_all_wh"] += per_w * lamp.rated_w
            got = measured.get((lamp.key, day))
            if got is not None:
                row["lamps_reporting"] += 1
                row["measured_wh"] += got
                row["estimate_wh"] += per_w * lamp.rated_w
                row["full_wh"] += full_per_w * lamp.rated_w
        day += dt.timedelta(days=1)
    items = []
    for (district, day_), r in sorted(rows.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        est, meas = r["estimate_wh"], r["measured_wh"]
        items.append({
            "district_id": district, "district_name": names.get(district) if district else None,
            "date": day_.isoformat(), "lamps": r["lamps"], "lamps_reporting": r["lamps_reporting"],
            "measured_kwh": round(meas / 1000, 3), "estimate_kwh": round(est / 1000, 3),
            "full_power_kwh": round(r["full_wh"] / 1000, 3), "saving_pct": saving_pct(est, r["full_wh"]),
            "deviation_pct": round(100 * (meas - est) / est, 1) if est > 0 else None,
            "estimate_all_lamps_kwh": round(r["estimate_all_wh"] / 1000, 3),
        })
    return {"site_id": site_id, "timezone": zone, "from": first.isoformat(), "to": last.isoformat(), "items": items}
