"""Dimming on MicroPython: curve, clamps, soft fades, relay sequencing; DALI frames."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import mpy_json

FAKE_HAL = '''
import json, time, dimming
class Out:
    def __init__(self, log):
        self.log = log
        self.v = 0
    def write(self, x):
        self.v = x
        self.log.append(("out", x))
    def read(self):
        return self.v
class Relay:
    def __init__(self, log):
        self.log = log
        self.closed = False
    def set(self, c):
        self.closed = c
        self.log.append(("relay", c))
    def get(self):
        return self.closed
class Hal:
    def __init__(self):
        self.log = []
        self.t = time.ticks_ms()
        self.dimmer = Out(self.log)
        self.relay = Relay(self.log)
    def ticks_ms(self):
        return self.t
    def advance(self, ms):
        self.t = time.ticks_add(self.t, ms)
h = Hal()
d = dimming.Dimmer(h)
'''


@pytest.mark.parametrize(
    ("level", "curve", "lo", "hi", "expected"),
    [
        (0, 0, 1, 100, 0),
        (100, 0, 1, 100, 10000),
        (50, 0, 1, 100, 5000),
        (5, 0, 20, 100, 2000),  # clamped up to the driver's minimum
        (95, 0, 1, 80, 8000),  # clamped down to the configured maximum
        (1, 1, 1, 100, 10),  # DALI-style log curve: level 1 is 0.1 % of full light
        (100, 1, 1, 100, 10000),
        (67, 1, 1, 100, 1000),  # two thirds of the way up is a tenth of the light
    ],
)
def test_output_follows_curve_and_clamps(level: int, curve: int, lo: int, hi: int, expected: int) -> None:
    out = mpy_json(f"import json, dimming\nprint(json.dumps(dimming.output_for({level}, {curve}, {lo}, {hi})))")
    assert out == pytest.approx(expected, abs=max(2, expected // 100))


@pytest.mark.parametrize(
    ("level", "lo", "hi", "reported"),
    [
        (5, 20, 80, 20),  # raised to the minimum: the lamp burns at 20, and says so
        (95, 20, 80, 80),
        (0, 20, 80, 0),  # off stays off
        (60, 1, 0, 0),  # the config's max 0: never on
    ],
)
def test_readings_report_the_level_after_the_clamps(level: int, lo: int, hi: int, reported: int) -> None:
    out = mpy_json(FAKE_HAL + f"d.configure(0, {lo}, {hi}, 0)\nd.set({level})\nh.advance(10)\nd._step()\n"
                   "print(json.dumps([d.want, d.level, d.out]))")
    assert out == [level, reported, reported * 100]


def test_switching_on_closes_the_relay_before_the_fade_starts() -> None:
    out = mpy_json(FAKE_HAL + "d.set(100, 1000)\nh.advance(100)\nd._step()\nprint(json.dumps(h.log))")
    assert out[0] == ["relay", True]
    assert [e[0] for e in out[1:]] == ["out"]


def test_fade_reaches_the_target_in_the_fade_time() -> None:
    out = mpy_json(FAKE_HAL + "d.set(100, 1000)\nh.advance(500)\nd._step()\nmid = d.out\n"
                   "h.advance(600)\nd._step()\nprint(json.dumps([mid, d.out, d.level]))")
    assert out == [5000, 10000, 100]


def test_level_zero_opens_the_relay_after_fading_out() -> None:
    out = mpy_json(FAKE_HAL + "d.set(100, 0)\nh.log[:] = []\nd.set(0, 1000)\nh.advance(500)\nd._step()\n"
                   "mid = h.relay.closed\nh.advance(600)\nd._step()\n"
                   "print(json.dumps([mid, h.relay.closed, h.log[-1]]))")
    assert out == [True, False, ["relay", False]]


def test_dimmer_health_check_compares_readback() -> None:
    out = mpy_json(FAKE_HAL + "d.set(60, 0)\nok = d.responds()\nh.dimmer.v = 0\nprint(json.dumps([ok, d.responds()]))")
    assert out == [True, False]


def test_dali_frame_is_manchester_coded_dapc() -> None:
    out = mpy_json("import json, dali\nh = dali.frame_halves(0xFE, 0x80)\n"
                   "print(json.dumps([list(h), dali.arc_level(10000), dali.arc_level(10), dali.arc_level(0)]))")
    halves, full, tenth_pct, off = out
    assert halves[:2] == [0, 1]  # start bit: a Manchester 1 (low then high)
    bits = [1 if halves[2 + 2 * k : 4 + 2 * k] == [0, 1] else 0 for k in range(16)]
    assert int("".join(map(str, bits)), 2) == 0xFE80
    assert halves[34:] == [1, 1, 1, 1]  # two stop bits, idle high
    assert (full, tenth_pct, off) == (254, 1, 0)
