# ESP32 HAL: the controller board in the Zhaga/NEMA socket.
#
# Wiring comes from device.json "board" (defaults below are the reference board):
#   pwm      GPIO of the PWM into the 0-10 V stage (pwm_invert: the stage pulls the line down)
#   dali     GPIO of the DALI transmitter instead of pwm (RMT channel 0)
#   relay    GPIO of the relay driver (active high)
#   meter    "bl0937" (cf, cf1, sel GPIOs; counted by hardware pulse counters, not interrupts:
#            CF1 runs near 2 kHz at mains voltage) or "atm90e26" (uart id, tx, rx)
#   ldr      ADC GPIO of the photocell divider (omit: no photocell); ldr_k: lux per ADC count
#   ds3231   [sda, scl] of a battery-backed RTC chip (omit: internal RTC only, lost on power cut)
#   modem    [uart id, tx, rx] of a 4G modem for PPP instead of Wi-Fi
#   ota      "fs" (default: bundles in file-system slots) or "partition" (whole MicroPython images)
#   lora     with device.json "bearer": "lora": {"chip": "sx1276" (TTGO LoRa32 pins below) or
#            "sx1262" (Heltec V3: spi 1, sck 9, mosi 10, miso 11, cs 8, rst 12, busy 13), "spi",
#            "sck", "mosi", "miso", "cs", "rst", "busy" (sx1262), "power" dBm, "tcxo" mV}
#            A LoRa controller has no IP link: time comes from its RTC chip and the time command.
#
# Nothing here runs in the test suite (no ESP32 on the build machine): it is compiled by
# mpy-cross and type-checked against micropython-esp32-stubs. docs/firmware.md lists what was
# checked on hardware and what was not.

import asyncio
import time

import bl0937
import esp32  # type: ignore[import-not-found,unused-ignore]
import fsslots
import hal
import machine  # type: ignore[import-not-found,unused-ignore]
import store

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs
    from typing import Any

# Unix seconds at the port's epoch (older ESP32 builds count from 2000-01-01).
_EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
_VALID_AFTER = 1577836800  # 2020-01-01: an RTC earlier than this was reset by a power cut

DEFAULT_BOARD = {
    "pwm": 25, "pwm_invert": False, "relay": 26, "meter": "bl0937", "cf": 34, "cf1": 35, "sel": 27,
}


class PwmDimmer(hal.Dimmer):
    def __init__(self, pin: int, invert: bool) -> None:
        self.pwm = machine.PWM(machine.Pin(pin), freq=1000, duty_u16=65535 if invert else 0)
        self.invert = invert

    def write(self, permyriad: int) -> None:
        d = permyriad * 65535 // 10000
        self.pwm.duty_u16(65535 - d if self.invert else d)

    def read(self) -> int:
        d = self.pwm.duty_u16()
        if self.invert:
            d = 65535 - d
        return (d * 10000 + 32767) // 65535


class PinRelay(hal.Relay):
    def __init__(self, pin: int) -> None:
        self.pin = machine.Pin(pin, machine.Pin.OUT, value=0)

    def set(self, closed: bool) -> None:
        self.pin.value(1 if closed else 0)

    def get(self) -> bool:
        return bool(self.pin.value())


