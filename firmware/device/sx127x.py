# Semtech SX1276/SX1278 (HopeRF RFM95W) in LoRa mode over SPI, as on TTGO LoRa32 and Heltec V2
# boards: the chip side of lorachip.ClassA. Registers from the SX1276 datasheet (rev. 7, 6.4).
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

_FIFO = const(0x00)
_OP_MODE = const(0x01)
_FRF_MSB = const(0x06)
_PA_CONFIG = const(0x09)
_OCP = const(0x0B)
_LNA = const(0x0C)
_FIFO_ADDR_PTR = const(0x0D)
_FIFO_TX_BASE = const(0x0E)
_FIFO_RX_BASE = const(0x0F)
_FIFO_RX_CURRENT = const(0x10)
_IRQ_FLAGS = const(0x12)
_RX_NB_BYTES = const(0x13)
_MODEM_CONFIG1 = const(0x1D)
_MODEM_CONFIG2 = const(0x1E)
_SYMB_TIMEOUT_LSB = const(0x1F)
_PREAMBLE_MSB = const(0x20)
_PREAMBLE_LSB = const(0x21)
_PAYLOAD_LENGTH = const(0x22)
_MODEM_CONFIG3 = const(0x26)
_DETECT_OPTIMIZE = const(0x31)
_INVERT_IQ = const(0x33)
_DETECTION_THRESHOLD = const(0x37)
_SYNC_WORD = const(0x39)
_INVERT_IQ2 = const(0x3B)
_VERSION = const(0x42)
_PA_DAC = const(0x4D)

_LONG_RANGE = const(0x80)  # LoRa, not FSK
_SLEEP = const(0)
_STDBY = const(1)
_TX = const(3)
_RX_SINGLE = const(6)

_IRQ_RX_TIMEOUT = const(0x80)
_IRQ_RX_DONE = const(0x40)
_IRQ_CRC_ERROR = const(0x20)
_IRQ_VALID_HEADER = const(0x10)
_IRQ_TX_DONE = const(0x08)

_BW125_CR45 = const(0x72)  # ModemConfig1: bandwidth 125 kHz, coding rate 4/5, explicit header
_SYNC_LORAWAN = const(0x34)  # the public LoRaWAN network's sync word
_POLL_MS = const(2)
_TX_TIMEOUT_MS = const(3000)  # the longest frame allowed under the dwell limit is 400 ms
_RX_TIMEOUT_MS = const(3000)  # a frame whose header was heard is complete well within this


