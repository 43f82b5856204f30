"""Overrides: a level for a lamp, group, cabinet, district or the whole site until an expiry, then the
schedule resumes; emergency "all on"; cancel. Every action goes into the control audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from server.api.access import READ, SCHEDULE_WRITE, allow
from server.api.deps import ConnDep, PagingDep, SettingsDep
from server.api.errors import ApiError
from server.api.params import RowId
from server.schedules import overrides, store
from server.schedules.load import site_timezone
from server.schedules.models import EmergencyCreate, OverrideCreate, OverridePublic, OverrideUpdate, TargetType

router = APIRouter(prefix="/overrides", tags=["control"])

# The latest end the protocol can carry (an unsigned 32-bit Unix time), with room to spare.
LATEST_END = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


class OverridePage(BaseModel):
    items: list[OverridePublic]
    total: int
    limit: int
    offset: int


def _subject(request: Request) -> str:
    return str(request.state.principal.subject)


def _aware(name: str, value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(422, f"{name}: give a time zone offset (e.g. 2026-11-28T23:00:00+09:00)", field=name)
    return value


def _ends(starts_at: dt.datetime, until: dt.datetime | None, duration_s: int | None, now: dt.datetime,
          default_s: int | None = None) -> dt.datetime:
    if until is not None and duration_s is not None:
        raise ApiError(422, "until: give until or duration_s, not both", field="until")
    if until is None:
        if duration_s is None and default_s is None:
            raise ApiError(422, "until: an override needs an end: give until or duration_s", field="until")
        until = starts_at + dt.timedelta(seconds=duration_s if duration_s is not None else default_s or 0)
    if until <= now:
        raise ApiError(422, f"until: {until.isoformat()} is in the past", field="until")
    if until <= starts_at:
        raise ApiError(422, "until: must be after starts_at", field="until")
    if until > LATEST_END:
        raise ApiError(422, "until: too far in the future", field="until")
    return until


async def public(conn: ConnDep, row: dict[str, Any], zones: dict[str, str] | None = None) -> OverridePublic:
    zones = zones if zones is not None else {}
    site = row["site_id"]
    if site not in zones:
        zones[site] = await site_timezone(conn, site_id=site)
    zone = ZoneInfo(zones[site])
    local = {k: (v.astimezone(zone) if isinstance(v, dt.datetime) else v) for k, v in row.items()}
    return OverridePublic(**local)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OverridePublic, summary="Override the level",
             dependencies=[allow(*SCHEDULE_WRITE)])
async def create_override(body: OverrideCreate, request: Request, conn: ConnDep) -> OverridePublic:
    now = dt.datetime.now(dt.UTC)
    starts_at = _aware("starts_at", body.starts_at) or now
    if not now - dt.timedelta(days=1) <= starts_at < LATEST_END:
        raise ApiError(422, "starts_at: give a time from a day ago on (default: now)", field="starts_at")
    until = _ends(starts_at, _aware("until", body.until), body.duration_s, now)
    site = await store.target_site(conn, target_type=body.target_type, target_id=body.target_id)
    row = await overrides.create(conn, site_id=site, target_type=body.target_type, target_id=body.target_id,
                                 level=body.level, starts_at=starts_at, until=until, reason=body.reason,
                                 subject=_subject(request))
    return await public(conn, row)


@router.post("/emergency", status_code=status.HTTP_201_CREATED, response_model=OverridePublic,
             summary='Emergency "all on": every lamp of the site at full power', dependencies=[allow(*SCHEDULE_WRITE)])
async def emergency_on(body: EmergencyCreate, request: Request, conn: ConnDep, settings: SettingsDep) -> OverridePublic:
    now = dt.datetime.now(dt.UTC)
    until = _ends(now, _aware("until", body.until), body.duration_s, now, settings.emergency_default_s)
    site = await store.target_site(conn, target_type="site", target_id=body.site_id)
    row = await overrides.create(conn, site_id=site, target_type="site", target_id=site, level=100, starts_at=now,
                                 until=until, reason=body.reason, subject=_subject(request), emergency=True)
    return await public(conn, row)


@router.get("", response_model=OverridePage, summary="List overrides, newest first", dependencies=[allow(*READ)])
async def list_overrides(
    conn: ConnDep, paging: PagingDep,
    site_id: Annotated[str | None, Query(max_length=32)] = None,
    status_: Annotated[Literal["scheduled", "active", "ended", "cancelled"] | None, Query(alias="status")] = None,
    target_type: TargetType | None = None,
    target_id: Annotated[str | None, Query(max_length=32)] = None,
) -> OverridePage:
    rows, total = await overrides.list_rows(conn, site_id=site_id, status=status_, target_type=target_type,
                                            target_id=target_id, limit=paging.limit, offset=paging.offset)
    zones: dict[str, str] = {}
    return OverridePage(items=[await public(conn, r, zones) for r in rows], total=total, limit=paging.limit,
                        offset=paging.offset)


@router.get("/{override_id}", response_model=OverridePublic, summary="Get an override", dependencies=[allow(*READ)])
async def get_override(override_id: RowId, conn: ConnDep) -> OverridePublic:
    return await public(conn, await overrides.get(conn, override_id=override_id))


@router.patch("/{override_id}", response_model=OverridePublic, summary="Change an override's level or end",
              dependencies=[allow(*SCHEDULE_WRITE)], responses={409: {"description": "It has ended"}})
async def update_override(
    override_id: RowId, body: OverrideUpdate, request: Request, conn: ConnDep
) -> OverridePublic:
    now = dt.datetime.now(dt.UTC)
    until = _aware("until", body.until)
    if until is not None:
        current = await overrides.get(conn, override_id=override_id)
        until = _ends(current["starts_at"], until, None, now)
    row = await overrides.update(conn, override_id=override_id, level=body.level, until=until, reason=body.reason,
                                 subject=_subject(request))
    return await public(conn, row)


@router.delete("/{override_id}", response_model=OverridePublic, summary="Cancel an override: the schedule resumes",
               dependencies=[allow(*SCHEDULE_WRITE)], responses={409: {"description": "It has already ended"}})
async def cancel_override(
    override_id: RowId, request: Request, conn: ConnDep,
    reason: Annotated[str, Query(min_length=1, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$",
                                 description="why (kept in the audit trail)")],
) -> OverridePublic:
    row = await overrides.cancel(conn, override_id=override_id, reason=reason, subject=_subject(request))
    return await public(conn, row)
