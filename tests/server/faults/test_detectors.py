"""Each detector, as a table of readings and what must (and must not) be alerted."""

from __future__ import annotations

import pytest

from firmware.device import codec
from tests.server.faults.support import NIGHT, NOON, RATED, Bench, alerted, healthy_p


def lamp(fault: str, lamp_id: str = "L0") -> tuple[str, str, str]:
    return ("lamp", lamp_id, fault)


def test_a_healthy_fleet_alerts_nothing() -> None:
    assert alerted(Bench().run(NIGHT, 6)) == set()


def test_a_dark_lamp_commanded_on_is_a_lamp_failure_after_two_readings() -> None:
    bench = Bench()
    bench.run(NIGHT, 2)
    one = bench.run(NIGHT + 600, 1, lamps=[0], p=0.6)
    assert lamp("lamp_failure") not in alerted(one)
    two = bench.run(NIGHT + 900, 1, lamps=[0], p=0.6)
    assert lamp("lamp_failure") in alerted(two)


def test_a_lamp_dimmed_to_zero_by_schedule_is_not_failed() -> None:
    assert alerted(Bench().run(NIGHT, 6, dim=0, p=0.6)) == set()


def test_the_firmware_lamp_failure_flag_is_a_lamp_failure() -> None:
    assert lamp("lamp_failure") in alerted(Bench().run(NIGHT, 2, lamps=[0], f=codec.F_LAMP_FAILURE))


def test_a_lamp_on_at_noon_while_reporting_level_zero_is_a_day_burner() -> None:
    assert lamp("day_burner") in alerted(Bench().run(NOON, 2, lamps=[0], dim=0, p=healthy_p(100)))


def test_a_lamp_the_server_schedule_has_off_at_noon_is_a_day_burner_even_at_its_own_level() -> None:
    assert lamp("day_burner") in alerted(Bench().run(NOON, 2, lamps=[0], dim=100))


def test_a_lamp_in_fallback_is_not_held_to_the_server_schedule() -> None:
    assert alerted(Bench().run(NOON, 3, dim=100, f=codec.F_FALLBACK)) == set()


@pytest.mark.parametrize(("edge", "offset_min"), [("sunset", -15), ("sunset", 5), ("sunrise", -5), ("sunrise", 12)])
def test_dusk_and_dawn_transitions_are_not_day_burning(edge: str, offset_min: int) -> None:
    """The lamp's own sun times and fades put it on a few minutes either side of the server's."""
    import datetime as dt

    from server.schedules.sun import night_sun

    sunset, sunrise = night_sun(-4.55, 136.88, dt.date(2026, 11, 28), 540)
    at = (sunset if edge == "sunset" else sunrise) + offset_min * 60
    assert alerted(Bench().run(at, 3, every=60, dim=100)) == set()


def test_a_lamp_switching_on_and_off_at_a_steady_level_is_cycling_not_failed() -> None:
    bench = Bench()
    found = None
    for k in range(6):
        bench.report(0, NIGHT + 300 * k, p=healthy_p(100) if k % 2 == 0 else 0.6)
        found = bench.assess(NIGHT + 300 * k + 1)
    assert found is not None
    assert alerted(found) == {lamp("cycling")}


def test_the_schedule_stepping_the_level_is_not_cycling() -> None:
    bench = Bench()
    found = None
    for k in range(8):
        level = 100 if k % 2 == 0 else 0
        bench.report(0, NIGHT + 300 * k, dim=level)
        found = bench.assess(NIGHT + 300 * k + 1)
    assert found is not None and alerted(found) == set()


@pytest.mark.parametrize(("dim", "share", "alert"), [(100, 0.5, True), (100, 1.6, True), (100, 1.1, False),
                                                     (50, 0.55, True), (10, 0.4, False)])
def test_power_far_from_the_expected_power_at_the_level_is_an_anomaly(dim: int, share: float, alert: bool) -> None:
    found = Bench().run(NIGHT, 3, lamps=[0], dim=dim, p=healthy_p(dim) * share)
    assert (lamp("power_anomaly") in alerted(found)) is alert


@pytest.mark.parametrize(("volts", "fault"), [(262.0, "over_voltage"), (182.0, "under_voltage")])
def test_one_lamp_seeing_bad_voltage_is_a_lamp_alert(volts: float, fault: str) -> None:
    bench = Bench(lamps=4)
    bench.run(NIGHT, 1)
    found = bench.run(NIGHT + 300, 2, lamps=[0], v=volts)
    assert alerted(found) == {lamp(fault)}


def test_most_of_a_cabinet_seeing_bad_voltage_is_one_cabinet_alert() -> None:
    found = Bench(lamps=4).run(NIGHT, 2, v=185.0)
    assert alerted(found) == {("cabinet", "c0", "under_voltage")}


def test_normal_evening_voltage_sag_is_not_under_voltage() -> None:
    assert alerted(Bench().run(NIGHT, 4, v=203.0)) == set()


