# BL0937 / HLW8012 pulse-output metering: pulse counts -> dV, mA, dW, permille, mWh.
#
# The chip outputs three square waves whose frequencies are proportional to active power (CF),
# RMS voltage and RMS current (CF1, one or the other selected by the SEL pin). The nominal
# factors below follow the BL0937 datasheet transfer functions with Vref = 1.218 V, a 1 mOhm
# shunt and a 1501:1 mains divider (the common reference design); per-unit spread is taken out
# by the calibration factors from the config, in 1/1024 units so the arithmetic stays in small
# integers (no big-int allocation on a 32-bit port, even at 3 kW).
#
# The simulation HAL produces pulse counts from its electrical model with the same constants, so
# calibration and quantisation are exercised by the same code as on the pole.

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

# mW of active power per Hz of CF: Vref^2 * divider / (1721506 * Rshunt)
MW_PER_HZ = const(1294)
# dV per kHz of CF1 in voltage mode: Vref * divider / 15397
DV_PER_KHZ = const(1187)
# mA per 100 Hz of CF1 in current mode: Vref / (94638 * Rshunt)
MA_PER_HHZ = const(1287)
CAL_ONE = const(1024)


def power_dw(count: int, window_ms: int, cal: int) -> int:
    if window_ms <= 0:
        return 0
    return ((count * MW_PER_HZ * 10 // window_ms) * cal) >> 10


def voltage_dv(count: int, window_ms: int, cal: int) -> int:
    if window_ms <= 0:
        return 0
    # count/window_ms is in kHz already.
    return ((count * DV_PER_KHZ // window_ms) * cal) >> 10


def current_ma(count: int, window_ms: int, cal: int) -> int:
    if window_ms <= 0:
        return 0
    return ((count * MA_PER_HHZ * 10 // window_ms) * cal) >> 10


def power_factor(dw: int, dv: int, ma: int) -> int:
    """Permille; apparent power dV*mA is in units of 1e-4 VA, active dW in 1e-1 W."""
    # Scaled so every intermediate stays a small int at 3 kW: dw * 1e4 < 2**30.
    apparent = dv * ma // 100  # 1e-2 VA
    if apparent <= 0:
        return 0
    pf = dw * 10000 // apparent
    return 1000 if pf > 1000 else pf


class EnergyCounter:
    """Turns CF pulses into mWh without losing the fractions between calls."""

    def __init__(self) -> None:
        self._rem = 0  # 1/64 mW*s not yet a whole mWh
        self._k = MW_PER_HZ * 64

    def calibrate(self, cal: int) -> None:
        self._k = (MW_PER_HZ * cal) >> 4  # 1/64 mW*s per pulse

    def add(self, count: int) -> int:
        """Adds `count` CF pulses; returns the whole mWh they completed."""
        self._rem += count * self._k
        mwh = self._rem // 230400  # 3600 s * 64
        self._rem -= mwh * 230400
        return mwh


def pulses(rate_milli_hz: int, window_ms: int, carry: list[int], slot: int) -> int:
    """Whole pulses a wave of `rate_milli_hz` produces in `window_ms`, carrying the fraction in
    carry[slot] (used by the simulation to play the chip)."""
    total = rate_milli_hz * window_ms + carry[slot]
    n = total // 1000000
    carry[slot] = total - n * 1000000
    return int(n)
