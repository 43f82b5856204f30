"""Class A timing over a transceiver chip (firmware/device/lorachip.py), on MicroPython with a chip
double: the windows a pole's SX127x/SX126x would open after each uplink."""

from __future__ import annotations

from typing import Any

from tests.firmware.conftest import mpy_json

PRELUDE = '''
import asyncio, json, time
import hal, lorachip

class Chip(lorachip.Chip):
    def __init__(self, answers, sends=True):
        self.answers = answers
        self.sends = sends
        self.heard = []
        self.sent_at = None

    async def send(self, frame, freq, sf):
        self.sent_at = time.ticks_ms()
        return self.sends

    async def listen(self, freq, sf, symbols):
        self.heard.append([time.ticks_diff(time.ticks_ms(), self.sent_at), freq, sf, symbols])
        return self.answers.pop(0) if self.answers else None

def exchange(chip):
    out = [0] * hal.R_LEN
    down = asyncio.run(lorachip.ClassA(chip).exchange(b"x" * 24, 922000000, 9, out))
    return [out, down.hex() if down else None, chip.heard]
'''


def classa(body: str) -> Any:
    return mpy_json(PRELUDE + body)


def test_rx1_opens_a_second_after_the_uplink_on_its_channel_and_returns_what_it_hears() -> None:
    out, down, heard = classa("print(json.dumps(exchange(Chip([b'\\x60\\x01']))))")
    assert out[0] == 0 and out[1] > 0  # RADIO_OK, with the frame's time on air
    assert down == "6001"
    assert len(heard) == 1
    at, freq, sf, _symbols = heard[0]
    assert 1000 - 25 <= at <= 1000 and (freq, sf) == (922000000, 9)


def test_rx2_opens_two_seconds_after_the_uplink_on_921_4_mhz_sf10_when_rx1_is_silent() -> None:
    out, down, heard = classa("print(json.dumps(exchange(Chip([]))))")
    assert down is None and out[0] == 0
    assert [(f, s) for _at, f, s, _n in heard] == [(922000000, 9), (921400000, 10)]
    assert 2000 - 25 <= heard[1][0] <= 2000 + 25


def test_a_chip_that_never_finishes_sending_is_a_failed_exchange() -> None:
    out, down, heard = classa("print(json.dumps(exchange(Chip([], sends=False))))")
    assert out[0] == 2 and down is None and heard == []  # RADIO_FAIL, and no window opened
