# From a commanded level (0-100 %) to what the driver gets: clamps, curve, soft fades, relay.
#
# Level 0 means off: the fade runs down first and the relay opens after it, so the driver is not
# switched under load; any other level closes the relay before the fade starts. Non-zero levels
# are clamped to [min, max] from the config (drivers flicker below their minimum; a maximum caps
# energy or compensates an over-specified luminaire). The curve maps level to light output:
# linear, or logarithmic as DALI's arc-power curve (level 1 -> 0.1 %, 100 -> 100 %), which looks
# even to the eye.

import asyncio
import time

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

CURVE_LINEAR = const(0)
CURVE_LOG = const(1)
STEP_MS = const(40)  # real time between fade steps: smooth to the eye, cheap for the CPU

_log_table = None


def _log(level: int) -> int:
    global _log_table
    if _log_table is None:
        import array

        # 10 ** ((L - 1) * 3 / 99 - 1) percent, in permyriad; computed once, 202 bytes.
        t = array.array("H", [0] * 101)
        for k in range(1, 101):
            t[k] = int(10 ** ((k - 1) * 3.0 / 99.0 - 1.0) * 100.0 + 0.5)
        _log_table = t
    return _log_table[level]


def clamp(level: int, lo: int, hi: int) -> int:
    """The level in effect for a commanded one: 0 stays off, others are raised to `lo`, then held
    to `hi` (a `hi` of 0 keeps the lamp off, as the config's `max` 0 says)."""
    if level <= 0:
        return 0
    if level < lo:
        level = lo
    if level > hi:
        level = hi
    return level if level < 100 else 100


def output_for(level: int, curve: int, lo: int, hi: int) -> int:
    """Permyriad of full light output for `level` percent."""
    level = clamp(level, lo, hi)
    if level <= 0:
        return 0
    if curve == CURVE_LOG:
        return _log(level)
    return level * 100


class Dimmer:
    """Owns the dimming output and the relay; the rest of the firmware only sets a level."""

    def __init__(self, hal: object) -> None:
        self.hal = hal
        self.curve = CURVE_LINEAR
        self.lo = 1
        self.hi = 100
        self.fade_ms = 2000
        self.want = 0  # level commanded
        self.level = 0  # level in effect once the fade ends, after the clamps (what readings report)
        self.out = 0  # permyriad currently written
        self._from = 0
        self._to = 0
        self._t0 = 0
        self._dur = 0

    def configure(self, curve: int, lo: int, hi: int, fade_ms: int) -> None:
        self.curve = curve
        self.lo = lo if 0 < lo <= 100 else 1
        self.hi = hi if 0 <= hi <= 100 else 100
        self.fade_ms = fade_ms if fade_ms >= 0 else 0
        if self.want:
            self.set(self.want, 0)

    def set(self, level: int, fade_ms: int = -1) -> None:
        if level < 0:
            level = 0
        if level > 100:
            level = 100
        target = output_for(level, self.curve, self.lo, self.hi)
        self.want = level
        self.level = clamp(level, self.lo, self.hi)
        if target == self._to and self._dur == 0:
            return
        h = self.hal
        if target > 0 and not h.relay.get():  # type: ignore[attr-defined]
            h.relay.set(True)  # type: ignore[attr-defined]
        self._from = self.out
        self._to = target
        self._t0 = h.ticks_ms()  # type: ignore[attr-defined]
        self._dur = self.fade_ms if fade_ms < 0 else fade_ms
        self._step()

    def _step(self) -> bool:
        """Writes the output for now; True while the fade continues."""
        h = self.hal
        if self._dur > 0:
            el = time.ticks_diff(h.ticks_ms(), self._t0)  # type: ignore[attr-defined]
            if el < self._dur:
                out = self._from + (self._to - self._from) * el // self._dur
                if out != self.out:
                    self.out = out
                    h.dimmer.write(out)  # type: ignore[attr-defined]
                return True
        self._dur = 0
        if self.out != self._to or self._to == 0:
            self.out = self._to
            h.dimmer.write(self._to)  # type: ignore[attr-defined]
        if self._to == 0 and h.relay.get():  # type: ignore[attr-defined]
            h.relay.set(False)  # type: ignore[attr-defined]
        return False

    def responds(self) -> bool:
        """Health check: the output stage reads back what was written."""
        return bool(self.hal.dimmer.read() == self.out)  # type: ignore[attr-defined]

    async def run(self, beat: object = None) -> None:
        while True:
            # set() writes the first step itself, so an idle dimmer only needs a slow poll.
            await asyncio.sleep_ms(STEP_MS if self._step() else 250)
            if beat:
                beat()  # type: ignore[operator]
