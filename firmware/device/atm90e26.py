# ATM90E26 single-phase metering chip over UART (9600 8N1), for poles built with a register-based
# meter instead of the BL0937's pulses.
#
# Frame (datasheet, UART interface): the host sends 0xFE, then the register address with bit 7
# set for a read, then a checksum; a read is answered with MSB, LSB and (MSB + LSB) & 0xFF. A write
# sends 0xFE, address, MSB, LSB, (address + MSB + LSB) & 0xFF and is answered with that checksum.
#
# Registers used: Urms 0x49 (0.01 V), Irms 0x48 (mA), Pmean 0x4A (W, two's complement), PowerF
# 0x4D (0.001, sign and magnitude), APenergy 0x40 (forward active energy, 0.1 Wh per count at
# PLconst = 1000 imp/kWh, cleared on read), SysStatus 0x01.

import time

import hal

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

R_SYSSTATUS = const(0x01)
R_APENERGY = const(0x40)
R_IRMS = const(0x48)
R_URMS = const(0x49)
R_PMEAN = const(0x4A)
R_POWERF = const(0x4D)


class ChipError(Exception):
    pass


class Atm90e26(hal.Meter):
    def __init__(self, uart: object, clock: object) -> None:
        self.uart = uart  # machine.UART(..., baudrate=9600, timeout=50) or a test double
        self.clock = clock  # fn() -> ms
        self._tx = bytearray(5)
        self._rx = bytearray(3)
        self._cal_v = 1024
        self._cal_i = 1024
        self._cal_p = 1024
        self._e_rem = 0
        self._last = clock()  # type: ignore[operator]

    def calibrate(self, v_q10: int, i_q10: int, p_q10: int) -> None:
        self._cal_v = v_q10
        self._cal_i = i_q10
        self._cal_p = p_q10

    def reg(self, addr: int) -> int:
        t = self._tx
        t[0] = 0xFE
        t[1] = 0x80 | addr
        t[2] = 0x80 | addr
        u = self.uart
        while u.any():  # type: ignore[attr-defined]
            u.read()  # type: ignore[attr-defined]
        u.write(memoryview(t)[:3])  # type: ignore[attr-defined]
        r = self._rx
        n = u.readinto(r)  # type: ignore[attr-defined]
        if n != 3 or (r[0] + r[1]) & 0xFF != r[2]:
            raise ChipError("no or bad answer from meter chip")
        return r[0] << 8 | r[1]

    def write_reg(self, addr: int, value: int) -> None:
        t = self._tx
        t[0] = 0xFE
        t[1] = addr & 0x7F
        t[2] = value >> 8
        t[3] = value & 0xFF
        t[4] = (t[1] + t[2] + t[3]) & 0xFF
        u = self.uart
        u.write(t)  # type: ignore[attr-defined]
        r = self._rx
        if u.readinto(memoryview(r)[:1]) != 1 or r[0] != t[4]:  # type: ignore[attr-defined]
            raise ChipError("meter chip did not confirm the write")

    def read(self, out: list[int]) -> bool:
        now = self.clock()  # type: ignore[operator]
        try:
            cv = self.reg(R_URMS)  # 0.01 V
            ci = self.reg(R_IRMS)  # mA
            p = self.reg(R_PMEAN)  # W
            pf = self.reg(R_POWERF)
            e = self.reg(R_APENERGY)  # 0.1 Wh
        except (ChipError, OSError):
            return False
        if p & 0x8000:
            p -= 0x10000
        if pf & 0x8000:
            pf = -(pf & 0x7FFF)
        out[hal.M_DV] = (cv // 10 * self._cal_v) >> 10
        out[hal.M_MA] = (ci * self._cal_i) >> 10
        out[hal.M_DW] = (p * 10 * self._cal_p) >> 10
        out[hal.M_PF] = pf if pf >= 0 else -pf
        # 0.1 Wh counts -> mWh, calibrated, keeping the fraction.
        self._e_rem += e * 100 * self._cal_p
        mwh = self._e_rem >> 10
        self._e_rem -= mwh << 10
        out[hal.M_MWH] = mwh
        out[hal.M_WINDOW_MS] = time.ticks_diff(now, self._last)
        self._last = now
        return True
