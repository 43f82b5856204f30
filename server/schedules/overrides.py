"""Overrides (a level for a target until an expiry) and the control audit trail. Every action on an
override writes its audit entry in the same transaction: who, when, why and what."""

from __future__ import annotations

import datetime as dt
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from server.registry.errors import Conflict, NotFound

Conn = psycopg.AsyncConnection[Any]

_COLS = ("id, site_id, target_type, target_id, level, starts_at, until, emergency, reason, created_by, created_at,"
         " cancelled_at, cancelled_by, cancel_reason")
_STATUS = """CASE WHEN cancelled_at IS NOT NULL AND cancelled_at < until THEN 'cancelled'
                  WHEN until <= now() THEN 'ended' WHEN starts_at > now() THEN 'scheduled' ELSE 'active' END"""


async def _audit(conn: Conn, *, row: dict[str, Any], subject: str, action: str, reason: str,
                 detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO control_audit (site_id, subject, action, override_id, target_type, target_id, reason, detail)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (row["site_id"], subject, action, row["id"], row["target_type"], row["target_id"], reason, Jsonb(detail)))


def _detail(row: dict[str, Any]) -> dict[str, Any]:
    return {"level": row["level"], "starts_at": row["starts_at"].isoformat(), "until": row["until"].isoformat(),
            "emergency": row["emergency"]}


async def create(
    conn: Conn, *, site_id: str, target_type: str, target_id: str, level: int, starts_at: dt.datetime,
    until: dt.datetime, reason: str, subject: str, emergency: bool = False,
) -> dict[str, Any]:
    async with conn.transaction():
        cur = await conn.cursor(row_factory=dict_row).execute(
            "INSERT INTO control_overrides (site_id, target_type, target_id, level, starts_at, until, emergency,"
            f" reason, created_by) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {_COLS}, {_STATUS} AS status",
            (site_id, target_type, target_id, level, starts_at, until, emergency, reason, subject))
        row = await cur.fetchone()
        assert row is not None
        await _audit(conn, row=row, subject=subject, action="emergency.on" if emergency else "override.create",
                     reason=reason, detail=_detail(row))
    return row


async def get(conn: Conn, *, override_id: int) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLS}, {_STATUS} AS status FROM control_overrides WHERE id = %s", (override_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"override {override_id} not found")
    return row


async def list_rows(
    conn: Conn, *, site_id: str | None, status: str | None, target_type: str | None, target_id: str | None,
    limit: int, offset: int,
) -> tuple[list[dict[str, Any]], int]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT * FROM (SELECT {_COLS}, {_STATUS} AS status FROM control_overrides) o"
        " WHERE (%(site)s::text IS NULL OR site_id = %(site)s) AND (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (%(tt)s::text IS NULL OR target_type = %(tt)s) AND (%(tid)s::text IS NULL OR target_id = %(tid)s)"
        " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s",
        {"site": site_id, "status": status, "tt": target_type, "tid": target_id, "limit": limit, "offset": offset})
    rows = await cur.fetchall()
    count = await conn.execute(
        f"SELECT count(*) FROM (SELECT site_id, target_type, target_id, {_STATUS} AS status FROM control_overrides) o"
        " WHERE (%(site)s::text IS NULL OR site_id = %(site)s) AND (%(status)s::text IS NULL OR status = %(status)s)"
        " AND (%(tt)s::text IS NULL OR target_type = %(tt)s) AND (%(tid)s::text IS NULL OR target_id = %(tid)s)",
        {"site": site_id, "status": status, "tt": target_type, "tid": target_id})
    total = await count.fetchone()
    return rows, int(total[0]) if total else 0


async def update(
    conn: Conn, *, override_id: int, level: int | None, until: dt.datetime | None, reason: str, subject: str
) -> dict[str, Any]:
    async with conn.transaction():
        before = await get(conn, override_id=override_id)
        if before["status"] in ("ended", "cancelled"):
            raise Conflict(f"override {override_id} has {before['status']}; create a new one")
        cur = await conn.cursor(row_factory=dict_row).execute(
            "UPDATE control_overrides SET level = COALESCE(%s, level), until = COALESCE(%s, until) WHERE id = %s"
            f" RETURNING {_COLS}, {_STATUS} AS status", (level, until, override_id))
        row = await cur.fetchone()
        assert row is not None
        await _audit(conn, row=row, subject=subject, action="override.update", reason=reason,
                     detail={"before": _detail(before), "after": _detail(row)})
    return row


async def cancel(conn: Conn, *, override_id: int, reason: str, subject: str) -> dict[str, Any]:
    async with conn.transaction():
        before = await get(conn, override_id=override_id)
        if before["status"] in ("ended", "cancelled"):
            raise Conflict(f"override {override_id} has already {before['status']}")
        cur = await conn.cursor(row_factory=dict_row).execute(
            "UPDATE control_overrides SET cancelled_at = now(), cancelled_by = %s, cancel_reason = %s WHERE id = %s"
            f" RETURNING {_COLS}, {_STATUS} AS status", (subject, reason, override_id))
        row = await cur.fetchone()
        assert row is not None
        action = "emergency.off" if row["emergency"] else "override.cancel"
        await _audit(conn, row=row, subject=subject, action=action, reason=reason, detail=_detail(row))
    return row


async def audit_trail(
    conn: Conn, *, site_id: str | None, override_id: int | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    params = {"site": site_id, "ovr": override_id, "limit": limit, "offset": offset}
    where = ("WHERE (%(site)s::text IS NULL OR site_id = %(site)s)"
             " AND (%(ovr)s::bigint IS NULL OR override_id = %(ovr)s)")
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT id, at, site_id, subject, action, override_id, target_type, target_id, reason, detail"
        f" FROM control_audit {where} ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s", params)
    rows = await cur.fetchall()
    total = await (await conn.execute(f"SELECT count(*) FROM control_audit {where}", params)).fetchone()
    return rows, int(total[0]) if total else 0