class Sx127x(lorachip.Chip):
    def __init__(self, spi: "Any", cs: "Any", reset: "Any" = None, power_dbm: int = 14) -> None:
        self.spi = spi
        self.cs = cs
        self._b = bytearray(2)
        if reset is not None:
            reset(0)
            time.sleep_ms(1)
            reset(1)
            time.sleep_ms(6)
        cs(1)
        if self._read(_VERSION) != 0x12:
            raise OSError("no SX1276/78 answers on the SPI bus")
        self._write(_OP_MODE, _SLEEP)  # LoRa mode can only be chosen asleep
        self._write(_OP_MODE, _LONG_RANGE | _SLEEP)
        self._write(_FIFO_TX_BASE, 0)
        self._write(_FIFO_RX_BASE, 0)
        self._write(_LNA, 0x23)  # highest gain, LNA boost
        self._write(_SYNC_WORD, _SYNC_LORAWAN)
        self._write(_PREAMBLE_MSB, 0)
        self._write(_PREAMBLE_LSB, 8)
        # PA_BOOST pin, 2..17 dBm (AS923 allows 16 dBm EIRP: keep antenna gain in mind).
        p = power_dbm if 2 <= power_dbm <= 17 else 14
        self._write(_PA_DAC, 0x84)
        self._write(_PA_CONFIG, 0x80 | (p - 2))
        self._write(_OCP, 0x2B)  # 100 mA
        self._mode(_STDBY)

    # --- SPI ---------------------------------------------------------------------------------
    def _read(self, reg: int) -> int:
        b = self._b
        b[0] = reg & 0x7F
        b[1] = 0
        self.cs(0)
        self.spi.write_readinto(b, b)
        self.cs(1)
        return b[1]

    def _write(self, reg: int, value: int) -> None:
        b = self._b
        b[0] = reg | 0x80
        b[1] = value & 0xFF
        self.cs(0)
        self.spi.write(b)
        self.cs(1)

    def _mode(self, mode: int) -> None:
        self._write(_OP_MODE, _LONG_RANGE | mode)

    def _setup(self, freq: int, sf: int, uplink: bool) -> None:
        self._mode(_STDBY)
        frf = (freq << 19) // 32000000  # 61.035 Hz steps of the 32 MHz crystal
        self._write(_FRF_MSB, frf >> 16)
        self._write(_FRF_MSB + 1, frf >> 8)
        self._write(_FRF_MSB + 2, frf)
        self._write(_MODEM_CONFIG1, _BW125_CR45)
        # Uplinks carry a payload CRC; downlinks do not (LoRaWAN 1.0, 4).
        self._write(_MODEM_CONFIG2, (sf << 4) | (0x04 if uplink else 0))
        # Low data rate optimisation where a symbol lasts 16 ms or more (SF11, SF12); AGC on.
        self._write(_MODEM_CONFIG3, (0x08 if sf >= 11 else 0) | 0x04)
        self._write(_DETECT_OPTIMIZE, 0xC3)
        self._write(_DETECTION_THRESHOLD, 0x0A)
        # Nodes send plain and hear inverted IQ, so lamps never hear each other.
        self._write(_INVERT_IQ, 0x27 if uplink else 0x66)
        self._write(_INVERT_IQ2, 0x1D if uplink else 0x19)
        self._write(_IRQ_FLAGS, 0xFF)

    # --- lorachip.Chip -------------------------------------------------------------------------
    async def send(self, frame: bytes, freq: int, sf: int) -> bool:
        self._setup(freq, sf, True)
        self._write(_FIFO_ADDR_PTR, 0)
        for x in frame:
            self._write(_FIFO, x)
        self._write(_PAYLOAD_LENGTH, len(frame))
        self._mode(_TX)
        start = time.ticks_ms()
        while not self._read(_IRQ_FLAGS) & _IRQ_TX_DONE:
            if time.ticks_diff(time.ticks_ms(), start) > _TX_TIMEOUT_MS:
                self._mode(_STDBY)
                return False
            await asyncio.sleep_ms(_POLL_MS)
        self._write(_IRQ_FLAGS, 0xFF)
        self._mode(_STDBY)
        return True

    async def listen(self, freq: int, sf: int, symbols: int) -> "bytes | None":
        self._setup(freq, sf, False)
        self._write(_MODEM_CONFIG2, (sf << 4) | ((symbols >> 8) & 0x03))
        self._write(_SYMB_TIMEOUT_LSB, symbols & 0xFF)
        self._write(_FIFO_ADDR_PTR, 0)
        self._mode(_RX_SINGLE)
        start = time.ticks_ms()
        while True:
            flags = self._read(_IRQ_FLAGS)
            if flags & (_IRQ_RX_DONE | _IRQ_RX_TIMEOUT):
                break
            if time.ticks_diff(time.ticks_ms(), start) > _RX_TIMEOUT_MS:
                flags = 0
                break
            await asyncio.sleep_ms(_POLL_MS)
        self._write(_IRQ_FLAGS, 0xFF)
        self._mode(_STDBY)
        if not flags & _IRQ_RX_DONE or flags & _IRQ_CRC_ERROR:
            return None
        n = self._read(_RX_NB_BYTES)
        self._write(_FIFO_ADDR_PTR, self._read(_FIFO_RX_CURRENT))
        buf = bytearray(n)
        for k in range(n):
            buf[k] = self._read(_FIFO)
        return bytes(buf)

    def sleep(self) -> None:
        self._mode(_SLEEP)
