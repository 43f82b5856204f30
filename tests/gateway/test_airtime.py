"""Time on air against published LoRaWAN figures, and the AS923 limits built on it."""

from __future__ import annotations

import pytest

from firmware.device import airtime

# The Things Network airtime calculator (LoRaWAN, 125 kHz, CR 4/5, 8-symbol preamble, explicit header,
# CRC on) for an 11-byte application payload; its figures include the 13 bytes of LoRaWAN framing.
PUBLISHED_11_BYTES_MS = {7: 61.7, 8: 113.2, 9: 205.8, 10: 370.7, 11: 823.3, 12: 1482.8}


def test_eleven_bytes_at_sf12_take_1_48_s():
    assert airtime.lorawan_time_on_air(11, 12) == pytest.approx(1.482752, abs=1e-6)


def test_eleven_bytes_at_sf7_take_62_ms():
    assert airtime.lorawan_time_on_air(11, 7) == pytest.approx(0.061696, abs=1e-6)


@pytest.mark.parametrize(("sf", "published_ms"), sorted(PUBLISHED_11_BYTES_MS.items()))
def test_time_on_air_matches_published_table(sf, published_ms):
    assert airtime.lorawan_time_on_air(11, sf) * 1000 == pytest.approx(published_ms, abs=0.05)


def test_published_figures_count_the_lorawan_overhead():
    assert airtime.time_on_air(11 + 13, 12) == airtime.lorawan_time_on_air(11, 12)
    assert airtime.time_on_air(11, 12) < 1.3


def test_low_data_rate_optimisation_applies_from_sf11_at_125_khz():
    assert [sf for sf in range(7, 13) if airtime.low_data_rate_optimize(sf)] == [11, 12]
    assert not airtime.low_data_rate_optimize(12, 500_000)


def test_eleven_bytes_at_sf10_fit_the_400_ms_dwell_limit_and_sf11_does_not():
    assert airtime.lorawan_time_on_air(11, 10) <= airtime.DWELL_LIMIT_S
    assert airtime.lorawan_time_on_air(11, 11) > airtime.DWELL_LIMIT_S
    assert airtime.max_app_payload(10, dwell=True) == 11
    assert airtime.max_app_payload(12, dwell=True) is None


def test_downlinks_without_crc_are_shorter():
    assert airtime.lorawan_time_on_air(11, 7, uplink=False) < airtime.lorawan_time_on_air(11, 7)


def test_wider_bandwidth_shortens_symbols():
    assert airtime.time_on_air(24, 7, 250_000) == pytest.approx(airtime.time_on_air(24, 7) / 2, rel=0.05)


def test_one_percent_duty_cycle_means_99_times_the_airtime_of_silence():
    assert airtime.off_time(1.0, 0.01) == pytest.approx(99.0)


@pytest.mark.parametrize("sf", [6, 13, 7.0, True])
def test_spreading_factor_outside_7_to_12_is_refused(sf):
    with pytest.raises(ValueError, match="sf"):
        airtime.time_on_air(20, sf)


def test_payload_longer_than_a_lora_frame_is_refused():
    with pytest.raises(ValueError, match=r"0\.\.255"):
        airtime.time_on_air(256, 7)


def test_data_rates_follow_as923():
    assert [airtime.data_rate(sf) for sf in (12, 11, 10, 9, 8, 7)] == [0, 1, 2, 3, 4, 5]
