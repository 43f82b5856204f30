"""Lamp groups (any set of lamps of one site, e.g. a main road) and their members."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from server.api.access import READ, SCHEDULE_WRITE, allow
from server.api.crud_router import crud_router
from server.api.deps import ConnDep
from server.registry import crud
from server.schedules import store
from server.schedules.models import GroupCreate, GroupLamps, GroupPublic, GroupUpdate

GROUPS = crud.Table("lamp_groups", "group", ("site_id", "name"), filters=("site_id",))

crud_routes = crud_router(table=GROUPS, prefix="/groups", tag="groups", create_model_=GroupCreate,
                          update_model=GroupUpdate, public_model=GroupPublic, write_roles=SCHEDULE_WRITE)
router = APIRouter(prefix="/groups", tags=["groups"])


class Members(BaseModel):
    group_id: str
    lamp_ids: list[str]


@router.get("/{group_id}/lamps", response_model=Members, summary="The lamps of a group", dependencies=[allow(*READ)])
async def list_members(group_id: str, conn: ConnDep) -> Members:
    return Members(group_id=group_id, lamp_ids=await store.group_lamps(conn, group_id=group_id))


@router.post("/{group_id}/lamps", response_model=Members, summary="Add lamps to a group",
             dependencies=[allow(*SCHEDULE_WRITE)])
async def add_members(group_id: str, body: GroupLamps, conn: ConnDep) -> Members:
    lamps = await store.add_group_lamps(conn, group_id=group_id, lamp_ids=body.lamp_ids, replace=False)
    return Members(group_id=group_id, lamp_ids=lamps)


@router.put("/{group_id}/lamps", response_model=Members, summary="Set the lamps of a group",
            dependencies=[allow(*SCHEDULE_WRITE)])
async def set_members(group_id: str, body: GroupLamps, conn: ConnDep) -> Members:
    lamps = await store.add_group_lamps(conn, group_id=group_id, lamp_ids=body.lamp_ids, replace=True)
    return Members(group_id=group_id, lamp_ids=lamps)


@router.delete("/{group_id}/lamps/{lamp_id}", status_code=status.HTTP_204_NO_CONTENT,
               summary="Take a lamp out of a group", dependencies=[allow(*SCHEDULE_WRITE)])
async def remove_member(group_id: str, lamp_id: str, conn: ConnDep) -> Response:
    await store.remove_group_lamp(conn, group_id=group_id, lamp_id=lamp_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
