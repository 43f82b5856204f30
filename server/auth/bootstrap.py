"""The demo's login: an administrator ``demo`` with a fresh password each run, and a token for
the simulator to register the fleet and write the demo schedule with. Only ``terang demo`` calls this."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import timedelta

import psycopg

from server.auth import token_store, users
from server.auth.errors import NotFound

DEMO_USER = "demo"


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    token: str


def ensure_demo_login(database_url: str) -> DemoLogin:
    password = "demo-" + secrets.token_urlsafe(9)

    async def run() -> DemoLogin:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            try:
                await users.get(conn, username=DEMO_USER)
                await users.update(conn, username=DEMO_USER, values={"password": password, "disabled": False,
                                                                      "roles": ["admin"]})
            except NotFound:
                await users.create(conn, username=DEMO_USER, password=password, roles=["admin"],
                                   display_name="Demo administrator")
            token, _ = await token_store.create(conn, username=DEMO_USER, kind="api", name="demo simulator",
                                                scopes=None, ttl=timedelta(days=7))
            return DemoLogin(DEMO_USER, password, token)

    return asyncio.run(run())
