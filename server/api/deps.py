"""Typed dependencies shared by the routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, Query, Request
from psycopg_pool import AsyncConnectionPool

from server.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_pool(request: Request) -> AsyncConnectionPool:
    pool: AsyncConnectionPool = request.app.state.pool
    return pool


async def get_conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with get_pool(request).connection() as conn:
        yield conn


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]
ConnDep = Annotated[psycopg.AsyncConnection[Any], Depends(get_conn)]


# Far beyond any real listing, and inside PostgreSQL's bigint (a larger OFFSET is a 500, not a 422).
MAX_OFFSET = 1_000_000_000


class Paging:
    """``limit``/``offset`` query parameters; ``limit`` is capped by ``api_page_max``."""

    def __init__(
        self,
        settings: SettingsDep,
        limit: Annotated[int, Query(ge=1, description="Page size (capped by the server)")] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> None:
        self.limit = min(limit, settings.api_page_max)
        self.offset = offset


PagingDep = Annotated[Paging, Depends()]
