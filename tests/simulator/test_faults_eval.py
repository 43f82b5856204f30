"""The evaluation harness against a real database: with a stand-in engine, and end to end with the real one."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
import psycopg
import pytest
from typer.testing import CliRunner

from simulator import fault_eval
from simulator.scenario import load, parse
from tests.simulator.fault_support import scenario_dict

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
OUTAGE = {"type": "cabinet_outage", "subject": "ft-KNR-C1", "start_h": 2, "duration_h": 2}
GATEWAY = {"type": "gateway_down", "subject": "ft-IWK-G1", "start_h": 1, "duration_h": 2}


class StandInEngine:
    """Looks at what the harness stored as of each tick; raises one cabinet alert 10 minutes into the outage."""

    seen: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, conn: psycopg.AsyncConnection[Any], settings: Any) -> None:
        self.conn = conn
        self.settings = settings
        StandInEngine.seen = []

    async def tick(self, now: dt.datetime) -> None:
        cur = await self.conn.execute(
            "SELECT (SELECT max(last_seen) FROM lamp_status), (SELECT count(*) FROM readings),"
            " (SELECT health_at FROM gateways WHERE id = 'ft-IWK-G1')"
        )
        last_seen, readings, health_at = await cur.fetchone()  # type: ignore[misc]
        self.seen.append({"now": now, "last_seen": last_seen, "readings": readings, "health_at": health_at})
        start = dt.datetime(2025, 7, 1, 14, 10, tzinfo=dt.timezone(dt.timedelta(hours=9)))
        if now == start:
            await self.conn.execute(
                "INSERT INTO alerts (site_id, fault_type, subject_type, subject_id, severity, first_evidence_at,"
                " detected_at) VALUES ('ft', 'cabinet_outage', 'cabinet', 'ft-KNR-C1', 'critical', %s, %s)",
                (now, now),
            )


@pytest.fixture(scope="module")
def stand_in_result(postgres_server_url: str) -> fault_eval.EvalResult:
    scenario = parse(scenario_dict([OUTAGE, GATEWAY], time={
        "start": dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),
        "duration_h": 6, "tick_s": 60, "warmup_h": 1}))
    saved = fault_eval._engine_class
    fault_eval._engine_class = lambda: StandInEngine
    try:
        return fault_eval.run(scenario, postgres_server_url)
    finally:
        fault_eval._engine_class = saved


def test_engine_ticks_on_simulated_time_once_per_tick(stand_in_result: fault_eval.EvalResult) -> None:
    seen = StandInEngine.seen
    assert stand_in_result.ticks == len(seen) == 6 * 60
    assert all((b["now"] - a["now"]).total_seconds() == 60 for a, b in itertools.pairwise(seen))
    assert seen[-1]["now"].timestamp() == stand_in_result.scenario.end_ts


def test_readings_are_stored_with_simulated_receive_time(stand_in_result: fault_eval.EvalResult) -> None:
    assert all(s["last_seen"] == s["now"] for s in StandInEngine.seen)
    assert stand_in_result.stored == stand_in_result.readings == StandInEngine.seen[-1]["readings"]


def test_gateway_health_stops_while_it_is_down(stand_in_result: fault_eval.EvalResult) -> None:
    start = stand_in_result.scenario.start_ts
    for s in StandInEngine.seen:
        now = s["now"].timestamp()
        if start + 3600 <= now < start + 3 * 3600:
            assert s["health_at"].timestamp() == start + 3600 - 60
        else:
            assert s["health_at"] == s["now"]


def test_alerts_the_engine_writes_are_scored(stand_in_result: fault_eval.EvalResult) -> None:
    types = stand_in_result.score.types
    assert types["cabinet_outage"].recall == 1.0 and types["cabinet_outage"].ttd_s == [600.0]
    assert types["gateway_down"].recall == 0.0
    assert not stand_in_result.bar.passed


def test_the_run_database_is_dropped_afterwards(stand_in_result: fault_eval.EvalResult,
                                                postgres_server_url: str) -> None:
    with psycopg.connect(postgres_server_url) as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'terang_eval_injection_%'").fetchall()
    assert left == []


ENGINE = importlib.util.find_spec("server.faults.engine") is not None


@pytest.mark.skipif(not ENGINE, reason="the fault engine (server/faults/engine.py) is not in this tree yet")
def test_smoke_scenario_meets_the_bar_end_to_end(postgres_server_url: str, tmp_path: Path) -> None:
    from server.cli import app

    t0 = time.monotonic()
    result = CliRunner().invoke(app, ["eval", "faults", "--scenario", str(SCENARIOS / "smoke.toml"), "--json",
                                      "--report-dir", str(tmp_path), "--database-url", postgres_server_url])
    took = time.monotonic() - t0
    assert result.exit_code == 0, result.output
    report = orjson.loads((tmp_path / "fault-eval-smoke.json").read_bytes())
    scenario = load(SCENARIOS / "smoke.toml")
    for name, t in report["types"].items():
        if t["incidents"]:
            assert t["recall"] >= scenario.bar.recall, (name, t)
        if t["precision"] is not None:
            assert t["precision"] >= scenario.bar.precision, (name, t)
    assert report["bar"]["passed"], report["bar"]["misses"]
    assert (tmp_path / "fault-eval-smoke-truth.json").exists()
    assert took < 30
