"""Each injected fault looks on the readings like the physical fault would on the wire."""

from __future__ import annotations

import numpy as np
import pytest

from firmware.device import codec
from tests.simulator.fault_support import START, Run, run, scenario_dict, topology, wifi_lamps_of

W = wifi_lamps_of("ft-WAN-C1")
# Start hours after 12:00 WIT: 8 is 20:00 (lit at 100 %), 20 is 08:00 next morning; dimmed 23:00-04:00.
INCIDENTS = [
    {"type": "lamp_failure", "subject": W[0], "start_h": 8, "duration_h": 6},
    {"type": "day_burner", "subject": W[1], "start_h": 20, "duration_h": 4},
    {"type": "cycling", "subject": W[2], "start_h": 8, "duration_h": 3},
    {"type": "power_anomaly", "subject": W[3], "start_h": 8, "duration_h": 6, "params": {"factor": 0.5}},
    {"type": "over_voltage", "subject": "ft-KKN-C1", "start_h": 2, "duration_h": 3, "params": {"v": 260.0}},
    {"type": "under_voltage", "subject": W[4], "start_h": 2, "duration_h": 3, "params": {"v": 180.0}},
    {"type": "low_power_factor", "subject": W[5], "start_h": 8, "duration_h": 6, "params": {"pf": 0.6}},
    {"type": "energy_anomaly", "subject": W[6], "start_h": 9, "params": {"kind": "reset", "to_wh": 2.0}},
    {"type": "energy_anomaly", "subject": W[7], "start_h": 9, "duration_h": 3, "params": {"kind": "stuck"}},
    {"type": "energy_anomaly", "subject": W[8], "start_h": 9, "params": {"kind": "jump", "jump_wh": 10_000.0}},
    {"type": "device_fault", "subject": W[9], "start_h": 8, "duration_h": 8, "params": {"variant": "driver"}},
    {"type": "device_fault", "subject": W[10], "start_h": 8, "duration_h": 4, "params": {"variant": "relay"}},
    {"type": "cabinet_outage", "subject": "ft-KNR-C1", "start_h": 8, "duration_h": 3},
    {"type": "comm_loss", "subject": W[11], "start_h": 3, "duration_h": 4},
    {"type": "gateway_down", "subject": "ft-IWK-G1", "start_h": 3, "duration_h": 4},
]


@pytest.fixture(scope="module")
def sim() -> Run:
    noise = {"late_lora": 3, "wifi_gaps": 5, "voltage_dips": 1}
    return run(scenario_dict(INCIDENTS, noise=noise, schedule={"part_night_cabinets": 1}))


def rated(lamp_id: str) -> float:
    topo = topology()
    return float(topo.lamps.rated_w[topo.lamp_index[lamp_id]])


def test_failed_lamp_reports_its_dim_level_with_standby_power(sim: Run) -> None:
    b = sim.lamp(W[0])
    during = sim.hours(b, 8, 14)
    assert np.all(b.dim[during] > 0)
    assert np.all((b.p[during] >= 0.5) & (b.p[during] <= 1.0))
    before = sim.hours(b, 7, 8) & (b.dim > 0)
    assert np.all(b.p[before] > 0.5 * rated(W[0]))


def test_day_burner_reports_dim_zero_at_rated_power(sim: Run) -> None:
    b = sim.lamp(W[1])
    during = sim.hours(b, 20, 24)
    assert np.all(b.dim[during] == 0)
    assert np.all(np.abs(b.p[during] / rated(W[1]) - 1) < 0.1)
    assert np.all(b.p[sim.hours(b, 25, 29)] < 1.0)  # repaired: standby by day again


def test_cycling_lamp_alternates_between_on_and_standby_at_a_steady_level(sim: Run) -> None:
    b = sim.lamp(W[2])
    during = sim.hours(b, 8, 11)
    assert len(set(b.dim[during].tolist())) == 1
    on = b.p[during] > 0.5 * rated(W[2])
    assert np.all(on[1:] != on[:-1])


