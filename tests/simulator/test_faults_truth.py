"""The ground truth: what the plan injects is what the file says, and placement keeps incidents apart."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import numpy as np
import orjson
import pytest

from simulator.fault_eval import Prepared, prepare
from simulator.incidents import LAMP_MARGIN_S, SAME_SUBJECT_GAP_S, truth_incidents
from simulator.scenario import load
from simulator.schedule import local_hour
from tests.simulator.fault_support import START, run, scenario_dict, wifi_lamps_of

SMOKE = Path(__file__).resolve().parents[1] / "scenarios" / "smoke.toml"


@pytest.fixture(scope="module")
def smoke() -> Prepared:
    return prepare(load(SMOKE))


def test_ground_truth_has_one_record_per_incident_with_its_window(smoke: Prepared) -> None:
    doc = orjson.loads(orjson.dumps(smoke.truth))
    assert len(doc["incidents"]) == len(smoke.plan.incidents) == 24
    for rec, inc in zip(doc["incidents"], smoke.plan.incidents, strict=True):
        assert (rec["type"], rec["subject_type"], rec["subject_id"]) == (inc.type, inc.subject_type, inc.subject_id)
        assert dt.datetime.fromisoformat(rec["start"]).timestamp() == pytest.approx(inc.start)
        assert inc.end is not None and dt.datetime.fromisoformat(rec["end"]).timestamp() == pytest.approx(inc.end)
        assert rec["params"] == inc.params


def test_ground_truth_lists_the_lamps_a_cabinet_or_gateway_incident_covers(smoke: Prepared) -> None:
    ids = smoke.topology.lamps.ids
    for rec, inc in zip(smoke.truth["incidents"], smoke.plan.incidents, strict=True):
        if inc.subject_type == "lamp":
            assert "covers" not in rec
        else:
            assert rec["covers"] == [ids[k] for k in inc.lamps.tolist()] and rec["covers"]


def test_ground_truth_lists_noise_separately(smoke: Prepared) -> None:
    kinds = {n["kind"] for n in smoke.truth["noise"]}
    assert kinds == {"late_lora", "wifi_gap", "voltage_dip"}
    assert all(n["kind"] not in {i["type"] for i in smoke.truth["incidents"]} for n in smoke.truth["noise"])


def test_ground_truth_reads_back_as_the_scorer_sees_it(smoke: Prepared) -> None:
    back = truth_incidents(orjson.loads(orjson.dumps(smoke.truth)))
    relay = [i for i in back if i.params.get("variant") == "relay"]
    outage = next(i for i in back if i.type == "cabinet_outage")
    assert all(i.also == ("lamp_failure",) for i in relay)
    injected = next(i for i in smoke.plan.incidents if i.id == outage.id)
    assert outage.also == ("lamp_failure", "comm_loss") and len(outage.covers) == injected.lamps.size


def test_the_same_scenario_gives_the_same_plan() -> None:
    assert prepare(load(SMOKE)).truth == prepare(load(SMOKE)).truth


def test_no_lamp_has_two_incidents_close_in_time() -> None:
    p = prepare(load(SMOKE.parent / "mixed.toml"))
    spans: dict[int, list[tuple[float, float]]] = {}
    for i in p.plan.incidents:
        for lamp in i.lamps.tolist():
            spans.setdefault(lamp, []).append((i.start, i.end or p.scenario.end_ts))
    for s in spans.values():
        s.sort()
        assert all(b[0] - a[1] >= LAMP_MARGIN_S for a, b in itertools.pairwise(s))


def test_a_lamp_meets_a_fault_type_again_only_after_the_flap_window() -> None:
    p = prepare(load(SMOKE.parent / "mixed.toml"))
    spans: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for i in p.plan.incidents:
        for kind in (i.type, *i.also):
            for lamp in i.lamps.tolist():
                spans.setdefault((kind, lamp), []).append((i.start, i.end or p.scenario.end_ts))
    for s in spans.values():
        s.sort()
        assert all(b[0] - a[1] >= SAME_SUBJECT_GAP_S for a, b in itertools.pairwise(s))


def test_night_faults_start_in_the_evening_and_day_burners_by_day(smoke: Prepared) -> None:
    for i in smoke.plan.incidents:
        hour = float(local_hour(np.array([i.start]))[0])
        if i.type in ("lamp_failure", "power_anomaly", "low_power_factor", "cycling"):
            assert 18.5 <= hour < 20.5
        if i.type == "day_burner":
            assert 8 <= hour < 14


def test_truth_window_is_when_the_readings_show_the_fault() -> None:
    lamp = wifi_lamps_of("ft-WAN-C1")[0]
    sim = run(scenario_dict([{"type": "lamp_failure", "subject": lamp, "start_h": 8, "duration_h": 2}]))
    (rec,) = sim.prepared.truth["incidents"]
    start, end = (dt.datetime.fromisoformat(rec[k]).timestamp() for k in ("start", "end"))
    assert start == START.timestamp() + 8 * 3600
    b = sim.lamp(lamp)
    lit = b.dim > 0
    failed = b.p < 1.0
    assert np.array_equal(failed[lit], ((b.ts >= start) & (b.ts < end))[lit])
    assert b.ts[failed & lit].min() - start < 300 and end - b.ts[failed & lit].max() <= 300