@pytest.mark.parametrize(("dim", "alert"), [(100, True), (30, False)])
def test_low_power_factor_is_judged_only_near_full_level(dim: int, alert: bool) -> None:
    found = Bench().run(NIGHT, 2, lamps=[0], dim=dim, pf=0.62)
    assert (lamp("low_power_factor") in alerted(found)) is alert


def test_a_meter_reset_is_an_energy_anomaly_that_clears_with_consistent_readings() -> None:
    bench = Bench()
    bench.run(NIGHT, 2, lamps=[0])
    reset = bench.run(NIGHT + 600, 1, lamps=[0], e=0.2)
    assert alerted(reset) == {lamp("energy_anomaly")}
    later = bench.run(NIGHT + 900, 3, lamps=[0])
    assert alerted(later) == set()


def test_a_stuck_energy_counter_is_an_anomaly() -> None:
    bench = Bench()
    bench.run(NIGHT, 1, lamps=[0])
    found = bench.run(NIGHT + 300, 2, lamps=[0], e=float(bench.energy[0]))
    assert lamp("energy_anomaly") in alerted(found)


@pytest.mark.parametrize("flag", [codec.F_DRIVER_FAILURE, codec.F_RELAY_FAILURE])
def test_driver_and_relay_failure_flags_are_device_faults(flag: int) -> None:
    assert alerted(Bench().run(NIGHT, 1, lamps=[0], f=flag)) == {lamp("device_fault")}


@pytest.mark.parametrize(("silent_min", "alert"), [(10, False), (22, True)])
def test_a_wifi_lamp_is_lost_after_three_intervals(silent_min: int, alert: bool) -> None:
    bench = Bench(lamps=4)
    bench.run(NIGHT, 1)
    bench.run(NIGHT + 300, silent_min // 5, quiet=frozenset({0}))
    found = bench.assess(NIGHT + silent_min * 60)
    assert (lamp("comm_loss") in alerted(found)) is alert


@pytest.mark.parametrize(("silent_min", "alert"), [(50, False), (110, False), (200, True)])
def test_a_lora_lamp_within_its_hourly_interval_is_not_lost(silent_min: int, alert: bool) -> None:
    bench = Bench(lamps=4, lora=frozenset({0}))
    bench.gateway_heard[0] = NIGHT + silent_min * 60 - 30
    bench.run(NIGHT, 1)
    bench.run(NIGHT + 300, silent_min // 5, quiet=frozenset({0}))
    found = bench.assess(NIGHT + silent_min * 60)
    assert (lamp("comm_loss") in alerted(found)) is alert


def test_lora_lamps_behind_a_silent_gateway_are_one_gateway_alert() -> None:
    bench = Bench(lamps=6, lora=frozenset({0, 1, 2}))
    bench.gateway_heard[0] = NIGHT
    bench.run(NIGHT, 1)
    bench.run(NIGHT + 300, 60, quiet=frozenset({0, 1, 2}))
    found = bench.assess(NIGHT + 5 * 3600)
    assert alerted(found) == {("gateway", "g0", "gateway_down")}


def test_a_silent_lamp_behind_a_live_gateway_is_its_own_communication_loss() -> None:
    bench = Bench(lamps=6, lora=frozenset({0, 1, 2}))
    bench.run(NIGHT, 1)
    for k in range(1, 60):
        bench.gateway_heard[0] = NIGHT + 300 * k
        bench.run(NIGHT + 300 * k, 1, quiet=frozenset({0} if k % 12 == 0 else {0, 1, 2}))
    found = bench.assess(NIGHT + 5 * 3600)
    assert alerted(found) == {lamp("comm_loss")}


def test_a_hundred_lamp_cabinet_going_silent_is_one_outage_alert() -> None:
    bench = Bench(lamps=100, lora=frozenset(range(70, 100)))
    bench.gateway_heard[0] = NIGHT
    # Reports spread over the interval, as real lamps' are.
    for k in range(100):
        bench.report(k, NIGHT + 3 * k)
    for minute in range(5, 240, 5):
        bench.gateway_heard[0] = NIGHT + minute * 60
        found = bench.assess(NIGHT + minute * 60)
        assert alerted(found) <= {("cabinet", "c0", "cabinet_outage")}
    assert alerted(found) == {("cabinet", "c0", "cabinet_outage")}


def test_a_few_failed_lamps_in_a_cabinet_are_not_an_outage() -> None:
    bench = Bench(lamps=20, per_cabinet=20)
    bench.run(NIGHT, 1)
    for k in range(1, 6):
        for lamp_no in range(20):
            bench.report(lamp_no, NIGHT + 300 * k + 10 * lamp_no, p=0.6 if lamp_no < 3 else None)
        found = bench.assess(NIGHT + 300 * k + 250)
    assert alerted(found) == {lamp("lamp_failure", f"L{i}") for i in range(3)}


def test_rated_power_sets_the_failure_threshold() -> None:
    assert healthy_p(100) == pytest.approx(0.7 + RATED)
