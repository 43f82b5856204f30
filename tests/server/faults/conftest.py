"""A database site of its own per test (the test server's engine does not watch it), lamps whose
newest reading the test sets directly in ``lamp_status``, and a fault engine on a test clock."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from server.db.migrate import migrate
from server.faults.config import FaultConfig
from server.faults.engine import FaultEngine
from server.settings import Settings
from tests.server.faults.support import NIGHT, healthy_p

_sites = itertools.count(1)


class Street:
    """One site, one district, cabinet ``c`` with ``lamps`` Wi-Fi lamps ``L0..``; a crew for the district."""

    def __init__(self, conn: psycopg.AsyncConnection[Any], site: str, lamps: int) -> None:
        self.conn = conn
        self.site = site
        self.district = f"{site}d"
        self.cabinet = f"{site}c"
        self.crew = f"{site}crew"
        self.lamp_ids = [f"{site}L{k}" for k in range(lamps)]
        self.keys: dict[str, int] = {}
        self.seq: dict[str, int] = {}
        self.energy: dict[str, float] = {}
        self.engine = FaultEngine(conn, Settings(environment="test"), config=FaultConfig(), site_ids=[site])

    async def build(self) -> None:
        c = self.conn
        await c.execute("INSERT INTO sites (id, name, lat, lon) VALUES (%s, 'Timika', -4.55, 136.88)", (self.site,))
        await c.execute("INSERT INTO districts (id, site_id, name) VALUES (%s, %s, 'Mimika Baru')",
                        (self.district, self.site))
        await c.execute("INSERT INTO cabinets (id, site_id, district_id, name) VALUES (%s, %s, %s, 'Panel 1')",
                        (self.cabinet, self.site, self.district))
        await c.execute("INSERT INTO crews (id, site_id, name, districts) VALUES (%s, %s, 'Regu Timur', %s)",
                        (self.crew, self.site, [self.district]))
        for lamp_id in self.lamp_ids:
            cur = await c.execute(
                "INSERT INTO lamps (id, site_id, district_id, cabinet_id, lat, lon, rated_w, radio)"
                " VALUES (%s, %s, %s, %s, -4.55, 136.88, 100, 'wifi') RETURNING key",
                (lamp_id, self.site, self.district, self.cabinet))
            row = await cur.fetchone()
            assert row is not None
            self.keys[lamp_id] = row[0]
            self.seq[lamp_id] = 0
            self.energy[lamp_id] = 5000.0

    async def report(self, lamp: int, ts: float, *, dim: float = 100, p: float | None = None, v: float = 224.0) -> None:
        lamp_id = self.lamp_ids[lamp]
        power = healthy_p(dim) if p is None else p
        self.seq[lamp_id] += 1
        self.energy[lamp_id] += power * 300 / 3600
        await self.conn.execute(
            "UPDATE lamp_status SET last_seq = %s, last_ts = %s, last_p = %s, last_v = %s, last_i = 0.4,"
            " last_pf = 0.97, last_e = %s, last_dim = %s, last_f = 0 WHERE lamp_key = %s",
            (self.seq[lamp_id], dt.datetime.fromtimestamp(ts, dt.UTC), power, v, self.energy[lamp_id], dim,
             self.keys[lamp_id]))

    async def round(self, ts: float, *, failed: frozenset[int] | set[int] = frozenset(),
                    quiet: frozenset[int] | set[int] = frozenset()) -> Any:
        """Every lamp reports at ``ts`` (``failed`` ones dark, ``quiet`` ones not at all), then a tick."""
        for k in range(len(self.lamp_ids)):
            if k not in quiet:
                await self.report(k, ts, p=0.6 if k in failed else None)
        return await self.engine.tick(dt.datetime.fromtimestamp(ts + 1, dt.UTC))

    async def alerts(self, **where: Any) -> list[dict[str, Any]]:
        from psycopg.rows import dict_row

        clauses = " AND ".join(f"{k} = %({k})s" for k in where)
        async with self.conn.cursor(row_factory=dict_row) as cur:
            await cur.execute("SELECT * FROM alerts WHERE site_id = %(site)s" + (f" AND {clauses}" if clauses else "")
                              + " ORDER BY id", {"site": self.site, **where})
            return await cur.fetchall()

    async def events(self, alert_id: int) -> list[str]:
        cur = await self.conn.execute("SELECT action FROM alert_events WHERE alert_id = %s ORDER BY id", (alert_id,))
        return [r[0] for r in await cur.fetchall()]


@pytest.fixture(scope="session")
def migrated(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
async def street(migrated: str, run_tag: str) -> AsyncIterator[Street]:
    async with await psycopg.AsyncConnection.connect(migrated, autocommit=True) as conn:
        s = Street(conn, f"f{run_tag}{next(_sites)}", lamps=10)
        await s.build()
        yield s


START = NIGHT
