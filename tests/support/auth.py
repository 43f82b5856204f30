"""Users and tokens for tests, made with the same data-access functions as `terang user create`."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import psycopg

from server.auth import token_store, users

T = TypeVar("T")


def run(database_url: str, work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def main() -> T:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await work(conn)

    return asyncio.run(main())


def new_password() -> str:
    return "pw-" + secrets.token_urlsafe(12)


def create_user(database_url: str, username: str, roles: list[str], *, password: str | None = None,
                crew_id: str | None = None) -> str:
    """Creates the user; returns its password."""
    password = password or new_password()
    run(database_url, lambda conn: users.create(conn, username=username, password=password, roles=roles,
                                                crew_id=crew_id))
    return password


def create_token(database_url: str, username: str, *, scopes: list[str] | None = None,
                 ttl: timedelta | None = timedelta(days=1), name: str = "test") -> str:
    secret, _ = run(database_url, lambda conn: token_store.create(conn, username=username, kind="api", name=name,
                                                                  scopes=scopes, ttl=ttl))
    return secret


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def client(base_url: str, token: str | None) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=30, headers=bearer(token) if token else None)
