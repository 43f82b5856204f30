"""The fault evaluation's own database: created fresh, migrated, given the scenario's topology, and fed
readings and gateway health through the ingestion ``Writer`` on simulated time, so the fault engine
reads exactly what production ingestion stores.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import psycopg
from psycopg import conninfo, sql

from server.db.migrate import migrate
from server.ingest.store import Batch, LampReadings, Writer
from simulator.fleet import Block
from simulator.topology import RADIOS, Topology

WORKER_ID = "fault-eval"
GATEWAY_FIRMWARE = "0.1.0"


@contextmanager
def fresh_database(server_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """A new, migrated database on the server at ``server_url``; dropped afterwards unless ``keep``."""
    db = f"terang_eval_{name.replace('-', '_')[:24]}_{secrets.token_hex(3)}".lower()
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db)))
    url = conninfo.make_conninfo(server_url, dbname=db)
    try:
        migrate(url)
        yield url
    finally:
        if not keep:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))


async def storage_mode(conn: psycopg.AsyncConnection[Any]) -> str:
    cur = await conn.execute("SELECT mode FROM storage_info")
    row = await cur.fetchone()
    return str(row[0]) if row else "postgres"


async def register(
    conn: psycopg.AsyncConnection[Any], topo: Topology, intervals: dict[str, int], at: dt.datetime
) -> npt.NDArray[np.int64]:
    """Site, districts, cabinets, gateways and lamps as the registry stores them, created at simulated
    time ``at``; returns each lamp's key by lamp index."""
    site = topo.site
    lamps = topo.lamps
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO sites (id, name, timezone, lat, lon, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (site.id, site.name, site.timezone, site.lat, site.lon, at, at),
        )
        async with conn.cursor() as cur:
            await cur.executemany(
                "INSERT INTO districts (id, site_id, name, created_at, updated_at) VALUES (%s, %s, %s, %s, %s)",
                [(d.id, d.site_id, d.name, at, at) for d in topo.districts],
            )
            await cur.executemany(
                "INSERT INTO cabinets (id, site_id, district_id, name, lat, lon, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(c.id, c.site_id, c.district_id, c.name, c.lat, c.lon, at, at) for c in topo.cabinets],
            )
            await cur.executemany(
                "INSERT INTO gateways (id, site_id, district_id, name, lat, lon, created_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [(g.id, g.site_id, g.district_id, g.name, g.lat, g.lon, at, at) for g in topo.gateways],
            )
        radio = [RADIOS[int(r)] for r in lamps.radio]
        gateway = [topo.gateways[g].id if g >= 0 else None for g in lamps.gateway.tolist()]
        await conn.execute(
            "INSERT INTO lamps (id, site_id, district_id, cabinet_id, gateway_id, name, lat, lon, rated_w, radio,"
            " report_interval_s, created_at, updated_at)"
            " SELECT *, %s, %s FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
            " %s::float8[], %s::float8[], %s::real[], %s::text[], %s::int[])",
            (at, at, lamps.ids, [site.id] * len(lamps), [topo.districts[d].id for d in lamps.district.tolist()],
             [topo.cabinets[c].id for c in lamps.cabinet.tolist()], gateway, lamps.names,
             lamps.lat.tolist(), lamps.lon.tolist(), lamps.rated_w.tolist(), radio, [intervals[r] for r in radio]),
        )
        cur2 = await conn.execute("SELECT id, key FROM lamps WHERE site_id = %s", (site.id,))
        key_of = dict(await cur2.fetchall())
    return np.array([key_of[i] for i in lamps.ids], dtype=np.int64)


class SimWriter:
    """The ingestion ``Writer`` stamping simulated receive time; builds its batches from reading blocks."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], topo: Topology, keys: npt.NDArray[np.int64],
                 mode: str, started: float) -> None:
        self.now = dt.datetime.fromtimestamp(started, dt.UTC)
        self.writer = Writer(conn, mode=mode, worker_id=WORKER_ID, payload_cap=4096, clock=lambda: self.now)
        self.topo = topo
        self.keys = keys
        self.started = started
        self.stored = 0

    async def write(self, block: Block, gateways_up: npt.NDArray[np.bool_], now: float) -> None:
        self.now = dt.datetime.fromtimestamp(now, dt.UTC)
        batch = Batch()
        site, ids = self.topo.site.id, self.topo.lamps.ids
        # The Writer takes per-lamp dicts of protocol tuples; this is the only per-reading loop of a tick.
        for key, lamp, r in zip(self.keys[block.lamps].tolist(), block.lamps.tolist(), block.tuples(), strict=True):
            entry = batch.lamps.get(key)
            if entry is None:
                entry = batch.lamps[key] = LampReadings(site, ids[lamp])
            entry.readings[(r[0], r[1])] = r
        batch.readings_in = len(block)
        if len(batch):
            result = await self.writer.write(batch)
            self.stored += result.stored
        await self._health(gateways_up, now)

    async def _health(self, up: npt.NDArray[np.bool_], now: float) -> None:
        """Each gateway that is up reports its health (every 60 s, like ``central.health_interval_s``):
        what the Writer stores for a gateway ``state`` message, in one statement for all of them."""
        gateways = [self.topo.gateways[g] for g in np.flatnonzero(up).tolist()]
        if not gateways:
            return
        body = orjson.dumps({"st": "online", "ts": int(now), "fw": GATEWAY_FIRMWARE, "bearer": "4g",
                             "h": {"up_s": int(now - self.started), "q": 0, "bh": "up", "sim": True}}).decode()
        await self.writer.conn.execute(
            "UPDATE gateways g SET health = %s::jsonb, health_at = %s FROM unnest(%s::text[]) AS u(id)"
            " WHERE g.id = u.id AND g.site_id = %s",
            (body, self.now, [g.id for g in gateways], self.topo.site.id),
        )
