"""The audit log of mutating requests (administrators only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from server.api.access import Role, allow
from server.api.deps import ConnDep, PagingDep
from server.api.errors import ApiError
from server.auth import audit

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEntry(BaseModel):
    id: int
    at: datetime
    actor: str | None
    via: str | None
    client: str | None
    method: str
    path: str
    query: str
    status: int
    detail: dict[str, Any] | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


@router.get("", response_model=AuditPage, summary="Who changed what, when and from where; newest first",
            dependencies=[allow(Role.ADMIN)])
async def audit_log(
    conn: ConnDep,
    paging: PagingDep,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    path_prefix: Annotated[str | None, Query(max_length=256, description="e.g. /api/v1/lamps")] = None,
    method: Annotated[Literal["POST", "PUT", "PATCH", "DELETE"] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
) -> AuditPage:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ApiError(422, f"{name}: give a time zone offset (e.g. 2026-11-28T18:00:00+09:00)", field=name)
    rows, total = await audit.query(conn, actor=actor, path_prefix=path_prefix, method=method, since=since,
                                    until=until, limit=paging.limit, offset=paging.offset)
    return AuditPage(items=[AuditEntry.model_validate(r) for r in rows], total=total, limit=paging.limit,
                     offset=paging.offset)