def test_power_anomaly_scales_what_the_lamp_draws_while_lit(sim: Run) -> None:
    b = sim.lamp(W[3])
    model = sim.prepared.fleet.model
    k = sim.prepared.topology.lamp_index[W[3]]
    during = sim.hours(b, 8, 14)
    expected = model.power(np.full(int(during.sum()), k), b.dim[during])
    ratio = (b.p[during] - model.standby_w[k]) / (expected - model.standby_w[k])
    assert np.allclose(ratio, 0.5, atol=0.02)


def test_over_voltage_holds_the_whole_feeder_above_253_volts_and_raises_its_flag(sim: Run) -> None:
    topo = sim.prepared.topology
    c = next(k for k, cab in enumerate(topo.cabinets) if cab.id == "ft-KKN-C1")
    lamps = np.flatnonzero(topo.lamps.cabinet == c)
    rows = np.isin(sim.taken.lamps, lamps) & sim.hours(sim.taken, 2, 5)
    assert np.all(sim.taken.v[rows] > 253)
    assert np.all(sim.taken.f[rows] & codec.F_OVER_VOLTAGE)
    after = np.isin(sim.taken.lamps, lamps) & sim.hours(sim.taken, 5, 7)
    assert np.all(sim.taken.v[after] < 240)


def test_under_voltage_of_one_pole_leaves_its_neighbours_alone(sim: Run) -> None:
    b = sim.lamp(W[4])
    assert np.all(b.v[sim.hours(b, 2, 5)] < 190)
    assert np.all(b.f[sim.hours(b, 2, 5)] & codec.F_UNDER_VOLTAGE)
    neighbour = sim.lamp(W[12])
    assert np.all(neighbour.v[sim.hours(neighbour, 2, 5)] > 200)


def test_low_power_factor_stays_well_below_0_8_at_full_level(sim: Run) -> None:
    b = sim.lamp(W[5])
    lit = sim.hours(b, 8, 14) & (b.dim >= 60)
    assert lit.sum() > 10
    assert np.all(b.pf[lit] < 0.7)
    assert np.all(b.pf[sim.hours(b, 7, 8) & (b.dim == 100)] > 0.9)


def test_meter_reset_starts_the_counter_near_zero_and_counts_on(sim: Run) -> None:
    b = sim.lamp(W[6])
    after = np.flatnonzero(b.ts >= START.timestamp() + 9 * 3600)
    assert b.e[after[0] - 1] > 1_000
    assert b.e[after[0]] < 20
    assert np.all(np.diff(b.e[after]) >= 0) and b.e[after[-1]] > b.e[after[0]] + 100


def test_stuck_meter_stops_counting_while_power_flows(sim: Run) -> None:
    b = sim.lamp(W[7])
    during = sim.hours(b, 9, 12)
    assert np.all(b.p[during] > 10)
    assert len(set(b.e[during].tolist())) == 1
    later = sim.hours(b, 12.2, 14)
    assert np.all(b.e[later] > b.e[during][0])
    assert b.e[later][0] - b.e[during][0] < 100  # counts on from where it stopped: nothing made up


def test_meter_jump_adds_kilowatt_hours_in_one_reading(sim: Run) -> None:
    b = sim.lamp(W[8])
    k = np.flatnonzero(b.ts >= START.timestamp() + 9 * 3600)[0]
    assert 10_000 < b.e[k] - b.e[k - 1] < 10_100


def test_failed_driver_is_flagged_and_ignores_dimming(sim: Run) -> None:
    b = sim.lamp(W[9])
    during = sim.hours(b, 8, 16)
    assert np.all(b.f[during] & codec.F_DRIVER_FAILURE)
    dimmed = during & (b.dim == 50)
    assert dimmed.sum() > 10
    assert np.all(np.abs(b.p[dimmed] / rated(W[9]) - 1) < 0.1)


def test_relay_stuck_open_is_flagged_and_nothing_flows(sim: Run) -> None:
    b = sim.lamp(W[10])
    during = sim.hours(b, 8, 12)
    assert np.all(b.f[during] & codec.F_RELAY_FAILURE)
    assert np.all((b.p[during] == 0) & (b.i[during] == 0) & (b.dim[during] > 0))


