"""Evaluated schedules: a lamp's plan for a night, a group's levels through a night, energy per district."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query

from server.api.access import READ, allow
from server.api.deps import ConnDep, SettingsDep
from server.api.errors import ApiError
from server.api.params import RowIdQuery
from server.schedules import energy_report, plans
from server.schedules.models import FIRST_DATE, LAST_DATE

router = APIRouter(tags=["schedules"])

MAX_REPORT_NIGHTS = 62


def _night(name: str, day: dt.date | None) -> dt.date | None:
    if day is not None and not FIRST_DATE <= day <= LAST_DATE:
        raise ApiError(422, f"{name}: {day} is outside {FIRST_DATE}..{LAST_DATE}", field=name)
    return day


@router.get("/lamps/{lamp_id}/schedule", summary="The lamp's plan for one night, in the site's time zone",
            dependencies=[allow(*READ)])
async def lamp_schedule(
    lamp_id: str, conn: ConnDep, settings: SettingsDep,
    date: Annotated[dt.date | None, Query(description="the date the night begins on; default tonight")] = None,
) -> dict[str, Any]:
    return await plans.lamp_night(conn, lamp_id=lamp_id, day=_night("date", date), settings=settings)


@router.get("/schedules/preview", summary="Levels through a night for a group, as a table",
            dependencies=[allow(*READ)])
async def preview(
    conn: ConnDep, settings: SettingsDep,
    group_id: Annotated[str, Query(max_length=32)],
    date: Annotated[dt.date | None, Query(description="the date the night begins on; default tonight")] = None,
    step_min: Annotated[int, Query(ge=5, le=240)] = 30,
    calendar_id: RowIdQuery = None,
) -> dict[str, Any]:
    return await plans.group_preview(conn, group_id=group_id, day=_night("date", date), step_min=step_min,
                                     settings=settings,
                                     calendar_id=calendar_id)


@router.get("/reports/energy", summary="Measured energy against the schedule's estimate, per district and night",
            dependencies=[allow(*READ)])
async def energy(
    conn: ConnDep, settings: SettingsDep,
    site_id: Annotated[str, Query(max_length=32)],
    from_: Annotated[dt.date | None, Query(alias="from", description="first night; default a week ago")] = None,
    to: Annotated[dt.date | None, Query(description="last night; default last night")] = None,
    district_id: Annotated[str | None, Query(max_length=32)] = None,
) -> dict[str, Any]:
    last = _night("to", to) or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    first = _night("from", from_) or last - dt.timedelta(days=6)
    if first > last:
        raise ApiError(422, "from: after to", field="from")
    if (last - first).days + 1 > MAX_REPORT_NIGHTS:
        raise ApiError(422, f"to: at most {MAX_REPORT_NIGHTS} nights per report", field="to")
    row = await (await conn.execute("SELECT 1 FROM sites WHERE id = %s", (site_id,))).fetchone()
    if row is None:
        raise ApiError(422, f"site_id: site {site_id!r} does not exist", field="site_id")
    return await energy_report.by_district(conn, site_id=site_id, first=first, last=last, district_id=district_id,
                                           settings=settings)
