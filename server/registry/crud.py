"""Generic data access for registry tables; each resource describes its table once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from server.registry.errors import NotFound, translate


@dataclass(frozen=True)
class Table:
    name: str
    entity: str
    columns: tuple[str, ...]
    filters: tuple[str, ...] = ()
    order_by: str = "id"


async def create(conn: psycopg.AsyncConnection[Any], *, table: Table, values: dict[str, Any]) -> dict[str, Any]:
    cols = [c for c in values if c in table.columns or c == "id"]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING {}").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder() * len(cols)),
        _returning(table),
    )
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(query, [values[c] for c in cols])
            row = await cur.fetchone()
    except psycopg.Error as exc:
        raise translate(exc, entity=table.entity, ident=values.get("id")) from exc
    assert row is not None
    return row


async def get(conn: psycopg.AsyncConnection[Any], *, table: Table, ident: str) -> dict[str, Any]:
    query = sql.SQL("SELECT {} FROM {} WHERE id = %s").format(_returning(table), sql.Identifier(table.name))
    cur = await conn.cursor(row_factory=dict_row).execute(query, (ident,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"{table.entity} {ident!r} not found")
    return row


async def list_rows(
    conn: psycopg.AsyncConnection[Any],
    *,
    table: Table,
    filters: dict[str, Any],
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    where, params = _where(table, filters)
    query = sql.SQL("SELECT {}, count(*) OVER () AS _total FROM {} {} ORDER BY {} LIMIT %s OFFSET %s").format(
        _returning(table), sql.Identifier(table.name), where, sql.Identifier(table.order_by)
    )
    cur = await conn.cursor(row_factory=dict_row).execute(query, [*params, limit, offset])
    rows = await cur.fetchall()
    if rows:
        total = int(rows[0]["_total"])
    else:
        count = sql.SQL("SELECT count(*) FROM {} {}").format(sql.Identifier(table.name), where)
        crow = await (await conn.execute(count, params)).fetchone()
        total = int(crow[0]) if crow else 0
    for row in rows:
        del row["_total"]
    return rows, total


async def update(
    conn: psycopg.AsyncConnection[Any], *, table: Table, ident: str, values: dict[str, Any]
) -> dict[str, Any]:
    cols = [c for c in values if c in table.columns]
    if not cols:
        return await get(conn, table=table, ident=ident)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c in cols
    )
    query = sql.SQL("UPDATE {} SET {}, updated_at = now() WHERE id = %s RETURNING {}").format(
        sql.Identifier(table.name), assignments, _returning(table)
    )
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(query, [*(values[c] for c in cols), ident])
            row = await cur.fetchone()
    except psycopg.Error as exc:
        raise translate(exc, entity=table.entity, ident=ident) from exc
    if row is None:
        raise NotFound(f"{table.entity} {ident!r} not found")
    return row


async def delete(conn: psycopg.AsyncConnection[Any], *, table: Table, ident: str) -> None:
    query = sql.SQL("DELETE FROM {} WHERE id = %s").format(sql.Identifier(table.name))
    try:
        async with conn.transaction():
            cur = await conn.execute(query, (ident,))
    except psycopg.Error as exc:
        raise translate(exc, entity=table.entity, ident=ident) from exc
    if cur.rowcount == 0:
        raise NotFound(f"{table.entity} {ident!r} not found")


def _returning(table: Table) -> sql.Composable:
    return sql.SQL(", ").join(map(sql.Identifier, ("id", *table.columns, "created_at", "updated_at")))


def _where(table: Table, filters: dict[str, Any]) -> tuple[sql.Composable, list[Any]]:
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for name, value in filters.items():
        if value is None or name not in table.filters:
            continue
        parts.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
        params.append(value)
    if not parts:
        return sql.SQL(""), params
    return sql.SQL("WHERE ") + sql.SQL(" AND ").join(parts), params


SITES = Table("sites", "site", ("name", "timezone", "lat", "lon"))
DISTRICTS = Table("districts", "district", ("site_id", "name"), filters=("site_id",))
CABINETS = Table("cabinets", "cabinet", ("site_id", "district_id", "name", "lat", "lon"),
                 filters=("site_id", "district_id"))
GATEWAYS = Table("gateways", "gateway", ("site_id", "district_id", "name", "lat", "lon", "health", "health_at"),
                 filters=("site_id", "district_id"))
LAMPS = Table(
    "lamps", "lamp",
    ("site_id", "district_id", "cabinet_id", "gateway_id", "name", "lat", "lon", "rated_w", "radio",
     "report_interval_s", "lamp_type"),
    filters=("site_id", "district_id", "cabinet_id", "gateway_id", "radio"),
)
