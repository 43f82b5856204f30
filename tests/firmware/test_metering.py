"""Metering on MicroPython: BL0937 pulse conversion with calibration, the energy counter, the
ATM90E26 UART protocol, and the simulated pole's electrical model seen through the meter."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import mpy_json


@pytest.mark.parametrize(
    ("watts", "volts", "amps"),
    [(100.0, 220.0, 0.47), (30.0, 230.0, 0.16), (250.0, 198.0, 1.3), (2800.0, 240.0, 12.0)],
)
def test_bl0937_counts_convert_back_to_the_quantities_within_one_pulse(watts: float, volts: float, amps: float) -> None:
    out = mpy_json(
        "import json, bl0937\n"
        f"w, v, a = {watts}, {volts}, {amps}\n"
        "c = [0, 0, 0]\n"
        "n_p = bl0937.pulses(int(w * 1e6 / bl0937.MW_PER_HZ), 10000, c, 0)\n"
        "n_v = bl0937.pulses(int(v * 1e7 / bl0937.DV_PER_KHZ), 10000, c, 1)\n"
        "n_i = bl0937.pulses(int(a * 1e8 / bl0937.MA_PER_HHZ), 10000, c, 2)\n"
        "print(json.dumps([bl0937.power_dw(n_p, 10000, 1024), bl0937.voltage_dv(n_v, 10000, 1024),"
        " bl0937.current_ma(n_i, 10000, 1024)]))"
    )
    dw, dv, ma = out
    assert abs(dw / 10 - watts) <= 1.3 / 10 + 0.1
    assert abs(dv / 10 - volts) <= 0.2
    assert abs(ma / 1000 - amps) <= 0.002


def test_calibration_factor_scales_the_reading() -> None:
    out = mpy_json("import json, bl0937\nprint(json.dumps([bl0937.power_dw(773, 10000, 1024),"
                   " bl0937.power_dw(773, 10000, 1004)]))")
    assert out[1] == pytest.approx(out[0] * 1004 / 1024, abs=1)


def test_power_factor_is_active_over_apparent_power() -> None:
    out = mpy_json("import json, bl0937\nprint(json.dumps([bl0937.power_factor(1000, 2200, 480),"
                   " bl0937.power_factor(30000, 2300, 13500), bl0937.power_factor(5, 2200, 0)]))")
    assert out == [946, 966, 0]


def test_energy_counter_keeps_the_fractions_between_calls() -> None:
    # 100 W for an hour, delivered as one-second pulse counts: 100 Wh = 100000 mWh.
    out = mpy_json(
        "import json, bl0937\n"
        "e = bl0937.EnergyCounter()\nc = [0]\ntotal = 0\n"
        "for _ in range(3600):\n    total += e.add(bl0937.pulses(int(100 * 1e6 / bl0937.MW_PER_HZ), 1000, c, 0))\n"
        "print(json.dumps(total))"
    )
    assert out == pytest.approx(100000, rel=0.001)


def test_simulated_pole_meters_what_the_model_draws(tmp_path: object) -> None:
    out = mpy_json(
        "import json, hal, hal_sim, time\n"
        f"h = hal_sim.HalSim({str(tmp_path) + '/'!r})\n"
        "h.relay.set(True)\nh.dimmer.write(10000)\nout = [0] * hal.M_LEN\n"
        "h.meter.read(out)\ntime.sleep_ms(400)\nh.meter.read(out)\n"
        "print(json.dumps([out, h.model.p]))"
    )
    sample, model_w = out
    assert abs(sample[2] / 10 - model_w) < 5  # dW, coarse over 0.4 s of pulses
    assert 2150 <= sample[0] <= 2250  # dV around 220 V


def test_dead_lamp_draws_only_standby_power(tmp_path: object) -> None:
    out = mpy_json(
        "import json, hal_sim\n"
        f"h = hal_sim.HalSim({str(tmp_path) + '/'!r})\n"
        "m = h.model\nm.lamp_failed = True\nm.step(1.0, True, 1.0)\na = m.p\n"
        "m.lamp_failed = False\nm.driver_failed = True\nm.step(0.1, True, 1.0)\nb = m.p\n"
        "m.driver_failed = False\nm.relay_stuck = 'closed'\nm.step(1.0, False, 1.0)\nc = m.p\n"
        "print(json.dumps([a, b, c]))"
    )
    standby, ignores_dimming, welded = out
    assert standby == pytest.approx(0.5)
    assert ignores_dimming > 100  # a failed driver runs at full output whatever the dim level
    assert welded > 100  # a welded relay keeps feeding the lamp




ATM_FAKE = '''
class FakeChip:
    # Answers ATM90E26 UART reads from a register map, checksums as the datasheet says.
    def __init__(self, regs):
        self.regs = regs
        self.rx = b""
        self.writes = []
    def any(self):
        return 0
    def read(self, n=-1):
        return b""
    def write(self, b):
        b = bytes(b)
        self.writes.append(b)
        if len(b) == 3 and b[0] == 0xFE and b[1] & 0x80:
            v = self.regs.get(b[1] & 0x7F, 0)
            msb, lsb = v >> 8, v & 0xFF
            self.rx = bytes([msb, lsb, (msb + lsb) & 0xFF])
        elif len(b) == 5:
            self.rx = bytes([b[4]])
    def readinto(self, buf):
        n = min(len(buf), len(self.rx))
        buf[:n] = self.rx[:n]
        self.rx = self.rx[n:]
        return n
'''


def test_atm90e26_reads_registers_over_the_uart_protocol() -> None:
    out = mpy_json(
        "import json, hal, atm90e26\n" + ATM_FAKE +
        "chip = FakeChip({0x49: 22013, 0x48: 452, 0x4A: 95, 0x4D: 955, 0x40: 3})\n"
        "t = [0]\nm = atm90e26.Atm90e26(chip, lambda: t[0])\nt[0] = 1000\nout = [0] * hal.M_LEN\n"
        "ok = m.read(out)\nprint(json.dumps([ok, out, [list(w) for w in chip.writes[:1]]]))"
    )
    ok, sample, first_write = out
    assert ok
    assert sample == [2201, 452, 950, 955, 300, 1000]
    assert first_write == [[0xFE, 0xC9, 0xC9]]  # read Urms: start byte, address | 0x80, checksum


def test_atm90e26_reports_failure_on_a_bad_checksum() -> None:
    out = mpy_json(
        "import json, hal, atm90e26\n" + ATM_FAKE +
        "class Noisy(FakeChip):\n    def readinto(self, buf):\n        n = FakeChip.readinto(self, buf)\n"
        "        buf[0] ^= 1\n        return n\n"
        "m = atm90e26.Atm90e26(Noisy({0x49: 22000}), lambda: 0)\nprint(json.dumps(m.read([0] * hal.M_LEN)))"
    )
    assert out is False
