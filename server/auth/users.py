"""Users: data access. Passwords arrive in clear and leave as Argon2 hashes, never the reverse."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from server.auth import passwords
from server.auth.errors import Conflict, InvalidValue, NotFound

_COLUMNS = "id, username, display_name, roles, crew_id, disabled, created_at, updated_at, last_login_at"


@dataclass(frozen=True)
class User:
    id: int
    username: str
    display_name: str | None
    roles: list[str]
    crew_id: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None


def _user(row: dict[str, Any]) -> User:
    return User(**{k: row[k] for k in User.__dataclass_fields__})


async def _hash(password: str) -> str:
    try:
        passwords.check_strength(password)
    except passwords.WeakPassword as exc:
        raise InvalidValue(f"password: {exc}", field="password") from exc
    # Argon2 takes tens of milliseconds of CPU: off the event loop.
    return await asyncio.to_thread(passwords.hash_password, password)


ROLES = ("admin", "operator", "technician", "crew", "viewer")


def _check_roles(roles: list[str], crew_id: str | None) -> None:
    if not roles:
        raise InvalidValue("roles: give at least one role", field="roles")
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise InvalidValue(f"roles: {', '.join(unknown)} is not one of {', '.join(ROLES)}", field="roles")
    if "crew" in roles and crew_id is None:
        raise InvalidValue("crew_id: a crew user needs the crew they belong to", field="crew_id")


async def create(
    conn: psycopg.AsyncConnection[Any],
    *,
    username: str,
    password: str,
    roles: list[str],
    display_name: str | None = None,
    crew_id: str | None = None,
) -> User:
    _check_roles(roles, crew_id)
    password_hash = await _hash(password)
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(
                f"INSERT INTO users (username, display_name, password_hash, roles, crew_id)"
                f" VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}",
                (username, display_name, password_hash, sorted(set(roles)), crew_id))
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise Conflict(f"user {username!r} already exists", field="username") from exc
    except psycopg.errors.CheckViolation as exc:
        field = (exc.diag.constraint_name or "users_value_check").removeprefix("users_").removesuffix("_check")
        raise InvalidValue(f"{field}: not allowed ({exc.diag.constraint_name})", field=field) from exc
    assert row is not None
    return _user(row)


async def get(conn: psycopg.AsyncConnection[Any], *, username: str) -> User:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS} FROM users WHERE username = %s", (username,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"user {username!r} not found", field="username")
    return _user(row)


async def list_users(conn: psycopg.AsyncConnection[Any], *, limit: int, offset: int) -> tuple[list[User], int]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS}, count(*) OVER () AS _total FROM users ORDER BY username LIMIT %s OFFSET %s",
        (limit, offset))
    rows = await cur.fetchall()
    if rows:
        return [_user(r) for r in rows], int(rows[0]["_total"])
    total = await (await conn.execute("SELECT count(*) FROM users")).fetchone()
    return [], int(total[0]) if total else 0


async def update(
    conn: psycopg.AsyncConnection[Any],
    *,
    username: str,
    values: dict[str, Any],
) -> User:
    """``values`` may hold display_name, roles, crew_id, disabled and password."""
    current = await get(conn, username=username)
    sets: dict[str, Any] = {k: v for k, v in values.items() if k in ("display_name", "roles", "crew_id", "disabled")}
    if "roles" in sets or "crew_id" in sets:
        _check_roles(list(sets.get("roles", current.roles)), sets.get("crew_id", current.crew_id))
    if "roles" in sets:
        sets["roles"] = sorted(set(sets["roles"]))
    if values.get("password") is not None:
        sets["password_hash"] = await _hash(values["password"])
    if not sets:
        return current
    assignments = ", ".join(f"{k} = %({k})s" for k in sets)
    async with conn.transaction():
        cur = await conn.cursor(row_factory=dict_row).execute(
            f"UPDATE users SET {assignments}, updated_at = now() WHERE username = %(username)s"
            f" RETURNING {_COLUMNS}", {**sets, "username": username})
        row = await cur.fetchone()
        if "password_hash" in sets or sets.get("disabled"):
            # A new password or a disabled account ends every session the old state opened.
            await conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = %s AND kind = 'session'"
                               " AND revoked_at IS NULL", (current.id,))
    assert row is not None
    return _user(row)


async def delete(conn: psycopg.AsyncConnection[Any], *, username: str) -> None:
    cur = await conn.execute("DELETE FROM users WHERE username = %s", (username,))
    if cur.rowcount == 0:
        raise NotFound(f"user {username!r} not found", field="username")


async def admins_left(conn: psycopg.AsyncConnection[Any], *, excluding: str) -> int:
    """Enabled administrators other than ``excluding``: the last one may not lock everyone out."""
    row = await (await conn.execute(
        "SELECT count(*) FROM users WHERE 'admin' = ANY (roles) AND NOT disabled AND username <> %s",
        (excluding,))).fetchone()
    return int(row[0]) if row else 0


async def check_password(conn: psycopg.AsyncConnection[Any], *, username: str, password: str) -> User | None:
    """The user when the password is right and the account enabled; None otherwise (same cost)."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS}, password_hash FROM users WHERE username = %s", (username,))
    row = await cur.fetchone()
    stored = row["password_hash"] if row else passwords.dummy_hash()
    ok = await asyncio.to_thread(passwords.verify, stored, password)
    if not ok or row is None or row["disabled"]:
        return None
    if passwords.needs_rehash(stored):
        new_hash = await asyncio.to_thread(passwords.hash_password, password)
        await conn.execute("UPDATE users SET password_hash = %s WHERE id = %s", (new_hash, row["id"]))
    await conn.execute("UPDATE users SET last_login_at = now() WHERE id = %s", (row["id"],))
    return _user(row)
