"""Assignments of calendars to a site, district, cabinet, group or lamp; the most specific wins."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel

from server.api.access import READ, SCHEDULE_WRITE, allow
from server.api.deps import ConnDep, PagingDep
from server.api.params import RowId, RowIdQuery
from server.schedules import store
from server.schedules.models import AssignmentCreate, AssignmentPublic, AssignmentUpdate

router = APIRouter(prefix="/assignments", tags=["schedules"])


class AssignmentPage(BaseModel):
    items: list[AssignmentPublic]
    total: int
    limit: int
    offset: int


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AssignmentPublic,
             summary="Assign a calendar to a target", dependencies=[allow(*SCHEDULE_WRITE)],
             responses={409: {"description": "The target already has a calendar: update that assignment"}})
async def create_assignment(body: AssignmentCreate, conn: ConnDep) -> AssignmentPublic:
    row = await store.create_assignment(conn, calendar_id=body.calendar_id, target_type=body.target_type,
                                        target_id=body.target_id, priority=body.priority)
    return AssignmentPublic(**row)


@router.get("", response_model=AssignmentPage, summary="List assignments", dependencies=[allow(*READ)])
async def list_assignments(
    conn: ConnDep, paging: PagingDep, site_id: Annotated[str | None, Query(max_length=32)] = None,
    calendar_id: RowIdQuery = None,
) -> AssignmentPage:
    rows, total = await store.list_assignments(conn, site_id=site_id, calendar_id=calendar_id, limit=paging.limit,
                                               offset=paging.offset)
    return AssignmentPage(items=[AssignmentPublic(**r) for r in rows], total=total, limit=paging.limit,
                          offset=paging.offset)


@router.get("/{assignment_id}", response_model=AssignmentPublic, summary="Get an assignment",
            dependencies=[allow(*READ)])
async def get_assignment(assignment_id: RowId, conn: ConnDep) -> AssignmentPublic:
    return AssignmentPublic(**await store.get_assignment(conn, assignment_id=assignment_id))


@router.patch("/{assignment_id}", response_model=AssignmentPublic, summary="Change the calendar or priority",
              dependencies=[allow(*SCHEDULE_WRITE)])
async def update_assignment(
    assignment_id: RowId, body: AssignmentUpdate, conn: ConnDep
) -> AssignmentPublic:
    row = await store.update_assignment(conn, assignment_id=assignment_id, calendar_id=body.calendar_id,
                                        priority=body.priority)
    return AssignmentPublic(**row)


@router.delete("/{assignment_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Remove an assignment",
               dependencies=[allow(*SCHEDULE_WRITE)])
async def delete_assignment(assignment_id: RowId, conn: ConnDep) -> Response:
    await store.delete_assignment(conn, assignment_id=assignment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
