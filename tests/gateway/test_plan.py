"""The LoRa planning arithmetic: channel load, pure-ALOHA collisions, duty-cycle headroom."""

from __future__ import annotations

import math

import pytest

from firmware.device import airtime
from gateway.plan import PlanInput, max_lamps, plan


def test_channel_load_is_airtime_per_channel_second():
    r = plan(PlanInput(lamps=800, sf=10, app_bytes=11, interval_s=300, channels=8))
    toa = airtime.lorawan_time_on_air(11, 10)
    assert r.time_on_air_s == pytest.approx(toa)
    assert r.channel_load_erlang == pytest.approx(800 * toa / (300 * 8))


def test_collision_probability_is_pure_aloha():
    r = plan(PlanInput(lamps=800, sf=10, app_bytes=11, interval_s=300))
    assert r.collision_probability == pytest.approx(1 - math.exp(-2 * r.channel_load_erlang))


def test_doubling_the_fleet_doubles_the_load():
    a = plan(PlanInput(lamps=100, sf=9, app_bytes=11, interval_s=600))
    b = plan(PlanInput(lamps=200, sf=9, app_bytes=11, interval_s=600))
    assert b.channel_load_erlang == pytest.approx(2 * a.channel_load_erlang)
    assert b.collision_probability > a.collision_probability


def test_max_lamps_for_a_collision_target_just_meets_it():
    toa = airtime.lorawan_time_on_air(11, 10)
    n = max_lamps(0.01, toa, 300, 8)
    at = plan(PlanInput(lamps=n, sf=10, app_bytes=11, interval_s=300))
    over = plan(PlanInput(lamps=n + 1, sf=10, app_bytes=11, interval_s=300))
    assert at.collision_probability <= 0.01 < over.collision_probability


def test_duty_cycle_headroom_compares_lamp_airtime_with_one_percent():
    r = plan(PlanInput(lamps=1, sf=12, app_bytes=11, interval_s=300))
    assert r.lamp_duty_cycle == pytest.approx(1.482752 / 300)
    assert r.lamp_duty_headroom == pytest.approx(0.01 / (1.482752 / 300))
    assert r.min_interval_s == pytest.approx(148.2752)


def test_sf12_under_dwell_limit_is_flagged():
    r = plan(PlanInput(lamps=10, sf=12, app_bytes=11, interval_s=600))
    assert not r.within_dwell
    assert not r.fits_payload
    assert plan(PlanInput(lamps=10, sf=12, app_bytes=11, interval_s=600, dwell=False)).fits_payload


def test_twelve_bytes_do_not_fit_at_sf10_with_dwell():
    assert not plan(PlanInput(lamps=10, sf=10, app_bytes=12, interval_s=600)).fits_payload
    assert plan(PlanInput(lamps=10, sf=10, app_bytes=11, interval_s=600)).fits_payload


def test_gateway_downlink_budget_is_36_s_per_hour():
    r = plan(PlanInput(lamps=500, sf=10, app_bytes=11, interval_s=300, downlinks_per_lamp_per_day=24))
    down = airtime.lorawan_time_on_air(6, 10, uplink=False)
    assert r.gateway_downlink_budget_s_per_hour == pytest.approx(36.0)
    assert r.gateway_downlink_s_per_hour == pytest.approx(500 * down)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("lamps", {"lamps": 0}),
        ("interval", {"interval_s": 0}),
        ("bytes", {"app_bytes": 300}),
        ("sf", {"sf": 6}),
        ("channels", {"channels": 0}),
    ],
)
def test_bad_plan_input_names_the_field(field, kwargs):
    args = {"lamps": 10, "sf": 9, "app_bytes": 11, "interval_s": 300} | kwargs
    with pytest.raises(ValueError, match=field):
        PlanInput(**args)
