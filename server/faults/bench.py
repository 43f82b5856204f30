"""``terang bench faults``: one detection tick over a large fleet.

Two measurements: the assessment alone on arrays (detectors, debouncing, correlation, what to alert)
and the engine's whole tick against a real database (reading ``lamp_status``, assessing, writing the
alerts that change). Each fleet has ~1 % of lamps failing, a dead cabinet and a silent gateway, so the
tick also opens alerts; later ticks give a fifth of the lamps a new reading, as 5-minute reporting
does with 1-minute ticks.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from server.faults.assess import Placement, assess
from server.faults.config import FaultConfig
from server.faults.correlate import Verdict
from server.faults.fleet import Fleet, expected_power, synthetic
from server.faults.loader import Latest
from server.faults.state import LampState

NOW = dt.datetime(2026, 11, 28, 13, 0, tzinfo=dt.UTC).timestamp()  # 22:00 WIT
CABINET_SIZE = 100
GATEWAY_LAMPS = 500


@dataclass
class Row:
    name: str
    lamps: int
    fresh: int
    ms_median: float
    ms_max: float
    runs: int


@dataclass
class Report:
    machine: str
    lamps: int
    rows: list[Row] = field(default_factory=list)
    alerts_opened: int = 0
    bar_ms: float = 1000.0


def _latest(fleet: Fleet, rng: np.random.Generator, now: float) -> Latest:
    n = len(fleet)
    dim = np.full(n, 100.0)
    p = expected_power(fleet, dim) * rng.normal(1.0, 0.01, n)
    failed = rng.random(n) < 0.01
    p[failed] = 0.6
    ts = now - rng.uniform(0, 290, n)
    # One cabinet dead for the last 20 minutes, one gateway's lamps silent (the gateway too).
    dead = fleet.cabinet == 0
    ts[dead] = now - 1200 - rng.uniform(0, 290, int(dead.sum()))
    return Latest(seq=np.ones(n, dtype=np.int64), ts=ts, p=p, v=rng.normal(224, 2, n), pf=np.full(n, 0.97),
                  e=np.full(n, 1e5), dim=dim, f=np.zeros(n, dtype=np.int64))


def _advance(latest: Latest, rng: np.random.Generator, share: float, step_s: float) -> int:
    """A share of lamps reports again ``step_s`` later; returns how many."""
    n = latest.seq.size
    moving = rng.random(n) < share
    latest.seq[moving] += 1
    latest.ts[moving] += step_s
    latest.e[moving] += latest.p[moving] * step_s / 3600
    return int(moving.sum())


def _timed(fn: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def arrays(lamps: int, runs: int = 5, seed: int = 3) -> list[Row]:
    config = FaultConfig()
    fleet = synthetic(lamps, cabinets=max(1, lamps // CABINET_SIZE), gateways=max(1, lamps // GATEWAY_LAMPS),
                      seed=seed, config=config)
    rng = np.random.default_rng(seed)
    n = len(fleet)
    place = Placement(lat=np.full(n, -4.55), lon=np.full(n, 136.88), zone=["Asia/Jayapura"] * n,
                      config_index=np.full(n, -1, dtype=np.int64), configs=[])
    state = LampState.for_fleet(fleet)
    latest = _latest(fleet, rng, NOW)
    heard = np.full(len(fleet.gateway_ids), NOW - 30)
    heard[0] = NOW - 3600
    previous: list[Verdict | None] = [None]
    clock = [NOW]

    def tick() -> None:
        found = assess(fleet, state, latest, heard, place, config, now=clock[0], previous=previous[0])
        previous[0] = found.verdict

    rows = [Row("assess: every lamp has a new reading", n, n, *_stats(_timed(tick, 1)), 1)]
    times, fresh = [], 0
    for _ in range(runs):
        clock[0] += 60
        fresh = _advance(latest, rng, 0.2, 60)
        times += _timed(tick, 1)
    rows.append(Row("assess: a fifth of the lamps report", n, fresh, *_stats(times), runs))
    return rows


def _stats(times: list[float]) -> tuple[float, float]:
    return round(statistics.median(times), 1), round(max(times), 1)


async def _database_ticks(url: str, lamps: int, runs: int, seed: int) -> tuple[list[Row], int]:
    from server.faults.engine import FaultEngine
    from server.settings import Settings

    config = FaultConfig()
    fleet = synthetic(lamps, cabinets=max(1, lamps // CABINET_SIZE), gateways=max(1, lamps // GATEWAY_LAMPS),
                      seed=seed, config=config)
    rng = np.random.default_rng(seed)
    latest = _latest(fleet, rng, NOW)
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("INSERT INTO sites (id, name, lat, lon) VALUES ('bench', 'Bench', -4.55, 136.88)")
        for d in range(18):
            await conn.execute("INSERT INTO districts (id, site_id, name) VALUES (%s, 'bench', %s)", (f"d{d}", f"d{d}"))
        await conn.execute("INSERT INTO crews (id, site_id, name) VALUES ('bench-crew', 'bench', 'Bench crew')")
        async with conn.cursor() as cur:
            async with cur.copy("COPY cabinets (id, site_id, district_id, name) FROM STDIN") as copy:
                for c in fleet.cabinet_ids:
                    await copy.write_row((c, "bench", f"d{int(c[1:]) % 18}", c))
            async with cur.copy("COPY gateways (id, site_id, name, health_at) FROM STDIN") as copy:
                for i, g in enumerate(fleet.gateway_ids):
                    heard = NOW - (3600 if i == 0 else 30)
                    await copy.write_row((g, "bench", g, dt.datetime.fromtimestamp(heard, dt.UTC)))
            async with cur.copy("COPY lamps (id, site_id, district_id, cabinet_id, gateway_id, lat, lon, rated_w,"
                                " radio, report_interval_s) FROM STDIN") as copy:
                for lamp in fleet.lamps:
                    await copy.write_row((lamp.id, "bench", lamp.district_id, lamp.cabinet_id, lamp.gateway_id,
                                          lamp.lat, lamp.lon, lamp.rated_w, lamp.radio, lamp.report_interval_s))
        keys_cur = await conn.execute("SELECT key FROM lamps WHERE site_id = 'bench' ORDER BY key")
        keys = [r[0] for r in await keys_cur.fetchall()]

        async def write_status(rows: np.ndarray[Any, Any]) -> None:
            await conn.execute(
                "UPDATE lamp_status s SET last_seq = u.seq, last_ts = to_timestamp(u.ts), last_p = u.p, last_v = u.v,"
                " last_pf = u.pf, last_e = u.e, last_dim = u.dim, last_f = 0"
                " FROM unnest(%s::int[], %s::bigint[], %s::float8[], %s::real[], %s::real[], %s::real[],"
                " %s::float8[], %s::smallint[]) AS u(key, seq, ts, p, v, pf, e, dim) WHERE s.lamp_key = u.key",
                ([keys[i] for i in rows.tolist()], latest.seq[rows].tolist(), latest.ts[rows].tolist(),
                 latest.p[rows].tolist(), latest.v[rows].tolist(), latest.pf[rows].tolist(), latest.e[rows].tolist(),
                 latest.dim[rows].astype(int).tolist()))

        await write_status(np.arange(len(fleet)))
        engine = FaultEngine(conn, Settings(environment="test"), config=config, site_ids=["bench"])
        first = await engine.tick(dt.datetime.fromtimestamp(NOW, dt.UTC))
        rows = [Row("engine tick, first (loads the registry)", lamps, first.fresh_readings,
                    round(first.total_ms, 1), round(first.total_ms, 1), 1)]
        totals, assess_ms, fresh = [], [], 0
        opened = first.opened
        for k in range(runs):
            moving_before = latest.seq.copy()
            fresh = _advance(latest, rng, 0.2, 60)
            await write_status(np.nonzero(latest.seq != moving_before)[0])
            report = await engine.tick(dt.datetime.fromtimestamp(NOW + 60 * (k + 1), dt.UTC))
            totals.append(report.total_ms)
            assess_ms.append(report.assess_ms)
            opened += report.opened
        rows.append(Row("engine tick with database, a fifth report", lamps, fresh, *_stats(totals), runs))
        rows.append(Row("  of which assessment", lamps, fresh, *_stats(assess_ms), runs))
        return rows, opened


def run(*, server_url: str | None, lamps: int = 100_000, runs: int = 5, out_dir: Path = Path("reports"),
        progress: Callable[[str], None] = lambda _: None) -> tuple[Report, Path]:
    report = Report(machine=f"{platform.node()} {platform.machine()} python {platform.python_version()}",
                    lamps=lamps)
    progress("assessing arrays")
    report.rows += arrays(lamps, runs)
    if server_url is not None:
        from server.db.migrate import migrate

        name = f"terang_bench_faults_{int(time.time())}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
            migrate(url)
            progress(f"engine ticks on a database of {lamps:,} lamps")
            rows, opened = asyncio.run(_database_ticks(url, lamps, runs, 3))
            report.rows += rows
            report.alerts_opened = opened
        finally:
            with psycopg.connect(server_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-faults-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    return report, path
