"""Lamp detectors: one array expression per fault type over every lamp with a fresh reading.

Each detector says, per lamp, whether its condition holds (``cond``) and whether the reading lets it
judge at all (``known``): a lamp dimmed to 0 by its schedule can not show a lamp failure, so that
reading neither confirms nor clears one. Debouncing over consecutive readings is the engine's job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from firmware.device import codec
from server.faults.fleet import Bools, Fleet, Floats, Ints, expected_power

# Row order of the condition matrices; comm_loss is judged by the clock, not by readings.
READING_TYPES: tuple[str, ...] = (
    "lamp_failure", "day_burner", "cycling", "power_anomaly", "over_voltage", "under_voltage",
    "low_power_factor", "energy_anomaly", "device_fault",
)
ROW = {name: i for i, name in enumerate(READING_TYPES)}

DEVICE_FLAGS = (codec.F_DRIVER_FAILURE | codec.F_RELAY_FAILURE | codec.F_METER_FAULT | codec.F_DRIVER_COMM
                | codec.F_THERMAL_SHUTDOWN)
# The lamp is on its safety policy (no time, no server): the server's schedule does not bind it.
OFF_SCHEDULE_FLAGS = codec.F_NO_TIME | codec.F_FALLBACK | codec.F_PHOTOCELL
# Energy: a counter stuck while the lamp drew this much over consecutive flat readings, or one that
# gains more than twice what the lamp could draw, is not metering what the lamp uses. Gaps longer than
# this many intervals are not judged: the lamp was off the supply (an outage) or its readings are lost.
STUCK_MIN_WH = 5.0
ENERGY_MAX_GAP_INTERVALS = 2.5
JUMP_FACTOR = 2.0
JUMP_SLACK_WH = 5.0
BACKWARDS_WH = 0.5


@dataclass
class Sample:
    """One reading per lamp (``rows`` of the fleet); ``prev_*`` is that lamp's reading before it."""

    rows: Ints
    ts: Floats
    p: Floats
    v: Floats
    pf: Floats
    e: Floats
    dim: Floats
    f: Ints
    prev_ts: Floats  # NaN when the engine has seen no earlier reading
    prev_p: Floats
    prev_e: Floats
    prev_dim: Floats
    # The server's schedule says the lamp is off at ts (and a margin either side of it).
    sched_off: Bools
    # On/off changes of the lamp within its cycling window, this reading's included.
    transitions: Ints
    # Energy the lamp drew while its counter stood still, over this and the flat readings before it.
    flat_wh: Floats


def _flag(f: Ints, bit: int) -> Bools:
    set_: Bools = (f & bit) != 0
    return set_


def on_off(fleet: Fleet, rows: Ints, p: Floats, dim: Floats) -> tuple[Bools, Bools]:
    """(clearly on, clearly off) at level ``dim``: above 60 % of the expected power, below 30 %. In
    between (a half-dark lamp, metering noise) is neither, so it can not make a lamp look cycling."""
    expected = expected_power(fleet, dim, rows)
    lit = dim > 0
    on: Bools = lit & (p > 0.6 * expected)
    off: Bools = lit & (p < 0.3 * expected)
    return on, off


def energy_drawn(s_p: Floats, prev_p: Floats, gap_s: Floats) -> Floats:
    drawn: Floats = 0.5 * (s_p + prev_p) * gap_s / 3600.0
    return drawn


def evaluate(fleet: Fleet, s: Sample) -> tuple[Bools, Bools]:
    """(cond, known), each shaped (len(READING_TYPES), len(s.rows))."""
    rows = s.rows
    th = {k: v[rows] for k, v in fleet.th.items()}
    rated = fleet.rated_w[rows]
    expected = expected_power(fleet, s.dim, rows)
    has_prev = ~np.isnan(s.prev_ts)
    m = rows.size
    cond = np.zeros((len(READING_TYPES), m), dtype=bool)
    known = np.zeros((len(READING_TYPES), m), dtype=bool)

    commanded_on = s.dim >= th["min_on_level"]
    dark = s.p < np.maximum(th["fail_abs_w"], th["fail_fraction"] * expected)
    failed = (commanded_on & dark) | _flag(s.f, codec.F_LAMP_FAILURE)
    cond[ROW["lamp_failure"]] = failed
    known[ROW["lamp_failure"]] = commanded_on | _flag(s.f, codec.F_LAMP_FAILURE)

    bound = (s.f & OFF_SCHEDULE_FLAGS) == 0
    commanded_off = (s.dim == 0) | (s.sched_off & bound)
    burning = s.p > th["standby_w"] + th["burn_fraction"] * rated
    cond[ROW["day_burner"]] = (commanded_off & burning) | _flag(s.f, codec.F_DAY_BURNING)
    known[ROW["day_burner"]] = commanded_off | _flag(s.f, codec.F_DAY_BURNING)

    cond[ROW["cycling"]] = (s.transitions >= th["cycling_transitions"]) | _flag(s.f, codec.F_CYCLING)
    known[ROW["cycling"]] = True

    steady = has_prev & (s.prev_dim == s.dim)
    judged = (s.dim >= th["power_min_level"]) & ~failed & steady
    off_by = np.abs(s.p - expected) / np.maximum(expected, 1e-6)
    cond[ROW["power_anomaly"]] = judged & (off_by > th["power_tolerance"])
    known[ROW["power_anomaly"]] = judged

    measured = np.isfinite(s.v) & (s.v > 0)
    cond[ROW["over_voltage"]] = measured & (s.v > th["over_voltage_v"])
    known[ROW["over_voltage"]] = measured
    cond[ROW["under_voltage"]] = measured & (s.v < th["under_voltage_v"])
    known[ROW["under_voltage"]] = measured

    pf_judged = (s.dim >= th["pf_min_level"]) & ~failed & np.isfinite(s.pf)
    cond[ROW["low_power_factor"]] = pf_judged & (s.pf < th["pf_min"])
    known[ROW["low_power_factor"]] = pf_judged

    gap_s = s.ts - s.prev_ts
    gained = s.e - s.prev_e
    backwards = gained < -BACKWARDS_WH
    short_gap = gap_s <= ENERGY_MAX_GAP_INTERVALS * fleet.interval_s[rows]
    stuck = short_gap & (s.flat_wh > STUCK_MIN_WH)
    ceiling = JUMP_FACTOR * np.maximum(rated, np.maximum(s.p, s.prev_p)) * gap_s / 3600.0 + JUMP_SLACK_WH
    jumped = short_gap & (gained > ceiling)
    energy_judged = has_prev & (gap_s > 0)
    cond[ROW["energy_anomaly"]] = (energy_judged & (backwards | stuck | jumped)) | _flag(s.f, codec.F_ENERGY_RESET)
    known[ROW["energy_anomaly"]] = energy_judged | _flag(s.f, codec.F_ENERGY_RESET)

    cond[ROW["device_fault"]] = (s.f & DEVICE_FLAGS) != 0
    known[ROW["device_fault"]] = True
    return cond, known
