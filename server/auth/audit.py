"""The audit log: data access. Rows are written by the API's audit middleware and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Entry:
    actor: str | None
    via: str | None
    client: str | None
    method: str
    path: str
    query: str
    status: int
    detail: dict[str, Any] | None = None


async def record(conn: psycopg.AsyncConnection[Any], *, entry: Entry) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, via, client, method, path, query, status, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (entry.actor, entry.via, entry.client, entry.method, entry.path[:1000], entry.query[:1000], entry.status,
         Jsonb(entry.detail) if entry.detail is not None else None))


async def query(
    conn: psycopg.AsyncConnection[Any],
    *,
    actor: str | None,
    path_prefix: str | None,
    method: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    params = {"actor": actor, "prefix": path_prefix, "method": method, "since": since, "until": until,
              "limit": limit, "offset": offset}
    where = ("WHERE (%(actor)s::text IS NULL OR actor = %(actor)s)"
             " AND (%(prefix)s::text IS NULL OR starts_with(path, %(prefix)s))"
             " AND (%(method)s::text IS NULL OR method = %(method)s)"
             " AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
             " AND (%(until)s::timestamptz IS NULL OR at < %(until)s)")
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT id, at, actor, via, client, method, path, query, status, detail FROM audit_log {where}"
        " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s", params)
    rows = await cur.fetchall()
    total = await (await conn.execute(f"SELECT count(*) FROM audit_log {where}", params)).fetchone()
    return rows, int(total[0]) if total else 0