def test_cabinet_outage_silences_every_lamp_and_stops_their_counters(sim: Run) -> None:
    topo = sim.prepared.topology
    c = next(k for k, cab in enumerate(topo.cabinets) if cab.id == "ft-KNR-C1")
    lamps = np.flatnonzero(topo.lamps.cabinet == c)
    assert not np.any(np.isin(sim.taken.lamps, lamps) & sim.hours(sim.taken, 8, 11))
    for lamp in lamps.tolist():
        b = sim.lamp(topo.lamps.ids[lamp])
        last = np.flatnonzero(b.ts < START.timestamp() + 8 * 3600)[-1]
        # Back at 23:00 (dimmed to 50 %): a few minutes of power on top of where it stopped, not three hours.
        assert 0 <= b.e[last + 1] - b.e[last] < 0.6 * rated(topo.lamps.ids[lamp]) * 10 / 60
        assert np.all(np.diff(b.seq) == 1)


def test_comm_loss_holds_readings_until_it_ends_and_loses_none(sim: Run) -> None:
    ts, at = sim.arrivals(W[11])
    end = START.timestamp() + 7 * 3600
    inside = (ts >= START.timestamp() + 3 * 3600) & (ts < end)
    assert inside.sum() == 4 * 12
    assert np.all(at[inside] == end)
    assert np.all(at[~inside] - ts[~inside] < 60)


def test_gateway_down_stops_its_health_and_bursts_its_lamps_readings_when_back(sim: Run) -> None:
    topo = sim.prepared.topology
    g = next(k for k, gw in enumerate(topo.gateways) if gw.id == "ft-IWK-G1")
    down = [t for t in sim.health[g] if START.timestamp() + 3 * 3600 <= t < START.timestamp() + 7 * 3600]
    assert down == []
    assert len(sim.health[g]) == 30 * 60 - 4 * 60
    lamps = np.flatnonzero((topo.lamps.gateway == g) & (topo.lamps.radio == 1))
    end = START.timestamp() + 7 * 3600
    for lamp in lamps.tolist():
        ts, at = sim.arrivals(topo.lamps.ids[lamp])
        inside = (ts >= START.timestamp() + 3 * 3600) & (ts < end)
        assert inside.sum() == 4 and np.all(at[inside] == end)


def test_late_lora_reports_arrive_within_an_interval_and_in_order(sim: Run) -> None:
    events = [e for e in sim.prepared.plan.noise if e.kind == "late_lora"]
    assert len(events) == 3
    for e in events:
        ts, at = sim.arrivals(e.subject_id)
        inside = (ts >= e.start) & (ts < e.end)
        assert np.all(at[inside] - ts[inside] <= e.params["max_delay_s"] + 60)
        assert np.any(at[inside] - ts[inside] > 600)
        assert np.all(np.diff(at) >= 0)


def test_wifi_gap_delivers_the_missed_report_with_the_next_one(sim: Run) -> None:
    events = [e for e in sim.prepared.plan.noise if e.kind == "wifi_gap"]
    assert len(events) == 5
    for e in events:
        ts, at = sim.arrivals(e.subject_id)
        k = np.flatnonzero((ts >= e.start) & (ts < e.end))
        assert k.size == 1
        assert at[k[0]] == at[k[0] + 1]


def test_part_night_feeder_reports_dim_zero_and_standby_in_the_small_hours(sim: Run) -> None:
    part = np.flatnonzero(sim.prepared.plan.part_night)
    assert part.size
    rows = np.isin(sim.taken.lamps, part) & sim.hours(sim.taken, 13, 16)  # 01:00-04:00
    assert rows.sum() and np.all(sim.taken.dim[rows] == 0) and np.all(sim.taken.p[rows] < 1.0)


def test_voltage_dip_stays_inside_the_normal_band(sim: Run) -> None:
    (dip,) = [e for e in sim.prepared.plan.noise if e.kind == "voltage_dip"]
    rows = np.isin(sim.taken.lamps, dip.lamps) & (sim.taken.ts >= dip.start) & (sim.taken.ts < dip.end)
    assert rows.sum() and np.all((sim.taken.v[rows] > 200) & (sim.taken.v[rows] < 245))
