"""Faults injected into a live run: placed once simulated time has caught up with the clock, shown
on the wire as in the evaluation, with their ground truth written beside the run."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from firmware.device import codec
from simulator import live_faults
from simulator.incidents import truth_incidents
from simulator.runner import Progress, RunSummary, SimulationConfig, run
from simulator.schedule import AllNightFullOn
from simulator.topology import generate
from tests.simulator.fake_ingest import FakeIngest

WIT = dt.timezone(dt.timedelta(hours=9))
NOON = dt.datetime(2025, 7, 1, 12, 0, tzinfo=WIT).timestamp()
INTERVAL_S = 10
COMM_LOSS_S = 12.0
RUN_AFTER_PLACED_S = 16.0
# Whichever of the lamp faults shows at this time of day starts at once, the other waits hours.
LIVE_MIX = (("cabinet_outage", None), ("under_voltage", None), ("comm_loss", COMM_LOSS_S),
            ("lamp_failure", None), ("day_burner", None))


@dataclass
class LiveRun:
    summary: RunSummary
    ingest: FakeIngest
    during: dict[str, Any]  # what had arrived while the comm loss lasted
    truth: Path


def choose_at(t0: float, count: int = 6) -> tuple[Any, list[dict[str, Any]]]:
    topo = generate(300, 5, "lf")
    schedule = AllNightFullOn(topo.lamps.lon, topo.site.lat, topo.site.lon)
    return topo, live_faults.choose(topo, schedule, count, t0, np.random.default_rng(1))


def test_lamp_failure_placed_by_day_waits_for_dusk_and_a_day_burner_starts_at_once() -> None:
    _topo, chosen = choose_at(NOON)
    by_type = {c["type"]: c for c in chosen}
    assert by_type["day_burner"]["start_h"] < 0.5
    assert 5.5 < by_type["lamp_failure"]["start_h"] < 7.5  # dusk in Timika is about 18:00
    assert by_type["cabinet_outage"]["start_h"] < 0.5


def test_no_lamp_meets_two_injected_faults() -> None:
    topo, chosen = choose_at(NOON, count=12)
    lamps: list[int] = []
    for c in chosen:
        cabinet = next((k for k, cab in enumerate(topo.cabinets) if cab.id == c["subject"]), None)
        if cabinet is None:
            lamps.append(topo.lamp_index[c["subject"]])
        else:
            lamps.extend(np.flatnonzero(topo.lamps.cabinet == cabinet).tolist())
    assert len(lamps) == len(set(lamps))


def test_ground_truth_goes_beside_the_state_file(tmp_path: Path) -> None:
    config = SimulationConfig(mqtt_url="mqtt://x", faults=3, state_path=tmp_path / "sim" / "state.json")
    assert config.truth_path() == tmp_path / "sim" / "faults-truth.json"


def test_faults_need_a_run_that_reaches_the_clock() -> None:
    with pytest.raises(ValueError, match="caught up"):
        SimulationConfig(mqtt_url="mqtt://x", faults=3, speed=60.0, duration_s=3600.0)


@pytest.fixture(scope="module")
def live_run(mqtt_url: str, run_tag: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """One live run with LIVE_MIX injected at once, stopped RUN_AFTER_PLACED_S after they started."""
    site = f"lf{run_tag}"
    ingest = FakeIngest(mqtt_url, site, f"fake-ingest-{site}")
    truth = tmp_path_factory.mktemp("live") / "truth.json"
    stop = threading.Event()
    during: dict[str, Any] = {}

    def watch(p: Progress) -> None:
        if not truth.exists():
            return
        placed = truth_incidents(orjson.loads(truth.read_bytes()))
        t0 = placed[0].start.timestamp()
        comm = next(i for i in placed if i.type == "comm_loss")
        if "comm_loss" not in during and p.sim_now >= t0 + COMM_LOSS_S - 1:
            during["comm_loss"] = [r for r in ingest.readings.get(comm.subject_id, []) if r[1] >= t0]
        if p.sim_now >= t0 + RUN_AFTER_PLACED_S:
            stop.set()

    safety = threading.Timer(60.0, stop.set)
    config = SimulationConfig(mqtt_url=mqtt_url, site_id=site, lamps=80, interval_s=INTERVAL_S, speed=600.0,
                              backfill_s=60.0, drain_s=10.0, faults=len(LIVE_MIX), faults_truth_path=truth)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(live_faults, "MIX", LIVE_MIX)
        mp.setattr(live_faults, "FIRST_AFTER_S", 0.0)
        mp.setattr(live_faults, "STAGGER_S", 0.0)
        safety.start()
        try:
            summary = run(config, stop=stop, on_progress=watch)
        finally:
            safety.cancel()
    try:
        yield LiveRun(summary, ingest, during, truth)
    finally:
        ingest.close()


def test_live_run_with_faults_writes_its_ground_truth(live_run: LiveRun) -> None:
    doc = orjson.loads(live_run.truth.read_bytes())
    assert doc["site"] == live_run.summary.topology.site.id
    assert [i["type"] for i in doc["incidents"]] == [t for t, _ in LIVE_MIX]
    assert live_run.summary.faults is not None and live_run.summary.faults_truth == live_run.truth


def test_live_run_readings_show_the_injected_faults(live_run: LiveRun) -> None:
    ingest, topo = live_run.ingest, live_run.summary.topology
    incidents = {i.type: i for i in truth_incidents(orjson.loads(live_run.truth.read_bytes()))}
    t0 = incidents["cabinet_outage"].start.timestamp()

    def after(lamp_id: str, since: float) -> list[tuple[Any, ...]]:
        return [r for r in ingest.readings.get(lamp_id, []) if r[1] >= since]

    # A dead feeder: its controllers report nothing.
    outage = incidents["cabinet_outage"]
    assert outage.covers and all(not after(lamp, t0) for lamp in outage.covers)
    # An under-voltage feeder: every lamp measures it and raises its flag.
    low = [r for lamp in incidents["under_voltage"].covers for r in after(lamp, t0)]
    assert low and all(r[3] < 190 and r[9] & codec.F_UNDER_VOLTAGE for r in low)
    # A comm loss holds the lamp's readings while it lasts and loses none.
    comm = incidents["comm_loss"].subject_id
    assert live_run.during["comm_loss"] == []
    seqs = sorted(r[0] for r in ingest.readings[comm])
    assert after(comm, t0) and seqs == list(range(seqs[0], seqs[-1] + 1))
    # The lamp fault that shows at this time of day: a dead LED string, or a lamp burning by day.
    shown = [i for i in (incidents["lamp_failure"], incidents["day_burner"]) if i.start.timestamp() <= t0 + 1]
    assert shown
    for incident in shown:
        rated = float(topo.lamps.rated_w[topo.lamp_index[incident.subject_id]])
        readings = after(incident.subject_id, incident.start.timestamp())
        assert readings
        if incident.type == "lamp_failure":
            assert all(r[7] > 0 and r[2] <= 1.0 for r in readings)
        else:
            assert all(r[7] == 0 and r[2] > 0.5 * rated for r in readings)
