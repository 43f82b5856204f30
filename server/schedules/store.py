"""Data access for profiles, calendars (with their rules), group members and assignments.
Keyword-only and HTTP-free; constraint violations become registry errors naming the field."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from server.registry.errors import InvalidReference, NotFound, translate

Conn = psycopg.AsyncConnection[Any]

# -- profiles -----------------------------------------------------------------------------------

_PROFILE_COLS = "id, site_id, name, steps, created_at, updated_at"


async def create_profile(conn: Conn, *, site_id: str, name: str, steps: list[list[int]]) -> dict[str, Any]:
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(
                f"INSERT INTO schedule_profiles (site_id, name, steps) VALUES (%s, %s, %s) RETURNING {_PROFILE_COLS}",
                (site_id, name, Jsonb(steps)))
            row = await cur.fetchone()
    except psycopg.Error as exc:
        raise _named(translate(exc, entity="profile", ident=name), "name") from exc
    assert row is not None
    return row


async def get_profile(conn: Conn, *, profile_id: int) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_PROFILE_COLS} FROM schedule_profiles WHERE id = %s", (profile_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"profile {profile_id} not found")
    return row


async def list_profiles(
    conn: Conn, *, site_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    return await _page(conn, "schedule_profiles", _PROFILE_COLS, site_id, limit, offset)


async def update_profile(
    conn: Conn, *, profile_id: int, name: str | None, steps: list[list[int]] | None
) -> dict[str, Any]:
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(
                "UPDATE schedule_profiles SET name = COALESCE(%s, name), steps = COALESCE(%s, steps),"
                f" updated_at = now() WHERE id = %s RETURNING {_PROFILE_COLS}",
                (name, Jsonb(steps) if steps is not None else None, profile_id))
            row = await cur.fetchone()
    except psycopg.Error as exc:
        raise _named(translate(exc, entity="profile", ident=name), "name") from exc
    if row is None:
        raise NotFound(f"profile {profile_id} not found")
    return row


async def delete_profile(conn: Conn, *, profile_id: int) -> None:
    await _delete(conn, "schedule_profiles", "profile", profile_id)


async def site_profile_ids(conn: Conn, *, site_id: str) -> set[int]:
    cur = await conn.execute("SELECT id FROM schedule_profiles WHERE site_id = %s", (site_id,))
    return {int(r[0]) for r in await cur.fetchall()}


# -- calendars ----------------------------------------------------------------------------------

_CAL_COLS = "id, site_id, name, default_profile_id, fallback_level, created_at, updated_at"
_RULE_COLS = ("profile_id", "priority", "weekdays", "from_date", "to_date", "holidays", "dates", "note")


async def _write_rules(conn: Conn, calendar_id: int, site_id: str, rules: list[dict[str, Any]]) -> None:
    await conn.execute("DELETE FROM schedule_calendar_rules WHERE calendar_id = %s", (calendar_id,))
    if rules:
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO schedule_calendar_rules (calendar_id, position, site_id, profile_id, priority, weekdays,"
                " from_date, to_date, holidays, dates, note) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(calendar_id, j, site_id, *(r[c] for c in _RULE_COLS)) for j, r in enumerate(rules)])


async def _rules(conn: Conn, calendar_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT calendar_id, {', '.join(_RULE_COLS)} FROM schedule_calendar_rules WHERE calendar_id = ANY(%s)"
        " ORDER BY calendar_id, position", (calendar_ids,))
    out: dict[int, list[dict[str, Any]]] = {}
    for row in await cur.fetchall():
        out.setdefault(row.pop("calendar_id"), []).append(row)
    return out


async def create_calendar(
    conn: Conn, *, site_id: str, name: str, default_profile_id: int, fallback_level: int, rules: list[dict[str, Any]]
) -> dict[str, Any]:
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(
                "INSERT INTO schedule_calendars (site_id, name, default_profile_id, fallback_level)"
                f" VALUES (%s, %s, %s, %s) RETURNING {_CAL_COLS}", (site_id, name, default_profile_id, fallback_level))
            row = await cur.fetchone()
            assert row is not None
            await _write_rules(conn, row["id"], site_id, rules)
    except psycopg.Error as exc:
        raise _named(translate(exc, entity="calendar", ident=name), "name") from exc
    return await get_calendar(conn, calendar_id=row["id"])


async def get_calendar(conn: Conn, *, calendar_id: int) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_CAL_COLS} FROM schedule_calendars WHERE id = %s", (calendar_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"calendar {calendar_id} not found")
    row["rules"] = (await _rules(conn, [calendar_id])).get(calendar_id, [])
    return row


async def list_calendars(
    conn: Conn, *, site_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    rows, total = await _page(conn, "schedule_calendars", _CAL_COLS, site_id, limit, offset)
    rules = await _rules(conn, [r["id"] for r in rows])
    for row in rows:
        row["rules"] = rules.get(row["id"], [])
    return rows, total


async def update_calendar(
    conn: Conn, *, calendar_id: int, values: dict[str, Any], rules: list[dict[str, Any]] | None
) -> dict[str, Any]:
    current = await get_calendar(conn, calendar_id=calendar_id)
    try:
        async with conn.transaction():
            await conn.execute(
                "UPDATE schedule_calendars SET name = %s, default_profile_id = %s, fallback_level = %s,"
                " updated_at = now() WHERE id = %s",
                (values.get("name") or current["name"],
                 values.get("default_profile_id") or current["default_profile_id"],
                 current["fallback_level"] if values.get("fallback_level") is None else values["fallback_level"],
                 calendar_id))
            if rules is not None:
                await _write_rules(conn, calendar_id, current["site_id"], rules)
    except psycopg.Error as exc:
        raise _named(translate(exc, entity="calendar", ident=values.get("name")), "name") from exc
    return await get_calendar(conn, calendar_id=calendar_id)


async def delete_calendar(conn: Conn, *, calendar_id: int) -> None:
    await _delete(conn, "schedule_calendars", "calendar", calendar_id)


# -- groups -------------------------------------------------------------------------------------


async def group_site(conn: Conn, *, group_id: str) -> str:
    row = await (await conn.execute("SELECT site_id FROM lamp_groups WHERE id = %s", (group_id,))).fetchone()
    if row is None:
        raise NotFound(f"group {group_id!r} not found")
    return str(row[0])


async def group_lamps(conn: Conn, *, group_id: str) -> list[str]:
    await group_site(conn, group_id=group_id)
    cur = await conn.execute("SELECT lamp_id FROM lamp_group_members WHERE group_id = %s ORDER BY lamp_id", (group_id,))
    return [r[0] for r in await cur.fetchall()]


async def add_group_lamps(conn: Conn, *, group_id: str, lamp_ids: list[str], replace: bool) -> list[str]:
    site = await group_site(conn, group_id=group_id)
    cur = await conn.execute("SELECT id FROM lamps WHERE site_id = %s AND id = ANY(%s)", (site, lamp_ids))
    known = {r[0] for r in await cur.fetchall()}
    for j, lamp_id in enumerate(lamp_ids):
        if lamp_id not in known:
            raise InvalidReference(f"lamp_ids[{j}]: lamp {lamp_id!r} does not exist in site {site!r}",
                                   field=f"lamp_ids[{j}]")
    async with conn.transaction():
        if replace:
            await conn.execute("DELETE FROM lamp_group_members WHERE group_id = %s AND NOT (lamp_id = ANY(%s))",
                               (group_id, lamp_ids))
        await conn.execute(
            "INSERT INTO lamp_group_members (group_id, site_id, lamp_id) SELECT %s, %s, unnest(%s::text[])"
            " ON CONFLICT DO NOTHING", (group_id, site, lamp_ids))
    return await group_lamps(conn, group_id=group_id)


async def remove_group_lamp(conn: Conn, *, group_id: str, lamp_id: str) -> None:
    cur = await conn.execute("DELETE FROM lamp_group_members WHERE group_id = %s AND lamp_id = %s", (group_id, lamp_id))
    if cur.rowcount == 0:
        raise NotFound(f"lamp {lamp_id!r} is not in group {group_id!r}")


# -- assignments --------------------------------------------------------------------------------

_ASSIGN_COLS = "id, site_id, calendar_id, target_type, target_id, priority, created_at, updated_at"
_TARGET_COLUMNS = {"district": "district_id", "cabinet": "cabinet_id", "group": "group_id", "lamp": "lamp_id"}
TARGET_TABLES = {"district": "districts", "cabinet": "cabinets", "group": "lamp_groups", "lamp": "lamps",
                 "site": "sites"}


async def target_site(conn: Conn, *, target_type: str, target_id: str) -> str:
    """The site a target belongs to; InvalidReference (field target_id) when it does not exist."""
    table = TARGET_TABLES[target_type]
    column = "id" if target_type == "site" else "site_id"
    row = await (await conn.execute(f"SELECT {column} FROM {table} WHERE id = %s", (target_id,))).fetchone()
    if row is None:
        raise InvalidReference(f"target_id: {target_type} {target_id!r} does not exist", field="target_id")
    return str(row[0])


async def create_assignment(
    conn: Conn, *, calendar_id: int, target_type: str, target_id: str, priority: int
) -> dict[str, Any]:
    calendar = await get_calendar(conn, calendar_id=calendar_id)
    site = await target_site(conn, target_type=target_type, target_id=target_id)
    if site != calendar["site_id"]:
        raise InvalidReference(f"target_id: {target_type} {target_id!r} is in site {site!r}, the calendar in "
                               f"{calendar['site_id']!r}", field="target_id")
    column = _TARGET_COLUMNS.get(target_type)
    cols = ["site_id", "calendar_id", "target_type", "priority"] + ([column] if column else [])
    vals = [site, calendar_id, target_type, priority] + ([target_id] if column else [])
    try:
        async with conn.transaction():
            cur = await conn.cursor(row_factory=dict_row).execute(
                f"INSERT INTO schedule_assignments ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
                f" RETURNING {_ASSIGN_COLS}", vals)
            row = await cur.fetchone()
    except psycopg.errors.UniqueViolation as exc:
        raise _named(translate(exc, entity="assignment", ident=f"{target_type} {target_id}"), "target_id") from exc
    assert row is not None
    return row


async def get_assignment(conn: Conn, *, assignment_id: int) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_ASSIGN_COLS} FROM schedule_assignments WHERE id = %s", (assignment_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"assignment {assignment_id} not found")
    return row


async def list_assignments(
    conn: Conn, *, site_id: str | None, calendar_id: int | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_ASSIGN_COLS}, count(*) OVER () AS _total FROM schedule_assignments"
        " WHERE (%(site)s::text IS NULL OR site_id = %(site)s) AND (%(cal)s::bigint IS NULL OR calendar_id = %(cal)s)"
        " ORDER BY id LIMIT %(limit)s OFFSET %(offset)s",
        {"site": site_id, "cal": calendar_id, "limit": limit, "offset": offset})
    return _strip_total(await cur.fetchall())


async def update_assignment(
    conn: Conn, *, assignment_id: int, calendar_id: int | None, priority: int | None
) -> dict[str, Any]:
    current = await get_assignment(conn, assignment_id=assignment_id)
    if calendar_id is not None:
        calendar = await get_calendar(conn, calendar_id=calendar_id)
        if calendar["site_id"] != current["site_id"]:
            raise InvalidReference(f"calendar_id: calendar {calendar_id} is in another site", field="calendar_id")
    cur = await conn.cursor(row_factory=dict_row).execute(
        "UPDATE schedule_assignments SET calendar_id = COALESCE(%s, calendar_id), priority = COALESCE(%s, priority),"
        f" updated_at = now() WHERE id = %s RETURNING {_ASSIGN_COLS}", (calendar_id, priority, assignment_id))
    row = await cur.fetchone()
    assert row is not None
    return row


async def delete_assignment(conn: Conn, *, assignment_id: int) -> None:
    await _delete(conn, "schedule_assignments", "assignment", assignment_id)


# -- shared -------------------------------------------------------------------------------------


async def _page(
    conn: Conn, table: str, cols: str, site_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {cols}, count(*) OVER () AS _total FROM {table} WHERE (%(site)s::text IS NULL OR site_id = %(site)s)"
        " ORDER BY id LIMIT %(limit)s OFFSET %(offset)s", {"site": site_id, "limit": limit, "offset": offset})
    return _strip_total(await cur.fetchall())


def _strip_total(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    total = int(rows[0]["_total"]) if rows else 0
    for row in rows:
        del row["_total"]
    return rows, total


async def _delete(conn: Conn, table: str, entity: str, ident: int) -> None:
    try:
        async with conn.transaction():
            cur = await conn.execute(f"DELETE FROM {table} WHERE id = %s", (ident,))
    except psycopg.Error as exc:
        raise translate(exc, entity=entity, ident=str(ident)) from exc
    if cur.rowcount == 0:
        raise NotFound(f"{entity} {ident} not found")


def _named(err: Any, field: str) -> Any:
    """A unique violation is about the name (or target), not the id."""
    if err.field == "id":
        err.field = field
        err.message = err.message.replace("already exists", f"already exists (same {field})")
    return err
