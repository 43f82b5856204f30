"""Bearer tokens: data access. The secret is returned once, at creation; only its digest is stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from server.auth import tokens
from server.auth.errors import AuthError, InvalidValue, NotFound

_COLUMNS = ("t.id, u.username, t.kind, t.name, t.prefix, t.scopes, t.created_at, t.expires_at,"
            " t.last_used_at, t.revoked_at")
# last_used_at is written at most this often per token: one UPDATE per request would double the
# database work of every read.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    kind: str
    name: str
    prefix: str
    scopes: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Identity:
    """Who a presented token speaks for, and with which roles."""

    token_id: int
    kind: str
    username: str
    roles: frozenset[str]
    crew_id: str | None


ALL_ROLES = frozenset({"admin", "operator", "technician", "crew", "viewer"})


def held_roles(roles: list[str]) -> frozenset[str]:
    """Roles a token of this user may be scoped to: an administrator may hand out any narrower one
    (a read-only "viewer" token for a dashboard, say)."""
    return ALL_ROLES if "admin" in roles else frozenset(roles)


def _info(row: dict[str, Any]) -> TokenInfo:
    return TokenInfo(**{k: row[k] for k in TokenInfo.__dataclass_fields__})


async def create(
    conn: psycopg.AsyncConnection[Any],
    *,
    username: str,
    kind: str,
    name: str,
    scopes: list[str] | None,
    ttl: timedelta | None,
) -> tuple[str, TokenInfo]:
    """Returns the secret (shown once) and what is stored about it."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, roles FROM users WHERE username = %s AND NOT disabled", (username,))
    user = await cur.fetchone()
    if user is None:
        raise NotFound(f"user {username!r} not found or disabled", field="username")
    if scopes is not None:
        beyond = sorted(set(scopes) - held_roles(user["roles"]))
        if beyond:
            raise InvalidValue(f"scopes: {', '.join(beyond)} not held by {username!r}", field="scopes")
        scopes = sorted(set(scopes))
    secret = tokens.new_token(kind)
    cur = await conn.cursor(row_factory=dict_row).execute(
        "WITH t AS (INSERT INTO api_tokens (user_id, kind, name, token_hash, prefix, scopes, expires_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, now() + %s) RETURNING *)"
        f" SELECT {_COLUMNS} FROM t JOIN users u ON u.id = t.user_id",
        (user["id"], kind, name, tokens.digest(secret), tokens.shown_prefix(secret), scopes, ttl))
    row = await cur.fetchone()
    assert row is not None
    return secret, _info(row)


async def identify(conn: psycopg.AsyncConnection[Any], *, secret: str) -> Identity:
    """The identity behind a presented token; AuthError when it is unknown, expired or revoked."""
    if not tokens.looks_like_token(secret):
        raise AuthError("the bearer token is malformed")
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT t.id, t.kind, t.scopes, t.expires_at <= now() AS expired, t.revoked_at,"
        " t.last_used_at < now() - %s OR t.last_used_at IS NULL AS stale_use,"
        " u.username, u.roles, u.crew_id, u.disabled"
        " FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = %s",
        (_TOUCH_EVERY, tokens.digest(secret)))
    row = await cur.fetchone()
    if row is None:
        raise AuthError("the bearer token is not known")
    if row["revoked_at"] is not None:
        raise AuthError("the bearer token was revoked")
    if row["expired"]:
        raise AuthError("the bearer token has expired")
    if row["disabled"]:
        raise AuthError("the account is disabled")
    if row["stale_use"]:
        await conn.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = %s", (row["id"],))
    roles = set(row["roles"]) if row["scopes"] is None else held_roles(row["roles"]) & set(row["scopes"])
    return Identity(row["id"], row["kind"], row["username"], frozenset(roles), row["crew_id"])


async def list_tokens(
    conn: psycopg.AsyncConnection[Any], *, username: str | None, limit: int, offset: int
) -> tuple[list[TokenInfo], int]:
    """Long-lived tokens (of one user, or all), newest first; sessions are not listed."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS}, count(*) OVER () AS _total FROM api_tokens t JOIN users u ON u.id = t.user_id"
        " WHERE t.kind = 'api' AND (%(user)s::text IS NULL OR u.username = %(user)s)"
        " ORDER BY t.id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"user": username, "limit": limit, "offset": offset})
    rows = await cur.fetchall()
    total = int(rows[0]["_total"]) if rows else 0
    return [_info(r) for r in rows], total


async def get(conn: psycopg.AsyncConnection[Any], *, token_id: int) -> TokenInfo:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = %s", (token_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"token {token_id} not found", field="token_id")
    return _info(row)


async def revoke(conn: psycopg.AsyncConnection[Any], *, token_id: int) -> TokenInfo:
    await conn.execute("UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s", (token_id,))
    return await get(conn, token_id=token_id)
