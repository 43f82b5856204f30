"""Lamp-specific data access: bulk upsert, state, GeoJSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from psycopg.rows import dict_row

from server.registry.errors import NotFound
from server.registry.lamp_import import RowError
from server.registry.models import LampCreate

_UPSERT = """
INSERT INTO lamps (id, site_id, district_id, cabinet_id, gateway_id, name, lat, lon, rated_w, radio,
                   report_interval_s, lamp_type)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                     %s::float8[], %s::float8[], %s::real[], %s::text[], %s::int[], %s::text[])
ON CONFLICT (id) DO UPDATE SET
    district_id = EXCLUDED.district_id, cabinet_id = EXCLUDED.cabinet_id,
    gateway_id = EXCLUDED.gateway_id, name = EXCLUDED.name, lat = EXCLUDED.lat, lon = EXCLUDED.lon,
    rated_w = EXCLUDED.rated_w, radio = EXCLUDED.radio, report_interval_s = EXCLUDED.report_interval_s,
    lamp_type = EXCLUDED.lamp_type, updated_at = now()
RETURNING (xmax = 0) AS inserted
"""

_REFERENCES = (("district_id", "districts"), ("cabinet_id", "cabinets"), ("gateway_id", "gateways"))


async def key_of(conn: psycopg.AsyncConnection[Any], *, lamp_id: str) -> int:
    cur = await conn.execute("SELECT key FROM lamps WHERE id = %s", (lamp_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"lamp {lamp_id!r} not found")
    return int(row[0])


async def check_references(conn: psycopg.AsyncConnection[Any], *, lamps: list[LampCreate]) -> list[RowError]:
    """Every site, district, cabinet and gateway a row names must exist under that row's site;
    an existing lamp may not move to another site through an import."""
    errors: list[RowError] = []
    sites = {lamp.site_id for lamp in lamps}
    cur = await conn.execute("SELECT id FROM sites WHERE id = ANY(%s)", (list(sites),))
    known_sites = {r[0] for r in await cur.fetchall()}
    known: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for column, table in _REFERENCES:
        wanted = list({getattr(lamp, column) for lamp in lamps} - {None})
        if wanted:
            cur = await conn.execute(f"SELECT site_id, id FROM {table} WHERE id = ANY(%s)", (wanted,))
            known[column] = {(s, i) for s, i in await cur.fetchall()}
    cur = await conn.execute("SELECT id, site_id FROM lamps WHERE id = ANY(%s)", ([lamp.id for lamp in lamps],))
    existing_site = dict(await cur.fetchall())
    for index, lamp in enumerate(lamps):
        if lamp.site_id not in known_sites:
            errors.append(RowError(index, lamp.id, "site_id", f"site {lamp.site_id!r} does not exist"))
        for column, table in _REFERENCES:
            value = getattr(lamp, column)
            if value is not None and (lamp.site_id, value) not in known[column]:
                errors.append(RowError(index, lamp.id, column,
                                       f"{table[:-1]} {value!r} does not exist in site {lamp.site_id!r}"))
        previous = existing_site.get(lamp.id)
        if previous is not None and previous != lamp.site_id:
            errors.append(RowError(index, lamp.id, "site_id",
                                   f"lamp {lamp.id!r} belongs to site {previous!r}; it cannot move by import"))
    return errors


async def upsert_many(conn: psycopg.AsyncConnection[Any], *, lamps: list[LampCreate]) -> tuple[int, int]:
    """Creates or updates ``lamps`` in one statement; returns (created, updated)."""
    cols: list[list[Any]] = [[] for _ in range(12)]
    for lamp in lamps:
        for i, value in enumerate((lamp.id, lamp.site_id, lamp.district_id, lamp.cabinet_id, lamp.gateway_id,
                                   lamp.name, lamp.lat, lamp.lon, lamp.rated_w, lamp.radio,
                                   lamp.report_interval_s, lamp.lamp_type)):
            cols[i].append(value)
    async with conn.transaction():
        cur = await conn.execute(_UPSERT, cols)
        inserted = [r[0] for r in await cur.fetchall()]
    created = sum(1 for flag in inserted if flag)
    return created, len(inserted) - created


_STATE = """
SELECT l.id, l.site_id, l.report_interval_s, s.online, s.state, s.state_at, s.last_seen, s.ack_seq,
       s.pending, s.last_seq, s.last_ts, s.last_p, s.last_v, s.last_i, s.last_pf, s.last_e, s.last_dim,
       s.last_t, s.last_f, s.last_cv
FROM lamps l LEFT JOIN lamp_status s ON s.lamp_key = l.key
WHERE l.id = %s
"""


async def state(conn: psycopg.AsyncConnection[Any], *, lamp_id: str) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(_STATE, (lamp_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"lamp {lamp_id!r} not found")
    return row


_GEOJSON = """
SELECT l.id, l.site_id, l.district_id, l.cabinet_id, l.gateway_id, l.name, l.lat, l.lon, l.rated_w,
       l.radio, l.report_interval_s, l.lamp_type, s.online, s.last_seen, s.last_dim, s.last_p, s.last_f
FROM lamps l LEFT JOIN lamp_status s ON s.lamp_key = l.key
WHERE (%(site_id)s::text IS NULL OR l.site_id = %(site_id)s)
  AND (%(district_id)s::text IS NULL OR l.district_id = %(district_id)s)
  AND (%(cabinet_id)s::text IS NULL OR l.cabinet_id = %(cabinet_id)s)
ORDER BY l.id
"""


async def geojson(
    conn: psycopg.AsyncConnection[Any], *, site_id: str | None, district_id: str | None, cabinet_id: str | None
) -> dict[str, Any]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        _GEOJSON, {"site_id": site_id, "district_id": district_id, "cabinet_id": cabinet_id}
    )
    features = []
    for row in await cur.fetchall():
        lon, lat = row.pop("lon"), row.pop("lat")
        last_seen = row.get("last_seen")
        row["last_seen"] = last_seen.isoformat() if last_seen else None
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                         "properties": row})
    return {"type": "FeatureCollection", "features": features}
