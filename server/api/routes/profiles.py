"""Dimming profiles: the steps of one night."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from server.api.access import READ, SCHEDULE_WRITE, allow
from server.api.deps import ConnDep, PagingDep
from server.api.errors import ApiError
from server.api.params import RowId
from server.schedules import store
from server.schedules.models import ProfileCreate, ProfilePublic, ProfileUpdate, StepPublic
from server.schedules.plans import local_today, site_location
from server.schedules.site_model import tz_minutes
from server.schedules.steps import check_steps
from server.schedules.sun import night_sun

router = APIRouter(prefix="/profiles", tags=["schedules"])


class ProfilePage(BaseModel):
    items: list[ProfilePublic]
    total: int
    limit: int
    offset: int


def public(row: dict[str, Any]) -> ProfilePublic:
    return ProfilePublic(**{**row, "steps": [StepPublic.of(s) for s in row["steps"]]})


async def check_at_site(conn: ConnDep, site_id: str, steps: list[list[int]]) -> None:
    """Steps must be in order, inside the night and without overlapping fades on every night of the
    coming year at the site (422 naming the step)."""
    lat, lon, zone = await site_location(conn, site_id=site_id)
    tz = tz_minutes(zone, dt.datetime.now(dt.UTC))

    def sun(day: dt.date) -> tuple[int, int]:
        return night_sun(lat, lon, day, tz)

    problem = check_steps(steps, tz_minutes=tz, sun_fn=sun, first_night=local_today(zone))
    if problem is not None:
        raise ApiError(422, f"steps[{problem.index}]: {problem.message}", field=f"steps[{problem.index}]")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProfilePublic, summary="Create a profile",
             dependencies=[allow(*SCHEDULE_WRITE)], responses={409: {"description": "Name taken in the site"}})
async def create_profile(body: ProfileCreate, conn: ConnDep) -> ProfilePublic:
    steps = [s.wire() for s in body.steps]
    await check_at_site(conn, body.site_id, steps)
    return public(await store.create_profile(conn, site_id=body.site_id, name=body.name, steps=steps))


@router.get("", response_model=ProfilePage, summary="List profiles", dependencies=[allow(*READ)])
async def list_profiles(
    conn: ConnDep, paging: PagingDep, site_id: Annotated[str | None, Query(max_length=32)] = None
) -> ProfilePage:
    rows, total = await store.list_profiles(conn, site_id=site_id, limit=paging.limit, offset=paging.offset)
    return ProfilePage(items=[public(r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.get("/{profile_id}", response_model=ProfilePublic, summary="Get a profile", dependencies=[allow(*READ)])
async def get_profile(profile_id: RowId, conn: ConnDep) -> ProfilePublic:
    return public(await store.get_profile(conn, profile_id=profile_id))


@router.patch("/{profile_id}", response_model=ProfilePublic, summary="Update a profile",
              dependencies=[allow(*SCHEDULE_WRITE)])
async def update_profile(profile_id: RowId, body: ProfileUpdate, conn: ConnDep) -> ProfilePublic:
    steps = None
    if body.steps is not None:
        current = await store.get_profile(conn, profile_id=profile_id)
        steps = [s.wire() for s in body.steps]
        await check_at_site(conn, current["site_id"], steps)
    return public(await store.update_profile(conn, profile_id=profile_id, name=body.name, steps=steps))


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a profile",
               dependencies=[allow(*SCHEDULE_WRITE)], responses={409: {"description": "Used by a calendar"}})
async def delete_profile(profile_id: RowId, conn: ConnDep) -> Response:
    await store.delete_profile(conn, profile_id=profile_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
