"""Calendars: which profile runs on which nights (weekdays, date ranges, special days, priorities)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from firmware.device import codec
from server.api.access import READ, SCHEDULE_WRITE, allow
from server.api.deps import ConnDep, PagingDep, SettingsDep
from server.api.errors import ApiError
from server.api.params import RowId
from server.schedules import holidays, store
from server.schedules.compile import RuleSpec, expand_rules, window_for
from server.schedules.models import WEEKDAYS, CalendarCreate, CalendarPublic, CalendarUpdate, Rule, RulePublic
from server.schedules.plans import site_location

router = APIRouter(prefix="/calendars", tags=["schedules"])


class CalendarPage(BaseModel):
    items: list[CalendarPublic]
    total: int
    limit: int
    offset: int


def _weekdays(mask: int) -> list[str] | None:
    return None if mask == 127 else [d for j, d in enumerate(WEEKDAYS) if mask >> j & 1]


def public(row: dict[str, Any]) -> CalendarPublic:
    rules = [RulePublic(**{**r, "weekdays": _weekdays(r["weekdays"]), "dates": list(r["dates"] or [])})
             for r in row["rules"]]
    return CalendarPublic(**{**row, "rules": rules})


def _rule_rows(rules: list[Rule]) -> list[dict[str, Any]]:
    return [{"profile_id": r.profile_id, "priority": r.priority, "weekdays": r.mask(), "from_date": r.from_date,
             "to_date": r.to_date, "holidays": r.holidays, "dates": sorted(set(r.dates)), "note": r.note}
            for r in rules]


async def check_calendar(conn: ConnDep, site_id: str, default_profile_id: int, rules: list[Rule],
                         horizon_days: int) -> None:
    """Profiles of the site; what a lamp can hold (16 profiles, 64 rules over the compile window)."""
    await site_location(conn, site_id=site_id)  # 422 when the site does not exist
    known = await store.site_profile_ids(conn, site_id=site_id)
    if default_profile_id not in known:
        raise ApiError(422, f"default_profile_id: profile {default_profile_id} does not exist in site {site_id!r}",
                       field="default_profile_id")
    for j, rule in enumerate(rules):
        if rule.profile_id not in known:
            raise ApiError(422, f"rules[{j}].profile_id: profile {rule.profile_id} does not exist in site {site_id!r}",
                           field=f"rules[{j}].profile_id")
        if not (rule.holidays or rule.dates) and rule.weekdays is None and not (rule.from_date or rule.to_date):
            raise ApiError(422, f"rules[{j}]: matches every night; make it the default profile instead",
                           field=f"rules[{j}]")
    used = {default_profile_id} | {r.profile_id for r in rules}
    if len(used) > codec.CFG_MAX_PROFILES:
        raise ApiError(422, f"rules: {len(used)} profiles in one calendar; a lamp holds {codec.CFG_MAX_PROFILES}",
                       field="rules")
    specs = [RuleSpec(r.profile_id, r.priority, r.mask(), r.from_date, r.to_date, r.holidays, tuple(r.dates))
             for r in rules]
    window = window_for(dt.datetime.now(dt.UTC).date(), horizon_days)
    expanded = expand_rules(specs, window, holidays.dates_between)
    if len(expanded) > codec.CFG_MAX_RULES:
        raise ApiError(422, f"rules: they expand to {len(expanded)} date rules over the next {horizon_days} days; "
                            f"a lamp holds {codec.CFG_MAX_RULES}", field="rules")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CalendarPublic, summary="Create a calendar",
             dependencies=[allow(*SCHEDULE_WRITE)], responses={409: {"description": "Name taken in the site"}})
async def create_calendar(body: CalendarCreate, conn: ConnDep, settings: SettingsDep) -> CalendarPublic:
    await check_calendar(conn, body.site_id, body.default_profile_id, body.rules, settings.schedule_horizon_days)
    row = await store.create_calendar(conn, site_id=body.site_id, name=body.name,
                                      default_profile_id=body.default_profile_id, fallback_level=body.fallback_level,
                                      rules=_rule_rows(body.rules))
    return public(row)


@router.get("", response_model=CalendarPage, summary="List calendars", dependencies=[allow(*READ)])
async def list_calendars(
    conn: ConnDep, paging: PagingDep, site_id: Annotated[str | None, Query(max_length=32)] = None
) -> CalendarPage:
    rows, total = await store.list_calendars(conn, site_id=site_id, limit=paging.limit, offset=paging.offset)
    return CalendarPage(items=[public(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{calendar_id}", response_model=CalendarPublic, summary="Get a calendar", dependencies=[allow(*READ)])
async def get_calendar(calendar_id: RowId, conn: ConnDep) -> CalendarPublic:
    return public(await store.get_calendar(conn, calendar_id=calendar_id))


@router.patch("/{calendar_id}", response_model=CalendarPublic, summary="Update a calendar (rules are replaced)",
              dependencies=[allow(*SCHEDULE_WRITE)])
async def update_calendar(
    calendar_id: RowId, body: CalendarUpdate, conn: ConnDep, settings: SettingsDep
) -> CalendarPublic:
    current = await store.get_calendar(conn, calendar_id=calendar_id)
    default = body.default_profile_id or current["default_profile_id"]
    if body.rules is not None or body.default_profile_id is not None:
        rules = body.rules if body.rules is not None else [
            Rule(**{**r, "weekdays": _weekdays(r["weekdays"]), "dates": list(r["dates"] or [])})
            for r in current["rules"]]
        await check_calendar(conn, current["site_id"], default, rules, settings.schedule_horizon_days)
    values = body.model_dump(exclude_unset=True, exclude={"rules"})
    row = await store.update_calendar(conn, calendar_id=calendar_id, values=values,
                                      rules=None if body.rules is None else _rule_rows(body.rules))
    return public(row)


@router.delete("/{calendar_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a calendar",
               dependencies=[allow(*SCHEDULE_WRITE)], responses={409: {"description": "Still assigned"}})
async def delete_calendar(calendar_id: RowId, conn: ConnDep) -> Response:
    await store.delete_calendar(conn, calendar_id=calendar_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
