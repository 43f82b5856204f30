# Class A timing over a LoRa transceiver chip (sx127x.py, sx126x.py): transmit the uplink, then
# open RX1 one second after it ended on the same channel and spreading factor, and RX2 two seconds
# after it on 921.4 MHz SF10 (AS923-2), each just long enough to catch a downlink's preamble.
#
# The chip drivers only send a frame and listen once; the windows' timing lives here, and is
# tested on the unix port against a chip double (tests/firmware/test_lora_chip.py).

import asyncio
import time

import airtime
import hal

TYPE_CHECKING = False

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

# Open a window this much early: the gateway times RX1 from when it heard the uplink end, we from
# when our chip said TxDone, and both clocks drift a little.
RX_EARLY_MS = const(20)
# Preamble symbols to wait for in a window before giving up (the downlink preamble is 8).
RX_SYMBOLS = const(12)


class Chip:
    """One LoRa transceiver, driven by the class A logic below: 125 kHz, coding rate 4/5, explicit
    header, 8-symbol preamble, the LoRaWAN public sync word."""

    async def send(self, frame: bytes, freq: int, sf: int) -> bool:
        """Transmits `frame` (payload CRC on, IQ normal); returns when it is on air completely
        (TxDone), False if the chip never said so."""
        raise NotImplementedError

    async def listen(self, freq: int, sf: int, symbols: int) -> "bytes | None":
        """One receive (IQ inverted, as downlinks are): the frame heard, or None when no preamble
        came within `symbols` symbols (or the frame was damaged)."""
        raise NotImplementedError


class ClassA(hal.LoraRadio):
    def __init__(self, chip: Chip) -> None:
        self.chip = chip

    async def exchange(self, frame: bytes, freq: int, sf: int, out: "list[int]") -> "bytes | None":
        out[hal.R_STATUS] = hal.RADIO_FAIL
        out[hal.R_AIRTIME_US] = 0
        out[hal.R_WAIT_MS] = 0
        try:
            sent = await self.chip.send(frame, freq, sf)
        except OSError:
            sent = False
        if not sent:
            return None
        end = time.ticks_ms()
        out[hal.R_STATUS] = hal.RADIO_OK
        out[hal.R_AIRTIME_US] = int(airtime.time_on_air(len(frame), sf) * 1000000)
        down = await self._window(end, 1000, freq, sf)
        if down is None:
            down = await self._window(end, 2000, airtime.AS923_2_RX2_FREQ, airtime.AS923_2_RX2_SF)
        return down

    async def _window(self, end: "hal.Ticks", delay_ms: int, freq: int, sf: int) -> "bytes | None":
        wait = time.ticks_diff(time.ticks_add(end, delay_ms - RX_EARLY_MS), time.ticks_ms())
        if wait < -RX_EARLY_MS:
            return None  # too late for this window: its preamble has passed
        if wait > 0:
            await asyncio.sleep_ms(wait)
        try:
            return await self.chip.listen(freq, sf, RX_SYMBOLS)
        except OSError:
            return None
