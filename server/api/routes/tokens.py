"""Long-lived API tokens for integrations: everyone manages their own, administrators anyone's."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, Field

from server.api.access import EVERYONE, Principal, PrincipalDep, Role, allow
from server.api.deps import ConnDep, PagingDep, SettingsDep
from server.api.errors import ApiError
from server.auth import token_store

router = APIRouter(prefix="/tokens", tags=["tokens"])
ANYONE = [allow(*EVERYONE)]
MAX_TTL_DAYS = 5 * 365


class TokenCreate(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=100, description="What the token is for")]
    scopes: Annotated[list[Role] | None, Field(max_length=5, description="Roles the token may use; "
                                                                          "default: all of the owner's")] = None
    expires_in_days: Annotated[int | None, Field(ge=1, le=MAX_TTL_DAYS,
                                                 description="Default: the server's api_token_default_ttl_days")] = None
    username: Annotated[str | None, Field(max_length=64, description="Owner (administrators only); "
                                                                      "default: the caller")] = None


class TokenPublic(BaseModel):
    id: int
    username: str
    name: str
    prefix: str
    scopes: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="The secret; shown this once and never again")


class TokenPage(BaseModel):
    items: list[TokenPublic]
    total: int
    limit: int
    offset: int


def _owner_allowed(principal: Principal, username: str) -> None:
    if username != principal.subject and Role.ADMIN not in principal.roles:
        raise ApiError(403, "only administrators manage other users' tokens", field="username")


@router.get("", response_model=TokenPage, summary="List API tokens (yours; administrators: anyone's)",
            dependencies=ANYONE)
async def list_tokens(
    principal: PrincipalDep,
    conn: ConnDep,
    paging: PagingDep,
    username: Annotated[str | None, Query(max_length=64, description="Administrators: whose; '*' for all")] = None,
) -> TokenPage:
    wanted = username or principal.subject
    _owner_allowed(principal, wanted)
    rows, total = await token_store.list_tokens(conn, username=None if wanted == "*" else wanted,
                                                limit=paging.limit, offset=paging.offset)
    return TokenPage(items=[TokenPublic.model_validate(t, from_attributes=True) for t in rows], total=total,
                     limit=paging.limit, offset=paging.offset)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=TokenCreated,
             summary="Create an API token; the secret is in this response only", dependencies=ANYONE)
async def create_token(body: TokenCreate, principal: PrincipalDep, conn: ConnDep,
                       settings: SettingsDep) -> TokenCreated:
    owner = body.username or principal.subject
    _owner_allowed(principal, owner)
    days = body.expires_in_days if body.expires_in_days is not None else settings.api_token_default_ttl_days
    scopes = [s.value for s in body.scopes] if body.scopes is not None else None
    if owner == principal.subject and principal.via == "token" and scopes is None:
        # A scoped token must not mint itself a wider one.
        scopes = sorted(principal.roles)
    elif owner == principal.subject and scopes is not None and not set(scopes) <= principal.roles:
        raise ApiError(403, "scopes: a token cannot grant roles the caller is not using", field="scopes")
    secret, info = await token_store.create(conn, username=owner, kind="api", name=body.name, scopes=scopes,
                                            ttl=timedelta(days=days) if days else None)
    return TokenCreated(**TokenPublic.model_validate(info, from_attributes=True).model_dump(), token=secret)


@router.delete("/{token_id}", response_model=TokenPublic, summary="Revoke a token (immediately)",
               dependencies=ANYONE)
async def revoke_token(token_id: int, principal: PrincipalDep, conn: ConnDep) -> TokenPublic:
    info = await token_store.get(conn, token_id=token_id)
    _owner_allowed(principal, info.username)
    revoked = await token_store.revoke(conn, token_id=token_id)
    return TokenPublic.model_validate(revoked, from_attributes=True)


