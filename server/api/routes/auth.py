"""Login, logout and who-am-I."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from server.api.access import EVERYONE, PrincipalDep, allow, public
from server.api.deps import ConnDep, SettingsDep
from server.api.errors import ApiError
from server.auth import logins, token_store, users
from server.auth.throttle import ThrottlePolicy

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    username: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._@-]{0,63}$")]
    password: Annotated[str, Field(min_length=1, max_length=256)]


class Me(BaseModel):
    username: str
    roles: list[str]
    crew_id: str | None
    via: str


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: datetime | None
    user: Me


class PasswordChange(BaseModel):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Annotated[str, Field(min_length=1, max_length=256)]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/login", response_model=LoginResponse, summary="Exchange a username and password for a token",
             dependencies=[public()],
             responses={401: {"description": "Wrong username or password"},
                        429: {"description": "Too many failed logins; see Retry-After"}})
async def login(body: LoginRequest, request: Request, conn: ConnDep, settings: SettingsDep) -> LoginResponse:
    request.state.audit_actor = body.username
    request.state.audit_via = "password"
    policy = ThrottlePolicy(settings.login_max_failures_per_user, settings.login_max_failures_per_client,
                            settings.login_window_s)
    result = await logins.login(conn, username=body.username, password=body.password, client=_client(request),
                                policy=policy, session_ttl=timedelta(seconds=settings.session_ttl_s))
    return LoginResponse(access_token=result.token, expires_at=result.info.expires_at,
                         user=Me(username=result.user.username, roles=result.user.roles,
                                 crew_id=result.user.crew_id, via="session"))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke the session token used",
             dependencies=[allow(*EVERYONE)])
async def logout(principal: PrincipalDep, conn: ConnDep) -> Response:
    if principal.via != "session" or principal.token_id is None:
        raise ApiError(409, "only a login session ends by logout; revoke API tokens with DELETE /tokens/{id}",
                       field="authorization")
    await token_store.revoke(conn, token_id=principal.token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=Me, summary="The caller and the roles in effect", dependencies=[allow(*EVERYONE)])
async def me(principal: PrincipalDep) -> Me:
    return Me(username=principal.subject, roles=sorted(principal.roles), crew_id=principal.crew_id,
              via=principal.via)


@router.post("/password", status_code=status.HTTP_204_NO_CONTENT, summary="Change the caller's own password",
             dependencies=[allow(*EVERYONE)])
async def change_password(body: PasswordChange, principal: PrincipalDep, conn: ConnDep) -> Response:
    if await users.check_password(conn, username=principal.subject, password=body.current_password) is None:
        raise ApiError(422, "current_password: wrong password", field="current_password")
    await users.update(conn, username=principal.subject, values={"password": body.new_password})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
