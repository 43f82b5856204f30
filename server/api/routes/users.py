"""User accounts (administrators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field

from server.api.access import PrincipalDep, Role, allow
from server.api.deps import ConnDep, PagingDep
from server.api.errors import ApiError
from server.auth import users

router = APIRouter(prefix="/users", tags=["users"])
ADMIN = [allow(Role.ADMIN)]

Username = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._@-]{0,63}$",
                                description="Lower case letters, digits and . _ @ -")]
CrewId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class UserCreate(BaseModel):
    username: Username
    password: Annotated[str, Field(min_length=1, max_length=256)]
    roles: Annotated[list[Role], Field(min_length=1, max_length=5)]
    display_name: Annotated[str | None, Field(max_length=200)] = None
    crew_id: CrewId | None = None


class UserUpdate(BaseModel):
    password: Annotated[str | None, Field(min_length=1, max_length=256)] = None
    roles: Annotated[list[Role] | None, Field(min_length=1, max_length=5)] = None
    display_name: Annotated[str | None, Field(max_length=200)] = None
    crew_id: CrewId | None = None
    disabled: bool | None = None


class UserPublic(BaseModel):
    username: str
    display_name: str | None
    roles: list[str]
    crew_id: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


class UserPage(BaseModel):
    items: list[UserPublic]
    total: int
    limit: int
    offset: int


def _public(user: users.User) -> UserPublic:
    return UserPublic.model_validate(user, from_attributes=True)


@router.get("", response_model=UserPage, summary="List users", dependencies=ADMIN)
async def list_users(conn: ConnDep, paging: PagingDep) -> UserPage:
    rows, total = await users.list_users(conn, limit=paging.limit, offset=paging.offset)
    return UserPage(items=[_public(u) for u in rows], total=total, limit=paging.limit, offset=paging.offset)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserPublic, summary="Create a user",
             dependencies=ADMIN, responses={409: {"description": "Already exists"}})
async def create_user(body: UserCreate, conn: ConnDep) -> UserPublic:
    user = await users.create(conn, username=body.username, password=body.password,
                              roles=[r.value for r in body.roles], display_name=body.display_name,
                              crew_id=body.crew_id)
    return _public(user)


@router.get("/{username}", response_model=UserPublic, summary="Get a user", dependencies=ADMIN)
async def get_user(username: str, conn: ConnDep) -> UserPublic:
    return _public(await users.get(conn, username=username))


@router.patch("/{username}", response_model=UserPublic, summary="Update a user (roles, password, disable)",
              dependencies=ADMIN)
async def update_user(username: str, body: UserUpdate, principal: PrincipalDep, conn: ConnDep) -> UserPublic:
    values = body.model_dump(exclude_unset=True)
    if "roles" in values and values["roles"] is not None:
        values["roles"] = [Role(r).value for r in values["roles"]]
    losing_admin = body.disabled or (body.roles is not None and Role.ADMIN not in body.roles)
    if losing_admin and await users.admins_left(conn, excluding=username) == 0:
        raise ApiError(409, "roles: this would leave no enabled administrator", field="roles")
    return _public(await users.update(conn, username=username, values=values))


@router.delete("/{username}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a user and their tokens",
               dependencies=ADMIN)
async def delete_user(username: str, principal: PrincipalDep, conn: ConnDep) -> Response:
    if username == principal.subject:
        raise ApiError(409, "username: administrators cannot delete themselves", field="username")
    if await users.admins_left(conn, excluding=username) == 0:
        raise ApiError(409, "username: this would leave no enabled administrator", field="username")
    await users.delete(conn, username=username)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
