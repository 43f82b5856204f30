"""Password logins: throttling state (failed attempts) and the login itself. Data access only."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import psycopg

from server.auth import throttle, token_store, users
from server.auth.errors import AuthError, Throttled


@dataclass(frozen=True)
class LoginResult:
    token: str
    info: token_store.TokenInfo
    user: users.User


async def _failures(conn: psycopg.AsyncConnection[Any], column: str, value: str, window_s: float) -> list[float]:
    cur = await conn.execute(
        f"SELECT extract(epoch FROM at)::float8 FROM login_failures WHERE {column} = %s"
        " AND at > now() - make_interval(secs => %s)", (value, window_s))
    return [float(r[0]) for r in await cur.fetchall()]


async def login(
    conn: psycopg.AsyncConnection[Any],
    *,
    username: str,
    password: str,
    client: str,
    policy: throttle.ThrottlePolicy,
    session_ttl: timedelta,
) -> LoginResult:
    """A session token for the right password; Throttled while too many recent attempts failed
    (checked before the password, so a throttled guesser learns nothing), AuthError otherwise."""
    wait = throttle.retry_after(
        user_failures=await _failures(conn, "username", username, policy.window_s),
        client_failures=await _failures(conn, "client", client, policy.window_s),
        now=time.time(), policy=policy)
    if wait is not None:
        raise Throttled(f"too many failed logins; try again in {wait:.0f} s", retry_after_s=wait)
    user = await users.check_password(conn, username=username, password=password)
    if user is None:
        await conn.execute("INSERT INTO login_failures (username, client) VALUES (%s, %s)", (username, client))
        raise AuthError("wrong username or password")
    await conn.execute("DELETE FROM login_failures WHERE username = %s", (username,))
    secret, info = await token_store.create(conn, username=username, kind="session", name="login", scopes=None,
                                            ttl=session_ttl)
    return LoginResult(secret, info, user)