class Bl0937(hal.Meter):
    """CF counts active power continuously; CF1 alternates between voltage and current with SEL,
    one window each, and the last value of the other quantity is held."""

    def __init__(self, cf: int, cf1: int, sel: int) -> None:
        self.cf = machine.Counter(0, machine.Pin(cf, machine.Pin.IN))
        self.cf1 = machine.Counter(1, machine.Pin(cf1, machine.Pin.IN))
        self.sel = machine.Pin(sel, machine.Pin.OUT, value=1)  # 1: CF1 is voltage
        self._last = time.ticks_ms()
        self._cal_v = self._cal_i = self._cal_p = bl0937.CAL_ONE
        self._dv = 0
        self._ma = 0
        self._energy = bl0937.EnergyCounter()

    def calibrate(self, v_q10: int, i_q10: int, p_q10: int) -> None:
        self._cal_v = v_q10
        self._cal_i = i_q10
        self._cal_p = p_q10
        self._energy.calibrate(p_q10)

    def read(self, out: list[int]) -> bool:
        now = time.ticks_ms()
        window = time.ticks_diff(now, self._last)
        self._last = now
        n_p = self.cf.value(0)
        n_1 = self.cf1.value(0)
        if self.sel.value():
            self._dv = bl0937.voltage_dv(n_1, window, self._cal_v)
        else:
            self._ma = bl0937.current_ma(n_1, window, self._cal_i)
        self.sel.value(0 if self.sel.value() else 1)
        out[hal.M_DV] = self._dv
        out[hal.M_MA] = self._ma
        out[hal.M_DW] = bl0937.power_dw(n_p, window, self._cal_p)
        out[hal.M_PF] = bl0937.power_factor(out[hal.M_DW], self._dv, self._ma)
        out[hal.M_MWH] = self._energy.add(n_p)
        out[hal.M_WINDOW_MS] = window
        # A chip without supply produces no CF1 pulses at all, even at zero load.
        return n_1 > 0 or not self.sel.value()


class LdrPhotocell(hal.Photocell):
    def __init__(self, pin: int, k: float) -> None:
        self.adc = machine.ADC(machine.Pin(pin), atten=machine.ADC.ATTN_11DB)
        self.k = k

    def lux(self) -> int:
        # Divider with the LDR on the high side: more light, higher reading.
        return int(self.adc.read_u16() * self.k)


class NoPhotocell(hal.Photocell):
    def lux(self) -> int:
        return -1


