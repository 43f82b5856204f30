# DALI (IEC 62386) as a dimming output: broadcast DAPC (direct arc power control) forward frames.
#
# A forward frame is a start bit, 16 data bits (address byte, then the arc level) and two stop
# bits (idle high), Manchester-coded at 1200 bit/s: a 1 is low-then-high, a 0 high-then-low
# (IEC 62386-101), each half bit 416.7 us. frame_halves() gives the line level for each half bit;
# the ESP32 HAL plays them through the RMT peripheral. Only transmission is implemented: the
# readback used by the health check is the last level sent (a DALI query needs a receiver).
#
# Arc power levels follow DALI's logarithmic curve: level X (1..254) gives 10^((X-1)/(253/3)-1) %
# of full light, so the light output in permyriad maps back to X through the inverse.

import math

import hal

BROADCAST_DAPC = 0xFE  # broadcast address, S bit 0 (direct arc power)
HALF_BIT_US = 417


def arc_level(permyriad: int) -> int:
    if permyriad <= 0:
        return 0
    pct = permyriad / 100.0
    x = int(1.0 + (253.0 / 3.0) * (math.log10(pct) + 1.0) + 0.5)
    return 1 if x < 1 else 254 if x > 254 else x


def frame_halves(addr: int, data: int) -> bytearray:
    """Line level (1 = idle/high) for each of the 38 half bits of a forward frame."""
    out = bytearray(38)
    out[0] = 0  # start bit is a Manchester 1
    out[1] = 1
    word = addr << 8 | data
    for k in range(16):
        bit = (word >> (15 - k)) & 1
        out[2 + 2 * k] = 0 if bit else 1
        out[3 + 2 * k] = 1 if bit else 0
    for k in range(34, 38):
        out[k] = 1  # two stop bits: idle
    return out


def durations(halves: bytearray) -> list[int]:
    """Run lengths in microseconds, starting with the first level (for RMT.write_pulses)."""
    runs = []
    n = 1
    for k in range(1, len(halves)):
        if halves[k] == halves[k - 1]:
            n += 1
        else:
            runs.append(n * HALF_BIT_US)
            n = 1
    runs.append(n * HALF_BIT_US)
    return runs


class DaliDimmer(hal.Dimmer):
    def __init__(self, send: object) -> None:
        self._send = send  # fn(list of microsecond runs, first level)
        self._value = 0

    def write(self, permyriad: int) -> None:
        h = frame_halves(BROADCAST_DAPC, arc_level(permyriad))
        self._send(durations(h), h[0])  # type: ignore[operator]
        self._value = permyriad

    def read(self) -> int:
        return self._value
