from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest

from simulator.electrical import ElectricalModel
from simulator.topology import generate

WIT = dt.timezone(dt.timedelta(hours=9))
NIGHT = dt.datetime(2025, 3, 1, 22, 0, tzinfo=WIT).timestamp()


@pytest.fixture
def model():
    topo = generate(400, seed=5)
    return ElectricalModel(topo, seed=5, start_ts=NIGHT)


def all_lamps(model: ElectricalModel, level: int) -> tuple[np.ndarray, np.ndarray]:
    n = model.p_full.size
    return np.arange(n), np.full(n, level, dtype=np.int64)


def test_power_rises_with_dim_level(model) -> None:
    lamps = np.arange(model.p_full.size)
    levels = [model.power(lamps, np.full(lamps.size, d, dtype=np.int64)) for d in (0, 10, 30, 60, 100)]
    for lower, higher in itertools.pairwise(levels):
        assert np.all(higher > lower)


def test_full_power_is_the_rating_plus_controller_standby(model) -> None:
    lamps, dim = all_lamps(model, 100)
    np.testing.assert_allclose(model.power(lamps, dim), model.p_full + model.standby_w)
    assert np.all(np.abs(model.p_full / generate(400, seed=5).lamps.rated_w - 1) <= 0.06 + 1e-9)


def test_dimmed_lamp_costs_more_than_its_share_of_light(model) -> None:
    lamps, dim = all_lamps(model, 10)
    share = (model.power(lamps, dim) - model.standby_w) / model.p_full
    assert np.all((share > 0.12) & (share < 0.20))


def test_lamp_switched_off_draws_only_standby(model) -> None:
    lamps, dim = all_lamps(model, 0)
    p = model.power(lamps, dim)
    assert np.all((p >= 0.4) & (p <= 0.9))


def test_power_factor_falls_at_low_dim_levels(model) -> None:
    lamps, full = all_lamps(model, 100)
    _, low = all_lamps(model, 10)
    assert np.all(model.power_factor(lamps, full) >= 0.95)
    assert np.all(model.power_factor(lamps, low) < model.power_factor(lamps, full))


def test_mains_voltage_stays_near_220_volts(model) -> None:
    lamps, dim = all_lamps(model, 100)
    v = np.concatenate([model.step(lamps, np.full(lamps.size, NIGHT + k * 600.0), dim).v for k in range(20)])
    assert 212 < v.mean() < 228
    assert v.min() > 190
    assert v.max() < 240
    assert v.std() > 0.5  # sag, wander and noise, not a constant


def test_far_end_of_a_loaded_feeder_sees_lower_voltage(model) -> None:
    lamps, full = all_lamps(model, 100)
    near = model.feeder_pos < 0.2
    far = model.feeder_pos > 0.8
    v = model.voltage(lamps, np.full(lamps.size, NIGHT), full)
    v_off = model.voltage(lamps, np.full(lamps.size, NIGHT), np.zeros(lamps.size, dtype=np.int64))
    drop = 1 - v / v_off
    assert drop[far].mean() > drop[near].mean()
    assert np.all(drop >= 0)


def test_current_is_power_over_voltage_times_power_factor(model) -> None:
    lamps, dim = all_lamps(model, 70)
    s = model.step(lamps, np.full(lamps.size, NIGHT), dim)
    np.testing.assert_allclose(s.i, s.p / (s.v * s.pf), rtol=1e-12)


def test_energy_counter_never_goes_backwards(model) -> None:
    lamps = np.arange(model.p_full.size)
    previous = None
    for k in range(48):
        dim = np.full(lamps.size, 100 if k % 3 else 0, dtype=np.int64)
        e = model.step(lamps, np.full(lamps.size, NIGHT + k * 300.0), dim).e
        if previous is not None:
            assert np.all(e >= previous)
        previous = e


def test_energy_grows_by_power_times_time(model) -> None:
    lamps, dim = all_lamps(model, 100)
    first = model.step(lamps, np.full(lamps.size, NIGHT), dim)
    second = model.step(lamps, np.full(lamps.size, NIGHT + 3600.0), dim)
    expected = 0.5 * (first.p + second.p)  # Wh over one hour
    np.testing.assert_allclose(second.e - first.e, expected, rtol=1e-9)


def test_restored_counter_continues_from_the_saved_value(model) -> None:
    lamps = np.array([0, 1])
    model.restore(lamps, np.array([1000.0, 2000.0]), np.array([NIGHT - 60, NIGHT - 60]))
    s = model.step(lamps, np.array([NIGHT, NIGHT]), np.array([100, 100]))
    assert np.all(s.e > [1000.0, 2000.0])
    assert np.all(s.e < [1010.0, 2010.0])


def test_controller_runs_warmer_when_the_lamp_is_on(model) -> None:
    lamps, full = all_lamps(model, 100)
    _, off = all_lamps(model, 0)
    hot = model.step(lamps, np.full(lamps.size, NIGHT), full).t
    cool = model.step(lamps, np.full(lamps.size, NIGHT + 1), off).t
    assert np.all(hot > cool)
    assert 15 < cool.mean() < 35
    assert hot.max() < 60
