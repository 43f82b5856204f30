# Semtech SX1262 over SPI (commands, with the BUSY line), as on Heltec V3 and LilyGO T3-S3 boards:
# the chip side of lorachip.ClassA. Commands from the SX1261/2 datasheet (rev. 2.1, chapter 13).
#
# Not run in this repository (no radio on the build machine): compiled by mpy-cross and type-checked
# against micropython-esp32-stubs; docs/firmware.md says what was checked where.

import asyncio
import time

import lorachip

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs
    from typing import Any

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

_SET_STANDBY = const(0x80)
_SET_PACKET_TYPE = const(0x8A)
_SET_RF_FREQUENCY = const(0x86)
_SET_PA_CONFIG = const(0x95)
_SET_TX_PARAMS = const(0x8E)
_SET_MODULATION_PARAMS = const(0x8B)
_SET_PACKET_PARAMS = const(0x8C)
_SET_BUFFER_BASE = const(0x8F)
_SET_DIO_IRQ_PARAMS = const(0x08)
_SET_DIO2_RF_SWITCH = const(0x9D)
_SET_DIO3_TCXO = const(0x97)
_SET_REGULATOR = const(0x96)
_CALIBRATE = const(0x89)
_CALIBRATE_IMAGE = const(0x98)
_SET_LORA_SYMB_TIMEOUT = const(0xA0)
_WRITE_BUFFER = const(0x0E)
_READ_BUFFER = const(0x1E)
_WRITE_REGISTER = const(0x0D)
_READ_REGISTER = const(0x1D)
_SET_TX = const(0x83)
_SET_RX = const(0x82)
_GET_IRQ_STATUS = const(0x12)
_CLEAR_IRQ = const(0x02)
_GET_RX_BUFFER_STATUS = const(0x13)

_IRQ_TX_DONE = const(0x0001)
_IRQ_RX_DONE = const(0x0002)
_IRQ_HEADER_ERR = const(0x0020)
_IRQ_CRC_ERR = const(0x0040)
_IRQ_TIMEOUT = const(0x0200)

_REG_SYNC_WORD = const(0x0740)
_REG_IQ_POLARITY = const(0x0736)  # datasheet 15.4: fix for inverted IQ reception
_BW_125 = const(0x04)
_CR_45 = const(0x01)
_TCXO_MV = (1600, 1700, 1800, 2200, 2400, 2700, 3000, 3300)
_POLL_MS = const(2)
_TX_TIMEOUT_MS = const(3000)
_RX_TIMEOUT_MS = const(3000)