class Ds3231:
    def __init__(self, sda: int, scl: int) -> None:
        self.i2c = machine.I2C(0, sda=machine.Pin(sda), scl=machine.Pin(scl), freq=100000)

    def read(self) -> "tuple[int, int, int, int, int, int]":
        b = self.i2c.readfrom_mem(0x68, 0, 7)

        def bcd(x: int) -> int:
            return (x >> 4) * 10 + (x & 0x0F)

        return (2000 + bcd(b[6]), bcd(b[5] & 0x1F), bcd(b[4]), bcd(b[2] & 0x3F), bcd(b[1]), bcd(b[0]))

    def write(self, t: "tuple[int, ...]") -> None:
        def bcd(x: int) -> int:
            return (x // 10) << 4 | (x % 10)

        y, mo, d, h, mi, s = t[0], t[1], t[2], t[3], t[4], t[5]
        self.i2c.writeto_mem(0x68, 0, bytes([bcd(s), bcd(mi), bcd(h), 1, bcd(d), bcd(mo), bcd(y - 2000)]))


class Esp32Rtc(hal.Rtc):
    def __init__(self, chip: object) -> None:
        self.rtc = machine.RTC()
        self.chip = chip
        if chip is not None and self.time() < 0:
            try:
                y, mo, d, h, mi, s = chip.read()  # type: ignore[attr-defined]
                if y >= 2020:
                    self.rtc.datetime((y, mo, d, 0, h, mi, s, 0))
            except OSError:
                pass

    def time(self) -> int:
        t = int(time.time()) + _EPOCH
        return t if t >= _VALID_AFTER else -1

    def set(self, unix: int) -> None:
        tm = time.gmtime(unix - _EPOCH)
        self.rtc.datetime((tm[0], tm[1], tm[2], 0, tm[3], tm[4], tm[5], 0))
        if self.chip is not None:
            try:
                self.chip.write(tm)  # type: ignore[attr-defined]
            except OSError:
                pass


class WifiNet(hal.Net):
    bearer = "wifi"

    def __init__(self, ssid: str, password: str) -> None:
        import network  # type: ignore[import-not-found,unused-ignore]

        self.wlan = network.WLAN(network.STA_IF)
        self.ssid = ssid
        self.password = password

    async def up(self) -> bool:
        w = self.wlan
        if w.isconnected():
            return True
        w.active(True)
        w.connect(self.ssid, self.password)
        for _ in range(150):  # 15 s
            if w.isconnected():
                return True
            await asyncio.sleep_ms(100)
        w.disconnect()
        return False

    def ntp(self) -> int:
        try:
            import ntptime  # type: ignore[import-not-found,unused-ignore]

            ntptime.settime()
            return int(time.time()) + _EPOCH
        except Exception:
            return -1


class PppNet(WifiNet):
    """4G/LTE-M modem on a UART: attach with AT commands, then PPP."""

    bearer = "4g"

    def __init__(self, uart_id: int, tx: int, rx: int, apn: str) -> None:
        import network  # type: ignore[import-not-found,unused-ignore]

        self.uart = machine.UART(uart_id, baudrate=115200, tx=tx, rx=rx, timeout=1000)
        self.apn = apn
        self.ppp = network.PPP(self.uart)

    async def _at(self, cmd: str, expect: bytes = b"OK", wait_ms: int = 2000) -> bool:
        self.uart.write(cmd.encode() + b"\r")
        buf = b""
        for _ in range(wait_ms // 50):
            await asyncio.sleep_ms(50)
            if self.uart.any():
                buf += self.uart.read() or b""
                if expect in buf:
                    return True
        return False

    async def up(self) -> bool:
        p = self.ppp
        if p.isconnected():
            return True
        if not await self._at("AT"):
            return False
        await self._at('AT+CGDCONT=1,"IP","' + self.apn + '"')
        if not await self._at("ATD*99#", b"CONNECT", 10000):
            return False
        p.connect()
        for _ in range(300):
            if p.isconnected():
                return True
            await asyncio.sleep_ms(100)
        return False


class NoNet(hal.Net):
    """A controller whose only link is LoRa: no IP, no NTP."""

    bearer = "lora"

    async def up(self) -> bool:
        return False

    def ntp(self) -> int:
        return -1


LORA_BOARDS = {
    "sx1276": {"spi": 1, "sck": 5, "mosi": 27, "miso": 19, "cs": 18, "rst": 14},
    "sx1262": {"spi": 1, "sck": 9, "mosi": 10, "miso": 11, "cs": 8, "rst": 12, "busy": 13, "tcxo": 1800},
}


def lora_radio(wiring: "dict[str, Any]") -> hal.LoraRadio:
    import lorachip

    w: "dict[str, Any]" = dict(LORA_BOARDS.get(wiring.get("chip", "sx1276"), LORA_BOARDS["sx1276"]))
    w.update(wiring)
    spi = machine.SPI(w["spi"], baudrate=8000000, polarity=0, phase=0, sck=machine.Pin(w["sck"]),
                      mosi=machine.Pin(w["mosi"]), miso=machine.Pin(w["miso"]))
    cs = machine.Pin(w["cs"], machine.Pin.OUT, value=1)
    rst = machine.Pin(w["rst"], machine.Pin.OUT, value=1) if "rst" in w else None
    power = int(w.get("power", 14))
    if w.get("chip") == "sx1262":
        import sx126x

        busy = machine.Pin(w["busy"], machine.Pin.IN)
        chip: lorachip.Chip = sx126x.Sx126x(spi, cs, busy, rst, power, int(w.get("tcxo", 0)))
    else:
        import sx127x

        chip = sx127x.Sx127x(spi, cs, rst, power)
    return lorachip.ClassA(chip)


class PartitionSlots(hal.Slots):
    """esp32.Partition OTA slots. ESP-IDF's boot loader rolls a new image back on the next reset
    unless it calls mark_app_valid_cancel_rollback(); the trial marker file records which image is
    on trial, since MicroPython exposes no call for the image state."""

    def __init__(self, root: str) -> None:
        self.path = root + "slot.json"
        self.running = esp32.Partition(esp32.Partition.RUNNING)  # type: ignore[arg-type]  # stub too narrow
        self.next = self.running.get_next_update()

    def begin(self, size: int) -> int:
        if size > self.next.info()[3]:
            raise OSError("image larger than the OTA partition")
        return 4096

    def write(self, offset: int, buf: bytes) -> None:
        # A whole-block write erases the flash sector first.
        self.next.writeblocks(offset // 4096, buf)

    def readinto(self, offset: int, buf: bytearray) -> int:
        self.next.readblocks(offset // 4096, buf)
        return len(buf)

    def activate(self) -> None:
        self.next.set_boot()
        store.save(self.path, {"trial": self.next.info()[4], "prev": self.running.info()[4]})

    def pending(self) -> bool:
        m = store.load(self.path, {})
        return isinstance(m, dict) and m.get("trial") == self.running.info()[4]

    def mark_valid(self) -> None:
        esp32.Partition.mark_app_valid_cancel_rollback()
        store.remove(self.path)

    def rollback(self) -> None:
        m = store.load(self.path, {})
        if isinstance(m, dict) and m.get("prev"):
            found = esp32.Partition.find(esp32.Partition.TYPE_APP, label=m["prev"])
            if found:
                found[0].set_boot()
        store.remove(self.path)


_CAUSES: "dict[int, str]" = {}


class HalEsp32(hal.Hal):
    def __init__(self, dev: "dict[str, Any]", running: str = "factory") -> None:
        b: "dict[str, Any]" = dict(DEFAULT_BOARD)
        b.update(dev.get("board", {}))
        self.root = "/"
        if "dali" in b:
            import dali

            rmt = esp32.RMT(0, pin=machine.Pin(b["dali"]), clock_div=80, idle_level=True)

            def send(runs: "list[int]", first: int) -> None:
                rmt.write_pulses(runs, bool(first))

            self.dimmer: hal.Dimmer = dali.DaliDimmer(send)
        else:
            self.dimmer = PwmDimmer(b["pwm"], bool(b.get("pwm_invert")))
        self.relay = PinRelay(b["relay"])
        if b.get("meter") == "atm90e26":
            import atm90e26

            u = machine.UART(b["uart"][0], baudrate=9600, tx=b["uart"][1], rx=b["uart"][2], timeout=60)
            self.meter: hal.Meter = atm90e26.Atm90e26(u, time.ticks_ms)
        else:
            self.meter = Bl0937(b["cf"], b["cf1"], b["sel"])
        self.photocell: hal.Photocell = (
            LdrPhotocell(b["ldr"], float(b.get("ldr_k", 0.5))) if "ldr" in b else NoPhotocell()
        )
        chip = Ds3231(b["ds3231"][0], b["ds3231"][1]) if "ds3231" in b else None
        self.rtc = Esp32Rtc(chip)
        if dev.get("bearer") == "lora":
            self.net: hal.Net = NoNet()
            self.radio = lora_radio(b.get("lora", {}))
        elif "modem" in b:
            m = b["modem"]
            self.net = PppNet(m[0], m[1], m[2], dev.get("apn", "internet"))
        else:
            self.net = WifiNet(dev.get("wifi_ssid", ""), dev.get("wifi_password", ""))
        # File-system slots by default (stock MicroPython plus a bundle, as terang flash installs);
        # whole-image partitions for fleets that freeze the firmware into their own image.
        self.slots: hal.Slots = (
            PartitionSlots(self.root) if b.get("ota") == "partition" else fsslots.FileSlots(self.root, running)
        )
        self._wdt: object = None
        _CAUSES[machine.PWRON_RESET] = "power"
        _CAUSES[machine.HARD_RESET] = "hard"
        _CAUSES[machine.WDT_RESET] = "wdt"
        _CAUSES[machine.DEEPSLEEP_RESET] = "deepsleep"
        _CAUSES[machine.SOFT_RESET] = "soft"

    def ticks_ms(self) -> "hal.Ticks":
        return time.ticks_ms()

    async def sleep_ms(self, ms: int) -> None:
        await asyncio.sleep_ms(ms)

    def temperature(self) -> int:
        try:
            return int(esp32.mcu_temperature() * 10)  # type: ignore[attr-defined]  # S2, S3, C3 only
        except AttributeError:
            f = esp32.raw_temperature()  # classic ESP32, Fahrenheit
            return (f - 32) * 50 // 9

    def start_watchdog(self, timeout_ms: int) -> None:
        self._wdt = machine.WDT(timeout=timeout_ms)

    def feed_watchdog(self) -> None:
        if self._wdt is not None:
            self._wdt.feed()  # type: ignore[attr-defined]

    def reset(self) -> None:
        machine.reset()

    def reset_cause(self) -> str:
        return str(_CAUSES.get(machine.reset_cause(), "unknown"))
