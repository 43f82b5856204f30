"""Alerts for maintenance crews: list and filter, the detail with its history and comments, moves
along the lifecycle (409 when the lifecycle forbids one), comments, assignment to a crew.

A crew user sees and acts on the alerts of their own crew only (others are 404 to them)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status

from server.alerts import store
from server.alerts.lifecycle import STATUSES, Status, allowed_from
from server.alerts.models import (
    AlertDetail,
    AlertEvent,
    AlertPage,
    AlertPublic,
    AlertUpdate,
    Comment,
    CommentCreate,
    TransitionCreate,
)
from server.api.access import READ, Principal, PrincipalDep, Role, allow
from server.api.deps import ConnDep, PagingDep
from server.api.errors import ApiError
from server.api.params import RowId
from server.faults.kinds import ALL_TYPES
from server.registry.errors import NotFound

router = APIRouter(prefix="/alerts", tags=["alerts"])

ALERT_WORK = (Role.ADMIN, Role.OPERATOR, Role.CREW)
ALERT_COMMENT = (Role.ADMIN, Role.OPERATOR, Role.CREW, Role.TECHNICIAN)
ALERT_ASSIGN = (Role.ADMIN, Role.OPERATOR)
ShortId = Annotated[str | None, Query(max_length=32)]


def _crew_only(principal: Principal) -> str | None:
    """The crew a caller is limited to: crew users without a broader role see their crew's alerts only."""
    if Role.CREW in principal.roles and not principal.roles & {Role.ADMIN, Role.OPERATOR, Role.VIEWER,
                                                               Role.TECHNICIAN}:
        return principal.crew_id or "-"
    return None


async def _visible(conn: Any, alert_id: int, principal: Principal) -> dict[str, Any]:
    row = await store.get_alert(conn, alert_id)
    limit = _crew_only(principal)
    if limit is not None and row["crew_id"] != limit:
        raise NotFound(f"alert {alert_id} does not exist")
    return row


@router.get("", response_model=AlertPage, summary="List alerts, newest first", dependencies=[allow(*READ)])
async def list_alerts(
    conn: ConnDep, paging: PagingDep, principal: PrincipalDep,
    site_id: ShortId = None,
    status_: Annotated[list[Status] | None, Query(alias="status", description="one or more statuses")] = None,
    fault_type: Annotated[Literal[ALL_TYPES] | None, Query()] = None,  # type: ignore[valid-type]
    subject_type: Literal["lamp", "cabinet", "gateway"] | None = None,
    subject_id: ShortId = None,
    district_id: ShortId = None,
    cabinet_id: ShortId = None,
    crew_id: ShortId = None,
    severity: Literal["critical", "major", "minor"] | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    include_suppressed: bool = False,
) -> AlertPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, f"{name}: give a time zone offset (e.g. 2026-11-28T23:00:00+09:00)", field=name)
    limit = _crew_only(principal)
    if limit is not None:
        if crew_id is not None and crew_id != limit:
            return AlertPage(items=[], total=0, limit=paging.limit, offset=paging.offset)
        crew_id = limit
    f = store.AlertFilter(site_id=site_id, status=list(status_) if status_ else None, fault_type=fault_type,
                          subject_type=subject_type, subject_id=subject_id, district_id=district_id,
                          cabinet_id=cabinet_id, crew_id=crew_id, severity=severity, since=since, until=until,
                          include_suppressed=include_suppressed)
    rows, total = await store.list_alerts(conn, f, limit=paging.limit, offset=paging.offset)
    return AlertPage(items=[AlertPublic(**r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)


async def _detail(conn: Any, row: dict[str, Any]) -> AlertDetail:
    alert_id = row["id"]
    return AlertDetail(**row, history=await store.history(conn, alert_id),
                       comments=await store.comments(conn, alert_id), allowed_transitions=allowed_from(row["status"]))


@router.get("/{alert_id}", response_model=AlertDetail, summary="An alert with its history and comments",
            dependencies=[allow(*READ)])
async def get_alert(alert_id: RowId, conn: ConnDep, principal: PrincipalDep) -> AlertDetail:
    return await _detail(conn, await _visible(conn, alert_id, principal))


@router.post("/{alert_id}/transitions", response_model=AlertDetail, summary="Move an alert along its lifecycle",
             dependencies=[allow(*ALERT_WORK)],
             responses={409: {"description": "The lifecycle does not allow this move from the current status"}})
async def transition(alert_id: RowId, body: TransitionCreate, conn: ConnDep, principal: PrincipalDep) -> AlertDetail:
    await _visible(conn, alert_id, principal)
    if body.status not in STATUSES:
        raise ApiError(422, f"status: one of {', '.join(STATUSES)}", field="status")
    row = await store.transition(conn, alert_id, to=body.status, actor=principal.subject, note=body.note)
    return await _detail(conn, row)


@router.get("/{alert_id}/history", response_model=list[AlertEvent], summary="Every change of an alert, oldest first",
            dependencies=[allow(*READ)])
async def history(alert_id: RowId, conn: ConnDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    await _visible(conn, alert_id, principal)
    return await store.history(conn, alert_id)


@router.get("/{alert_id}/comments", response_model=list[Comment], summary="Comments on an alert",
            dependencies=[allow(*READ)])
async def list_comments(alert_id: RowId, conn: ConnDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    await _visible(conn, alert_id, principal)
    return await store.comments(conn, alert_id)


@router.post("/{alert_id}/comments", response_model=Comment, status_code=status.HTTP_201_CREATED,
             summary="Comment on an alert", dependencies=[allow(*ALERT_COMMENT)])
async def add_comment(alert_id: RowId, body: CommentCreate, conn: ConnDep, principal: PrincipalDep) -> dict[str, Any]:
    await _visible(conn, alert_id, principal)
    return await store.add_comment(conn, alert_id, author=principal.subject, body=body.body)


@router.patch("/{alert_id}", response_model=AlertDetail, summary="Assign an alert to a crew",
              dependencies=[allow(*ALERT_ASSIGN)])
async def assign(alert_id: RowId, body: AlertUpdate, conn: ConnDep, principal: PrincipalDep) -> AlertDetail:
    row = await store.assign(conn, alert_id, crew_id=body.crew_id, actor=principal.subject)
    return await _detail(conn, row)