class Sx126x(lorachip.Chip):
    def __init__(self, spi: "Any", cs: "Any", busy: "Any", reset: "Any" = None, power_dbm: int = 14,
                 tcxo_mv: int = 0, rf_switch_dio2: bool = True) -> None:
        self.spi = spi
        self.cs = cs
        self.busy = busy
        self._st = bytearray(4)
        if reset is not None:
            reset(0)
            time.sleep_ms(1)
            reset(1)
        cs(1)
        self._cmd(_SET_STANDBY, 0x00)  # STDBY_RC
        if tcxo_mv:
            # DIO3 powers the TCXO: 1.6 V .. 3.3 V codes 0..7; 5 ms to settle (in 15.625 us steps).
            code = _TCXO_MV.index(tcxo_mv) if tcxo_mv in _TCXO_MV else 2
            self._cmd(_SET_DIO3_TCXO, code, 0x00, 0x01, 0x40)
        self._cmd(_CALIBRATE, 0x7F)
        self._wait()
        self._cmd(_SET_REGULATOR, 0x01)  # DC-DC
        if rf_switch_dio2:
            self._cmd(_SET_DIO2_RF_SWITCH, 0x01)
        self._cmd(_SET_PACKET_TYPE, 0x01)  # LoRa
        self._cmd(_CALIBRATE_IMAGE, 0xE1, 0xE9)  # 902-928 MHz band, which holds AS923-2
        self._reg(_REG_SYNC_WORD, 0x34)  # the public LoRaWAN network: 0x3444
        self._reg(_REG_SYNC_WORD + 1, 0x44)
        p = power_dbm if -9 <= power_dbm <= 22 else 14
        self._cmd(_SET_PA_CONFIG, 0x04, 0x07, 0x00, 0x01)  # SX1262, up to +22 dBm
        self._cmd(_SET_TX_PARAMS, p & 0xFF, 0x04)  # 200 us ramp
        self._cmd(_SET_BUFFER_BASE, 0x00, 0x00)
        irq = _IRQ_TX_DONE | _IRQ_RX_DONE | _IRQ_TIMEOUT | _IRQ_CRC_ERR | _IRQ_HEADER_ERR
        self._cmd(_SET_DIO_IRQ_PARAMS, irq >> 8, irq & 0xFF, irq >> 8, irq & 0xFF, 0, 0, 0, 0)
        if self._read_reg(_REG_SYNC_WORD) != 0x34:
            raise OSError("no SX1262 answers on the SPI bus")

    # --- SPI ---------------------------------------------------------------------------------
    def _wait(self) -> None:
        start = time.ticks_ms()
        while self.busy():
            if time.ticks_diff(time.ticks_ms(), start) > 100:
                raise OSError("SX126x stays busy")

    def _cmd(self, *args: int) -> None:
        self._wait()
        self.cs(0)
        self.spi.write(bytes(args))
        self.cs(1)

    def _query(self, op: int, n: int) -> bytearray:
        """An opcode, a status byte and n bytes of answer."""
        self._wait()
        buf = bytearray(n + 2)
        buf[0] = op
        self.cs(0)
        self.spi.write_readinto(buf, buf)
        self.cs(1)
        return buf

    def _reg(self, addr: int, value: int) -> None:
        self._cmd(_WRITE_REGISTER, addr >> 8, addr & 0xFF, value)

    def _read_reg(self, addr: int) -> int:
        self._wait()
        buf = bytearray(5)
        buf[0] = _READ_REGISTER
        buf[1] = addr >> 8
        buf[2] = addr & 0xFF
        self.cs(0)
        self.spi.write_readinto(buf, buf)
        self.cs(1)
        return buf[4]

    def _irq(self) -> int:
        b = self._query(_GET_IRQ_STATUS, 2)
        return (b[2] << 8) | b[3]

    def _setup(self, freq: int, sf: int, uplink: bool, length: int) -> None:
        self._cmd(_SET_STANDBY, 0x00)
        f = (freq << 25) // 32000000
        self._cmd(_SET_RF_FREQUENCY, (f >> 24) & 0xFF, (f >> 16) & 0xFF, (f >> 8) & 0xFF, f & 0xFF)
        self._cmd(_SET_MODULATION_PARAMS, sf, _BW_125, _CR_45, 1 if sf >= 11 else 0)
        # Preamble 8, explicit header, CRC on uplinks only, IQ inverted for downlinks.
        self._cmd(_SET_PACKET_PARAMS, 0x00, 0x08, 0x00, length, 1 if uplink else 0, 0 if uplink else 1)
        v = self._read_reg(_REG_IQ_POLARITY)
        self._reg(_REG_IQ_POLARITY, (v | 0x04) if uplink else (v & 0xFB))
        self._cmd(_CLEAR_IRQ, 0xFF, 0xFF)

    # --- lorachip.Chip -------------------------------------------------------------------------
    async def send(self, frame: bytes, freq: int, sf: int) -> bool:
        self._setup(freq, sf, True, len(frame))
        self._wait()
        self.cs(0)
        self.spi.write(bytes((_WRITE_BUFFER, 0)))
        self.spi.write(frame)
        self.cs(1)
        self._cmd(_SET_TX, 0, 0, 0)  # no chip timeout: we watch the clock ourselves
        start = time.ticks_ms()
        while not self._irq() & _IRQ_TX_DONE:
            if time.ticks_diff(time.ticks_ms(), start) > _TX_TIMEOUT_MS:
                self._cmd(_SET_STANDBY, 0x00)
                return False
            await asyncio.sleep_ms(_POLL_MS)
        self._cmd(_CLEAR_IRQ, 0xFF, 0xFF)
        return True

    async def listen(self, freq: int, sf: int, symbols: int) -> "bytes | None":
        self._setup(freq, sf, False, 255)
        self._cmd(_SET_LORA_SYMB_TIMEOUT, symbols & 0xFF)
        self._cmd(_SET_RX, 0, 0, 0)  # single reception, ended by the symbol timeout
        start = time.ticks_ms()
        while True:
            irq = self._irq()
            if irq & (_IRQ_RX_DONE | _IRQ_TIMEOUT | _IRQ_HEADER_ERR):
                break
            if time.ticks_diff(time.ticks_ms(), start) > _RX_TIMEOUT_MS:
                irq = 0
                break
            await asyncio.sleep_ms(_POLL_MS)
        self._cmd(_CLEAR_IRQ, 0xFF, 0xFF)
        self._cmd(_SET_STANDBY, 0x00)
        if not irq & _IRQ_RX_DONE or irq & _IRQ_CRC_ERR:
            return None
        st = self._query(_GET_RX_BUFFER_STATUS, 2)
        n, at = st[2], st[3]
        buf = bytearray(n + 3)
        buf[0] = _READ_BUFFER
        buf[1] = at
        self._wait()
        self.cs(0)
        self.spi.write_readinto(buf, buf)
        self.cs(1)
        return bytes(buf[3:])
