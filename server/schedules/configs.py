"""The compiled config of each lamp (the commanded version) against the version in effect."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from server.registry.errors import NotFound

# The version a lamp runs: from its latest reading, or from its retained state when that is newer.
IN_EFFECT = """CASE WHEN s.state_at IS NOT NULL AND (s.last_seen IS NULL OR s.state_at > s.last_seen)
                     AND s.state ? 'cv' THEN (s.state->>'cv')::int ELSE s.last_cv END"""


@dataclass(frozen=True)
class StoredConfig:
    cv: int
    digest: str
    in_effect: int | None


@dataclass(frozen=True)
class NewConfig:
    lamp_key: int
    cv: int
    config: dict[str, Any]
    digest: str
    warnings: list[str]


@dataclass(frozen=True)
class DueConfig:
    lamp_key: int
    site_id: str
    lamp_id: str
    cv: int
    config: dict[str, Any]
    resend: bool  # this version was published before and has not taken


async def stored(conn: psycopg.AsyncConnection[Any], *, site_id: str) -> dict[int, StoredConfig]:
    cur = await conn.execute(
        f"SELECT l.key, c.cv, c.digest, {IN_EFFECT} FROM lamps l JOIN lamp_configs c ON c.lamp_key = l.key"
        " LEFT JOIN lamp_status s ON s.lamp_key = l.key WHERE l.site_id = %s", (site_id,))
    return {key: StoredConfig(cv, digest, eff) for key, cv, digest, eff in await cur.fetchall()}


async def save(conn: psycopg.AsyncConnection[Any], *, rows: list[NewConfig]) -> None:
    if not rows:
        return
    async with conn.transaction(), conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO lamp_configs AS c (lamp_key, cv, config, digest, warnings) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (lamp_key) DO UPDATE SET prev_cv = c.cv, prev_config = c.config, cv = EXCLUDED.cv,"
            " config = EXCLUDED.config, digest = EXCLUDED.digest, warnings = EXCLUDED.warnings,"
            " compiled_at = now()",
            [(r.lamp_key, r.cv, Jsonb(r.config), r.digest, r.warnings) for r in rows],
        )


_DUE = f"""
SELECT c.lamp_key, l.site_id, l.id, c.cv, c.config, c.published_cv IS NOT DISTINCT FROM c.cv
FROM lamp_configs c JOIN lamps l ON l.key = c.lamp_key LEFT JOIN lamp_status s ON s.lamp_key = c.lamp_key
WHERE (%(sites)s::text[] IS NULL OR l.site_id = ANY(%(sites)s))
  AND (c.published_cv IS DISTINCT FROM c.cv
       OR ({IN_EFFECT} IS DISTINCT FROM c.cv
           AND c.published_at < %(now)s - make_interval(secs =>
               LEAST(%(after)s * power(2, GREATEST(c.attempts - 1, 0)), %(cap)s))))
ORDER BY c.published_cv IS NOT DISTINCT FROM c.cv, c.lamp_key
LIMIT %(limit)s
"""


async def due(
    conn: psycopg.AsyncConnection[Any],
    *,
    sites: list[str] | None,
    now: dt.datetime,
    resend_after_s: float,
    resend_max_s: float,
    limit: int = 10_000,
) -> list[DueConfig]:
    """New versions not yet published, then published versions not in effect after their wait."""
    cur = await conn.execute(_DUE, {"sites": sites or None, "now": now, "after": resend_after_s,
                                    "cap": resend_max_s, "limit": limit})
    return [DueConfig(*row) for row in await cur.fetchall()]


async def mark_published(conn: psycopg.AsyncConnection[Any], *, sent: list[tuple[int, int]], at: dt.datetime) -> None:
    """``sent``: (lamp_key, cv) pairs published at ``at``."""
    if not sent:
        return
    await conn.execute(
        "UPDATE lamp_configs c SET attempts = CASE WHEN c.published_cv = c.cv THEN c.attempts + 1 ELSE 1 END,"
        " published_cv = c.cv, published_at = %s"
        " FROM unnest(%s::int[], %s::int[]) AS u(k, cv) WHERE c.lamp_key = u.k AND c.cv = u.cv",
        (at, [k for k, _ in sent], [cv for _, cv in sent]),
    )


_OUT_OF_STEP = f"""
SELECT l.id AS lamp_id, l.site_id, l.district_id, l.cabinet_id, c.cv AS commanded_cv,
       {IN_EFFECT} AS in_effect_cv, c.compiled_at, c.published_at, c.attempts, s.online, s.last_seen,
       count(*) OVER () AS _total
FROM lamp_configs c JOIN lamps l ON l.key = c.lamp_key LEFT JOIN lamp_status s ON s.lamp_key = c.lamp_key
WHERE {IN_EFFECT} IS DISTINCT FROM c.cv
  AND (%(site)s::text IS NULL OR l.site_id = %(site)s)
  AND (%(district)s::text IS NULL OR l.district_id = %(district)s)
ORDER BY c.published_at NULLS FIRST, l.id
LIMIT %(limit)s OFFSET %(offset)s
"""


async def out_of_step(
    conn: psycopg.AsyncConnection[Any], *, site_id: str | None, district_id: str | None, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        _OUT_OF_STEP, {"site": site_id, "district": district_id, "limit": limit, "offset": offset})
    rows = await cur.fetchall()
    total = int(rows[0]["_total"]) if rows else 0
    if not rows and offset:
        count = await conn.execute(
            f"SELECT count(*) FROM lamp_configs c JOIN lamps l ON l.key = c.lamp_key"
            f" LEFT JOIN lamp_status s ON s.lamp_key = c.lamp_key WHERE {IN_EFFECT} IS DISTINCT FROM c.cv"
            " AND (%(site)s::text IS NULL OR l.site_id = %(site)s)"
            " AND (%(district)s::text IS NULL OR l.district_id = %(district)s)",
            {"site": site_id, "district": district_id})
        row = await count.fetchone()
        total = int(row[0]) if row else 0
    for row in rows:
        del row["_total"]
    return rows, total


async def of_lamp(conn: psycopg.AsyncConnection[Any], *, lamp_id: str) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT l.id AS lamp_id, l.site_id, c.cv AS commanded_cv, {IN_EFFECT} AS in_effect_cv, c.config,"
        " c.prev_cv, c.prev_config, c.warnings, c.compiled_at, c.published_at, c.attempts"
        " FROM lamps l LEFT JOIN lamp_configs c ON c.lamp_key = l.key LEFT JOIN lamp_status s ON s.lamp_key = l.key"
        " WHERE l.id = %s", (lamp_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"lamp {lamp_id!r} not found")
    return row
