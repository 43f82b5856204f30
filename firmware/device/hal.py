# The hardware the controller logic may touch, as small interfaces. Two implementations exist:
# hal_esp32 (machine.PWM/Pin/ADC/RTC/WDT, esp32.Partition, network) and hal_sim (an electrical
# model of lamp and mains for the MicroPython unix port, steered by tests through a control file).
#
# The logic above this line never imports machine, network or esp32: everything it needs from the
# board comes through one Hal object, so the same modules run on the pole and on a laptop.
#
# Units are integers so that the once-a-second paths allocate nothing on a port that boxes floats:
# output in permyriad (0..10000 of full light output), volts in dV, amps in mA, watts in dW,
# power factor in permille, energy in mWh, temperature in deci-degrees Celsius.

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs
    from _mpy_shed.time_mp import _TicksMs

    Ticks = _TicksMs  # what time.ticks_ms() returns: opaque, for ticks_diff/ticks_add only

try:
    from micropython import const
except ImportError:  # CPython imports these modules for tests and host tools
    def const(x: int) -> int:  # type: ignore[misc]
        return x


# Indices into the meter's sample array (see Meter.read).
M_DV = const(0)
M_MA = const(1)
M_DW = const(2)
M_PF = const(3)
M_MWH = const(4)
M_WINDOW_MS = const(5)
M_LEN = const(6)

# LoraRadio.exchange reports into a caller's list at these indices.
R_STATUS = const(0)  # one of RADIO_*
R_AIRTIME_US = const(1)  # time on air of the uplink
R_WAIT_MS = const(2)  # RADIO_BUSY: device ms until the air lets this transmitter send again
R_LEN = const(3)
RADIO_OK = const(0)
RADIO_BUSY = const(1)  # refused: the transmitter's duty cycle is used up
RADIO_FAIL = const(2)  # not sent (no radio, no medium, bad parameters)


class Dimmer:
    """The driver's dimming input: PWM into a 0-10 V stage, or DALI."""

    def write(self, permyriad: int) -> None:
        raise NotImplementedError

    def read(self) -> int:
        """What the output stage reports back; the OTA health check compares it with the write."""
        raise NotImplementedError


class Relay:
    def set(self, closed: bool) -> None:
        raise NotImplementedError

    def get(self) -> bool:
        raise NotImplementedError


class Meter:
    def calibrate(self, v_q10: int, i_q10: int, p_q10: int) -> None:
        """Calibration factors in 1/1024 units (1024 = nominal)."""
        raise NotImplementedError

    def read(self, out: list[int]) -> bool:
        """Fills out[M_*] with the averages since the previous call (energy as the increment);
        False when the meter did not answer."""
        raise NotImplementedError


class Photocell:
    def lux(self) -> int:
        """Ambient light in lux; -1 when the pole has no photocell."""
        raise NotImplementedError


class Rtc:
    def time(self) -> int:
        """Unix seconds, or -1 when the clock does not hold a valid time (after a power cut
        without backup battery, before NTP)."""
        raise NotImplementedError

    def set(self, unix: int) -> None:
        raise NotImplementedError


class Net:
    bearer = "none"

    async def up(self) -> bool:
        """Brings the link up (Wi-Fi association, modem attach); True when IP traffic can flow."""
        raise NotImplementedError

    def ntp(self) -> int:
        """Unix seconds from a time server, or -1."""
        raise NotImplementedError


class LoraRadio:
    """A LoRa transceiver used as a class A end device (docs/lora.md): every exchange is one uplink,
    then the two receive windows, RX1 on the uplink's channel and spreading factor 1 s after it ended
    and RX2 on 921.4 MHz SF10 after 2 s. Frames are whole PHY payloads (LoRaWAN-shaped, lorawire.py);
    the caller builds and parses them, keeps the duty cycle, and decides what to send."""

    async def exchange(self, frame: bytes, freq: int, sf: int, out: "list[int]") -> "bytes | None":
        """Sends `frame` as an uplink (payload CRC on, IQ normal) and listens in both windows (IQ
        inverted). Fills out[R_*]; returns the first downlink heard, or None. Waits without blocking
        the event loop."""
        raise NotImplementedError


class Slots:
    """A/B image slots. One runs; an update is written into the other, booted once on trial, and
    rolled back by the boot loader unless the new image marks itself valid."""

    def begin(self, size: int) -> int:
        """Prepares the inactive slot; returns the block size writes should be aligned to."""
        raise NotImplementedError

    def write(self, offset: int, buf: bytes) -> None:
        raise NotImplementedError

    def readinto(self, offset: int, buf: bytearray) -> int:
        raise NotImplementedError

    def activate(self) -> None:
        """Makes the inactive slot boot next, on trial."""
        raise NotImplementedError

    def pending(self) -> bool:
        """True when the running image is on trial (booted once, not yet marked valid)."""
        raise NotImplementedError

    def mark_valid(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        """Boots the previous image next (the caller resets)."""
        raise NotImplementedError


class Hal:
    dimmer: Dimmer
    relay: Relay
    meter: Meter
    photocell: Photocell
    rtc: Rtc
    net: Net
    slots: Slots
    # The LoRa transceiver when device.json selects the LoRa bearer; None otherwise.
    radio: "LoraRadio | None" = None
    # Where files live ("" or a directory ending in "/").
    root = ""
    # Accelerated time in the simulation; always 1 on hardware.
    speed = 1

    def ticks_ms(self) -> "Ticks":
        """Monotonic device milliseconds, for time.ticks_diff/ticks_add like time.ticks_ms()."""
        raise NotImplementedError

    async def sleep_ms(self, ms: int) -> None:
        """Sleeps `ms` of device time."""
        raise NotImplementedError

    def temperature(self) -> int:
        """Controller temperature in deci-degrees Celsius, or -32768 when unknown."""
        raise NotImplementedError

    def start_watchdog(self, timeout_ms: int) -> None:
        raise NotImplementedError

    def feed_watchdog(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def reset_cause(self) -> str:
        raise NotImplementedError

    def note(self, key: str, value: object) -> None:
        """Publishes a value to the simulation's status file; nothing on hardware."""

    async def task(self) -> None:
        """Background work of the HAL itself (the simulation polls its control file)."""
