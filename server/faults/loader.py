"""What the fault engine reads from the database each tick, as arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from server.faults.config import FaultConfig
from server.faults.fleet import Fleet, Floats, Ints, LampInfo, build

Conn = psycopg.AsyncConnection[Any]


@dataclass
class Sites:
    lat: dict[str, float]
    lon: dict[str, float]
    zone: dict[str, str]


@dataclass
class Latest:
    """Each lamp's newest stored reading (``lamp_status``), aligned to the fleet; seq -1 when none."""

    seq: Ints
    ts: Floats
    p: Floats
    v: Floats
    pf: Floats
    e: Floats
    dim: Floats
    f: Ints


async def registry_mark(conn: Conn, site_ids: list[str] | None) -> tuple[Any, ...]:
    """Changes whenever a lamp, cabinet, gateway or site is added, changed or removed."""
    cur = await conn.execute(
        "SELECT (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM lamps"
        "         WHERE %(s)s::text[] IS NULL OR site_id = ANY(%(s)s)),"
        "       (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM cabinets),"
        "       (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM gateways),"
        "       (SELECT count(*) || '/' || coalesce(max(updated_at)::text, '') FROM sites)",
        {"s": site_ids},
    )
    row = await cur.fetchone()
    return tuple(row or ())


async def load_fleet(conn: Conn, site_ids: list[str] | None, config: FaultConfig) -> tuple[Fleet, Sites]:
    params = {"s": site_ids}
    where = " WHERE %(s)s::text[] IS NULL OR site_id = ANY(%(s)s)"
    cur = await conn.execute(
        "SELECT key, id, site_id, district_id, cabinet_id, gateway_id, name, lat, lon, rated_w, radio,"
        " report_interval_s, lamp_type FROM lamps" + where, params)
    lamps = [LampInfo(*row) for row in await cur.fetchall()]
    cur = await conn.execute("SELECT id, site_id, district_id FROM cabinets" + where + " ORDER BY id", params)
    cabinets = [tuple(r) for r in await cur.fetchall()]
    cur = await conn.execute("SELECT id, site_id, district_id FROM gateways" + where + " ORDER BY id", params)
    gateways = [tuple(r) for r in await cur.fetchall()]
    cur = await conn.execute("SELECT id, coalesce(lat, 0), coalesce(lon, 0), timezone FROM sites")
    rows = await cur.fetchall()
    sites = Sites({r[0]: r[1] for r in rows}, {r[0]: r[2] for r in rows}, {r[0]: r[3] for r in rows})
    return build(lamps, gateways, cabinets, config), sites


async def load_latest(conn: Conn, fleet: Fleet) -> Latest:
    n = len(fleet)
    latest = Latest(seq=np.full(n, -1, dtype=np.int64), ts=np.full(n, np.nan), p=np.full(n, np.nan),
                    v=np.full(n, np.nan), pf=np.full(n, np.nan), e=np.full(n, np.nan), dim=np.full(n, np.nan),
                    f=np.zeros(n, dtype=np.int64))
    # One row of arrays, in binary: a hundred thousand rows as Python tuples would cost most of a tick.
    async with conn.cursor(binary=True) as cur:
        await cur.execute(
            "SELECT array_agg(lamp_key), array_agg(last_seq), array_agg(extract(epoch FROM last_ts)::float8),"
            " array_agg(coalesce(last_p, 'NaN')::float8), array_agg(coalesce(last_v, 'NaN')::float8),"
            " array_agg(coalesce(last_pf, 'NaN')::float8), array_agg(coalesce(last_e, 'NaN')::float8),"
            " array_agg(coalesce(last_dim, -1)::float8), array_agg(coalesce(last_f, 0)::int8)"
            " FROM lamp_status WHERE last_seq IS NOT NULL AND last_ts IS NOT NULL")
        row = await cur.fetchone()
    if row is None or row[0] is None or n == 0:
        return latest
    keys = np.array(row[0], dtype=np.int64)
    at, found = fleet.rows_of(keys)
    at = at[found]
    latest.seq[at] = np.array(row[1], dtype=np.int64)[found]
    for i, name in enumerate(("ts", "p", "v", "pf", "e", "dim"), start=2):
        getattr(latest, name)[at] = np.array(row[i], dtype=np.float64)[found]
    latest.dim[latest.dim < 0] = np.nan
    latest.f[at] = np.array(row[8], dtype=np.int64)[found]
    return latest


async def gateway_heard(conn: Conn, fleet: Fleet) -> Floats:
    """Unix time each gateway's state was last received (NaN when never)."""
    heard = np.full(len(fleet.gateway_ids), np.nan)
    if not fleet.gateway_ids:
        return heard
    index = {g: i for i, g in enumerate(fleet.gateway_ids)}
    cur = await conn.execute(
        "SELECT id, extract(epoch FROM health_at)::float8 FROM gateways WHERE id = ANY(%s) AND health_at IS NOT NULL",
        (fleet.gateway_ids,))
    for gw_id, at in await cur.fetchall():
        heard[index[gw_id]] = at
    return heard


async def configs_mark(conn: Conn) -> tuple[Any, ...]:
    cur = await conn.execute("SELECT count(*), max(compiled_at) FROM lamp_configs")
    return tuple(await cur.fetchone() or ())


async def load_configs(conn: Conn, fleet: Fleet) -> tuple[Ints, list[dict[str, Any]]]:
    """Per lamp: index into the distinct configs (-1 when the lamp has none yet)."""
    index = np.full(len(fleet), -1, dtype=np.int64)
    distinct: dict[str, int] = {}
    configs: list[dict[str, Any]] = []
    cur = await conn.execute("SELECT lamp_key, digest, config FROM lamp_configs")
    rows = await cur.fetchall()
    if not rows or len(fleet) == 0:
        return index, configs
    at, found = fleet.rows_of(np.array([r[0] for r in rows], dtype=np.int64))
    for (_key, digest, config), row, ok in zip(rows, at.tolist(), found.tolist(), strict=True):
        if not ok:
            continue
        if digest not in distinct:
            distinct[digest] = len(configs)
            configs.append(config)
        index[row] = distinct[digest]
    return index, configs
