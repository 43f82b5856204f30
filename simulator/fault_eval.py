"""Fault evaluation: a scenario's fleet with injected faults and noise, stored as ingestion stores it,
the fault engine ticking on simulated time, and its alerts scored against the ground truth.

Simulated time runs as fast as the machine allows. Each tick: incidents that have started take
effect, every lamp due reports (unless its feeder is dead), readings reach the server on time, late or
in a burst (simulator/delivery.py), gateways that are up report their health, and the engine runs one
pass at the tick's simulated time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import psycopg

from simulator.delivery import Delivery
from simulator.eval_store import SimWriter, fresh_database, register, storage_mode
from simulator.fault_score import AlertRow, BarResult, Score, check_bar, score
from simulator.faults import FaultInjector
from simulator.fleet import Block, Fleet
from simulator.incidents import Plan, plan, truth_incidents, truth_json
from simulator.night_schedule import NightSchedule
from simulator.scenario import Scenario
from simulator.schedule import AllNightFullOn
from simulator.topology import RADIOS, Topology, generate


class EvalError(RuntimeError):
    pass


@dataclass(frozen=True)
class EvalProgress:
    sim_start: float
    sim_now: float
    sim_end: float
    readings: int
    wall_s: float


@dataclass
class Prepared:
    """Everything a run needs before it touches a database."""

    scenario: Scenario
    topology: Topology
    plan: Plan
    truth: dict[str, Any]
    fleet: Fleet
    injector: FaultInjector
    delivery: Delivery
    intervals: npt.NDArray[np.int64]


@dataclass
class EvalResult:
    scenario: Scenario
    prepared: Prepared
    alerts: list[AlertRow]
    score: Score
    bar: BarResult
    readings: int
    stored: int
    ticks: int
    wall_s: float
    engine_s: float  # in FaultEngine.tick
    store_s: float  # in the ingestion Writer


def prepare(scenario: Scenario) -> Prepared:
    topo = generate(scenario.fleet.lamps, scenario.seed, scenario.fleet.site)
    the_plan = plan(topo, scenario)
    sched = scenario.schedule
    base = AllNightFullOn(topo.lamps.lon, topo.site.lat, topo.site.lon)
    schedule = NightSchedule(base, dim_level=sched.dim_level, dim_from=sched.dim_from, dim_to=sched.dim_to,
                             part_night=the_plan.part_night, off_from=sched.part_night_from,
                             off_to=sched.part_night_to)
    fleet = Fleet(topo, seed=scenario.seed, start_ts=scenario.start_ts, schedule=schedule)
    per_radio = scenario.fleet.intervals_s
    intervals = np.array([per_radio[RADIOS[int(r)]] for r in topo.lamps.radio], dtype=np.int64)
    return Prepared(
        scenario=scenario, topology=topo, plan=the_plan, truth=truth_json(the_plan, topo, scenario), fleet=fleet,
        injector=FaultInjector(fleet, the_plan, scenario.seed),
        delivery=Delivery(topo, the_plan, intervals, scenario.seed), intervals=intervals,
    )


def _engine_class() -> Any:
    try:
        module = importlib.import_module("server.faults.engine")
    except ImportError as exc:
        raise EvalError(f"the fault engine is not available (server/faults/engine.py): {exc}") from exc
    return module.FaultEngine


@dataclass(frozen=True)
class Tick:
    now: float
    taken: Block  # readings the lamps took this tick (faults applied)
    arrived: Block  # readings that reach the server this tick (some taken earlier)
    gateways_up: npt.NDArray[np.bool_]


def ticks(p: Prepared) -> Iterator[Tick]:
    """The run tick by tick, without a database: what the lamps report and what reaches the server."""
    scenario = p.scenario
    start, end, step = scenario.start_ts, scenario.end_ts, float(scenario.time.tick_s)
    # Each lamp reports at its own phase within its interval, so the fleet does not report in lockstep.
    phase = np.random.default_rng([scenario.seed, 0x9A5E]).uniform(0.0, 1.0, len(p.topology.lamps))
    next_due = start + phase * p.intervals
    now = start
    while now < end:
        now = min(now + step, end)
        p.injector.advance(now)
        p.delivery.advance(now)
        due = np.flatnonzero(next_due <= now)
        ts = np.floor(next_due[due]).astype(np.int64)
        on = p.injector.powered(due, ts.astype(np.float64))
        dark = due[~on]
        # An unpowered controller reports nothing; back on supply it boots and, like the firmware,
        # takes its first reading one interval later.
        next_due[dark] = p.injector.restored_at(dark) + p.intervals[dark]
        due, ts = due[on], ts[on]
        next_due[due] += p.intervals[due]
        taken = p.injector.sample(due, ts)
        yield Tick(now, taken, p.delivery.route(taken, now), p.delivery.gateways_up(now))


async def simulate(
    p: Prepared, database_url: str, settings: Any, on_progress: Callable[[EvalProgress], None] | None = None
) -> EvalResult:
    """Runs the prepared scenario against the (fresh, migrated) database at ``database_url``."""
    engine_class = _engine_class()
    scenario, topo = p.scenario, p.topology
    start, end = scenario.start_ts, scenario.end_ts
    at = dt.datetime.fromtimestamp(start, dt.UTC)
    wall0 = time.monotonic()
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as store_conn, \
            await psycopg.AsyncConnection.connect(database_url, autocommit=True) as engine_conn:
        keys = await register(store_conn, topo, {str(k): v for k, v in scenario.fleet.intervals_s.items()}, at)
        writer = SimWriter(store_conn, topo, keys, await storage_mode(store_conn), start)
        engine = engine_class(engine_conn, settings)
        readings = n_ticks = 0
        engine_s = store_s = 0.0
        for t in ticks(p):
            readings += len(t.taken)
            t0 = time.monotonic()
            await writer.write(t.arrived, t.gateways_up, t.now)
            store_s += time.monotonic() - t0
            t0 = time.monotonic()
            await engine.tick(dt.datetime.fromtimestamp(t.now, dt.UTC))
            engine_s += time.monotonic() - t0
            n_ticks += 1
            if on_progress is not None:
                on_progress(EvalProgress(start, t.now, end, readings, time.monotonic() - wall0))
        alerts = await read_alerts(engine_conn, topo.site.id)
    run_end = dt.datetime.fromtimestamp(end, dt.UTC)
    s = score(truth_incidents(p.truth), alerts, run_end=run_end, grace_s=scenario.scoring.grace_h * 3600.0)
    bar = check_bar(s, precision=scenario.bar.precision, recall=scenario.bar.recall,
                    alerts_per_incident={str(k): v for k, v in scenario.bar.alerts_per_incident.items()})
    return EvalResult(scenario, p, alerts, s, bar, readings, writer.stored, n_ticks, time.monotonic() - wall0,
                      engine_s, store_s)


async def read_alerts(conn: psycopg.AsyncConnection[Any], site_id: str) -> list[AlertRow]:
    cur = await conn.execute(
        "SELECT id, fault_type, subject_type, subject_id, detected_at, suppressed_by FROM alerts"
        " WHERE site_id = %s ORDER BY id", (site_id,),
    )
    return [AlertRow(int(i), ft, st, sid, at, sup) for i, ft, st, sid, at, sup in await cur.fetchall()]


def engine_settings(database_url: str, site_id: str, faults_config: Path | None) -> Any:
    from server.settings import Settings

    return Settings(environment="test", database_url=database_url, ingest_sites=[site_id],
                    faults_config_file=faults_config)


def run(
    scenario: Scenario,
    server_url: str,
    *,
    faults_config: Path | None = None,
    keep_database: bool = False,
    truth_path: Path | None = None,
    on_progress: Callable[[EvalProgress], None] | None = None,
) -> EvalResult:
    """Prepares the scenario, writes its ground truth, runs it in a fresh database on ``server_url``."""
    _engine_class()  # fail before building anything
    p = prepare(scenario)
    if truth_path is not None:
        truth_path.parent.mkdir(parents=True, exist_ok=True)
        truth_path.write_bytes(orjson.dumps(p.truth, option=orjson.OPT_INDENT_2))
    with fresh_database(server_url, scenario.name, keep=keep_database) as url:
        settings = engine_settings(url, scenario.fleet.site, faults_config)
        return asyncio.run(simulate(p, url, settings, on_progress))
