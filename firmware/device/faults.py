# Local fault detection from the meter, judged against what the controller commanded.
#
# Samples (one a second) are averaged over WINDOW samples, because the pulse meter is coarse at
# low power over one second; each window is classified, and a fault is raised after RAISE bad
# windows in a row and cleared after CLEAR good ones, so a passing sag or a fade does not flap.
# Windows in which the commanded output changed are skipped (the driver is still settling).
#
# Faults are numbered here (LAMP..METER) and mapped to protocol flag bits by the caller, keeping
# this module free of protocol details and testable with plain tables of cases.
#
#   LAMP         commanded on, mains fine, but only standby power: the LED string is dead
#   DRIVER       commanded on, power far from what the dim level implies (driver ignores the
#                dimming input, or delivers a fraction)
#   RELAY        power flows with the relay commanded open (welded contacts), or nothing at all
#                flows, not even standby, with it commanded closed (contacts stuck open)
#   DAY_BURNING  lit while the sun is up (or the photocell sees daylight) without an override
#   CYCLING      lamp drops out and recovers repeatedly at a constant command
#   OVER_V / UNDER_V   mains outside the configured band (with hysteresis)
#   THERMAL      controller temperature above the derating threshold
#   METER        the meter stopped answering

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

LAMP = const(0)
DRIVER = const(1)
RELAY = const(2)
DAY_BURNING = const(3)
CYCLING = const(4)
OVER_V = const(5)
UNDER_V = const(6)
THERMAL = const(7)
METER = const(8)
COUNT = const(9)
NAMES = ("lamp", "driver", "relay", "day_burning", "cycling", "over_v", "under_v", "thermal", "meter")

WINDOW = const(10)
RAISE = const(3)
CLEAR = const(3)
CYCLE_TRANSITIONS = const(4)  # on/off changes within the last CYCLE_WINDOWS windows
CYCLE_WINDOWS = const(30)  # fits a small int as a bit history
STANDBY_DW = const(30)  # below 3 W a driver is idling
MAINS_OK_DV = const(1500)


class Faults:
    def __init__(self) -> None:
        self.rated_dw = 1000  # rated input power of the luminaire, dW
        self.over_dv = 2420
        self.under_dv = 1980
        self.hyst_dv = 50
        self.thermal_dd = 850
        self.active = 0  # bitmask over fault numbers
        self.changed = 0  # bits that changed at the last window
        self._bad = bytearray(COUNT)
        self._good = bytearray(COUNT)
        self._n = 0
        self._sum_dw = 0
        self._sum_dv = 0
        self._sum_ma = 0
        self._fails = 0
        self._out = -1
        self._relay = False
        self._unsettled = False
        self._lit = -1  # last window's on/off classification (-1 unknown)
        self._hist = 0  # bit k set: a transition k windows ago
        self._transitions = 0

    def sample(self, ok: bool, dv: int, ma: int, dw: int, out: int, relay: bool) -> None:
        if out != self._out or relay != self._relay:
            self._unsettled = True
            self._out = out
            self._relay = relay
        if ok:
            self._sum_dw += dw
            self._sum_dv += dv
            self._sum_ma += ma
        else:
            self._fails += 1
        self._n += 1

    def window_done(self) -> bool:
        return self._n >= WINDOW

    def evaluate(self, daylight: bool, override: bool, temp_dd: int) -> int:
        """Judges the finished window; returns the bits whose state changed."""
        n = self._n - self._fails
        bad = 0
        meter_ok = n > self._n // 2
        if not meter_ok:
            bad |= 1 << METER
        elif not self._unsettled:
            dw = self._sum_dw // n
            dv = self._sum_dv // n
            ma = self._sum_ma // n
            out = self._out
            mains = dv >= MAINS_OK_DV
            expected = self.rated_dw * out // 10000
            if self._relay and mains and out >= 500:
                if dw == 0 and ma == 0:
                    bad |= 1 << RELAY
                elif dw < STANDBY_DW or dw * 100 < expected * 15:
                    bad |= 1 << LAMP
                elif dw * 10 > expected * 16 + 500 or dw * 2 < expected:
                    bad |= 1 << DRIVER
            if not self._relay and dw > STANDBY_DW:
                bad |= 1 << RELAY
            lit = dw * 10 > self.rated_dw  # more than 10 % of rated
            if lit and daylight and not override:
                bad |= 1 << DAY_BURNING
            self._cycle(lit, out > 0 and self._relay)
            if self._transitions >= CYCLE_TRANSITIONS:
                bad |= 1 << CYCLING
            # Hysteresis: an active voltage fault clears only once well inside the band.
            over = self.over_dv - (self.hyst_dv if self.active & (1 << OVER_V) else 0)
            under = self.under_dv + (self.hyst_dv if self.active & (1 << UNDER_V) else 0)
            if dv > over:
                bad |= 1 << OVER_V
            if MAINS_OK_DV // 2 < dv < under:
                bad |= 1 << UNDER_V
        if temp_dd != -32768 and temp_dd > self.thermal_dd:
            bad |= 1 << THERMAL
        judged = meter_ok and not self._unsettled
        changed = 0
        for k in range(COUNT):
            bit = 1 << k
            if not judged and k != METER and k != THERMAL:
                continue  # no evidence either way this window
            if bad & bit:
                self._good[k] = 0
                if self._bad[k] < 255:
                    self._bad[k] += 1
                if not self.active & bit and self._bad[k] >= RAISE:
                    self.active |= bit
                    changed |= bit
            else:
                self._bad[k] = 0
                if self._good[k] < 255:
                    self._good[k] += 1
                if self.active & bit and self._good[k] >= CLEAR:
                    self.active &= ~bit
                    changed |= bit
        self._n = self._fails = self._sum_dw = self._sum_dv = self._sum_ma = 0
        self._unsettled = False
        self.changed = changed
        return changed

    def _cycle(self, lit: bool, commanded_on: bool) -> None:
        if not commanded_on:
            self._lit = -1
            self._hist = 0
            self._transitions = 0
            return
        now = 1 if lit else 0
        h = (self._hist << 1) & ((1 << CYCLE_WINDOWS) - 1)
        if self._lit >= 0 and now != self._lit:
            h |= 1
        self._lit = now
        self._hist = h
        c = 0
        while h:
            h &= h - 1
            c += 1
        self._transitions = c
