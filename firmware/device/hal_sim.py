# Simulation HAL for the MicroPython unix port: the real firmware drives a modelled pole.
#
# Tests and the fleet simulator steer the world through <state>/sim/control.json (written
# atomically by the host, see firmware/tools/simcontrol.py) and watch it through
# <state>/sim/status.json, which this module rewrites about twice a second:
#
#   speed        time acceleration (int >= 1): device time and world time run this much faster
#   t0, anchor   world clock: world = t0 + (host_time - anchor) * speed  (Unix seconds)
#   mains_v      mains voltage; lamp_failed, driver_failed, cycling (bool); relay_stuck
#                ("", "closed", "open"); rated_w; ambient_c
#   lux          photocell reading; null = follow the sun at the pole; photocell: false = none
#   rtc_battery  false: the RTC forgets the time when power is cut (process killed)
#   ntp, net     false: no time server / no network link
#   meter_dead, dimmer_dead   the meter stops answering / the dimmer output reads back 0
#   hang         a new value blocks the event loop once (a firmware hang: the watchdog must fire)
#   crash_boots  the firmware crashes at start-up this many times (a boot loop: safe mode follows)
#
# Resets: the firmware exits with RESET_EXIT after writing the cause to <state>/sim/reset; the
# host launcher (terang firmware run-sim) starts it again, as the pole's power supply would. A
# process killed from outside comes back with cause "power".

import _thread
import asyncio
import os
import sys
import time

import bl0937
import elecmodel
import fsslots
import hal
import store
import suntime

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs
    from typing import Any

RESET_EXIT = 3
_WDT_POLL_MS = 100
_RX_POLL_MS = 5
_MEDIUM_RETRY_MS = 10000  # real ms between attempts to register with an absent medium


def _host_ms() -> int:
    return time.time_ns() // 1000000


class SimDimmer(hal.Dimmer):
    def __init__(self) -> None:
        self.value = 0
        self.dead = False

    def write(self, permyriad: int) -> None:
        self.value = permyriad

    def read(self) -> int:
        return 0 if self.dead else self.value


class SimRelay(hal.Relay):
    def __init__(self) -> None:
        self.closed = False

    def set(self, closed: bool) -> None:
        self.closed = closed

    def get(self) -> bool:
        return self.closed


class SimMeter(hal.Meter):
    """Plays a BL0937: the model's power, voltage and current become pulse counts, which the same
    conversion as on the pole turns back into readings."""

    def __init__(self, sim: "HalSim") -> None:
        self._sim = sim
        self._carry = [0, 0, 0]
        self._last = sim.ticks_ms()
        self._cal_v = bl0937.CAL_ONE
        self._cal_i = bl0937.CAL_ONE
        self._cal_p = bl0937.CAL_ONE
        self._energy = bl0937.EnergyCounter()
        self.dead = False
        # The physical chip's own spread, which calibration must take out.
        self.gain_v = 1.0
        self.gain_i = 1.0
        self.gain_p = 1.0

    def calibrate(self, v_q10: int, i_q10: int, p_q10: int) -> None:
        self._cal_v = v_q10
        self._cal_i = i_q10
        self._cal_p = p_q10
        self._energy.calibrate(p_q10)

    def read(self, out: list[int]) -> bool:
        now = self._sim.ticks_ms()
        window = time.ticks_diff(now, self._last)
        self._last = now
        sim = self._sim
        model = sim.model
        model.step(sim.dimmer.value / 10000.0, sim.relay.closed, window / 1000.0)
        if self.dead or window <= 0:
            return False
        # Nominal chip frequencies (mHz) for the modelled quantities.
        f_p = int(model.p * self.gain_p * 1000000 / bl0937.MW_PER_HZ)
        f_v = int(model.v * self.gain_v * 10000000 / bl0937.DV_PER_KHZ)
        f_i = int(model.i * self.gain_i * 100000000 / bl0937.MA_PER_HHZ)
        n_p = bl0937.pulses(f_p, window, self._carry, 0)
        n_v = bl0937.pulses(f_v, window, self._carry, 1)
        n_i = bl0937.pulses(f_i, window, self._carry, 2)
        out[hal.M_DV] = bl0937.voltage_dv(n_v, window, self._cal_v)
        out[hal.M_MA] = bl0937.current_ma(n_i, window, self._cal_i)
        out[hal.M_DW] = bl0937.power_dw(n_p, window, self._cal_p)
        out[hal.M_PF] = bl0937.power_factor(out[hal.M_DW], out[hal.M_DV], out[hal.M_MA])
        out[hal.M_MWH] = self._energy.add(n_p)
        out[hal.M_WINDOW_MS] = window
        return True


class SimPhotocell(hal.Photocell):
    def __init__(self, sim: "HalSim") -> None:
        self._sim = sim

    def lux(self) -> int:
        c = self._sim.control
        if not c.get("photocell", True):
            return -1
        lux = c.get("lux")
        if lux is not None:
            return int(lux)
        w = self._sim.world()
        # Solar time zone from the longitude: the local date must be the pole's, not Greenwich's.
        tz = int(self._sim.lon / 15 + (0.5 if self._sim.lon >= 0 else -0.5)) * 60
        return 2 if suntime.is_night(w, self._sim.lat, self._sim.lon, tz) else 20000


class SimRtc(hal.Rtc):
    """The controller's clock: an offset from world time, lost on a power cut without battery."""

    def __init__(self, sim: "HalSim", cause: str) -> None:
        self._sim = sim
        self._path = sim.simdir + "rtc.json"
        st = store.load(self._path, {})
        assert isinstance(st, dict)
        self.valid = bool(st.get("valid", False))
        self.offset = int(st.get("offset", 0))
        if cause == "power" and not sim.control.get("rtc_battery", True):
            self.valid = False
            self._save()

    def _save(self) -> None:
        store.save(self._path, {"valid": self.valid, "offset": self.offset})

    def time(self) -> int:
        if not self.valid:
            return -1
        return self._sim.world() + self.offset

    def set(self, unix: int) -> None:
        self.offset = unix - self._sim.world()
        self.valid = True
        self._save()


class SimNet(hal.Net):
    bearer = "eth"  # loopback to the broker; the protocol has no "sim" bearer

    def __init__(self, sim: "HalSim") -> None:
        self._sim = sim

    async def up(self) -> bool:
        return bool(self._sim.control.get("net", True))

    def ntp(self) -> int:
        if not self._sim.control.get("ntp", True) or not self._sim.control.get("net", True):
            return -1
        return self._sim.world()


class SimRadio(hal.LoraRadio):
    """The simulated LoRa medium (docs/lora.md) through lorawire.UdpRadio. The receive windows are
    in medium time and waited for in real time with asyncio sleeps, so the controller's other tasks
    run while the radio listens, as they would beside a real transceiver's interrupt."""

    def __init__(self, sim: "HalSim", medium: str, name: str, tx_id: int) -> None:
        host, _, port = medium.rpartition(":")
        self._sim = sim
        self._host = host or "127.0.0.1"
        self._port = int(port)
        self._name = name
        self._tx_id = tx_id
        self._udp: "Any" = None
        self._retry_at = time.ticks_ms()

    def _radio(self) -> "Any":
        if self._udp is None and time.ticks_diff(time.ticks_ms(), self._retry_at) >= 0:
            import lorawire

            try:
                # HELLO and clock sync; a medium that is not there yet is like air nobody listens to.
                self._udp = lorawire.UdpRadio(self._host, self._port, lorawire.ROLE_NODE, self._name)
            except OSError:
                # Registering waits for an answer, blocking the event loop: not again for a while.
                self._retry_at = time.ticks_add(time.ticks_ms(), _MEDIUM_RETRY_MS)
        return self._udp

    async def exchange(self, frame: bytes, freq: int, sf: int, out: "list[int]") -> "bytes | None":
        import airtime
        import lorawire

        out[hal.R_STATUS] = hal.RADIO_FAIL
        out[hal.R_AIRTIME_US] = 0
        out[hal.R_WAIT_MS] = 0
        r = self._radio()
        if r is None:
            return None
        try:
            res = r.transmit(frame, freq, sf, tx_id=self._tx_id)
        except OSError:
            r.close()
            self._udp = None  # register again next time: the medium may have restarted
            return None
        if res.status == lorawire.TX_DUTY_CYCLE:
            out[hal.R_STATUS] = hal.RADIO_BUSY
            out[hal.R_WAIT_MS] = int(r.wall_delay(res.next_free_us) * 1000 * self._sim.speed) + 1
            return None
        if not res.ok:
            return None
        out[hal.R_STATUS] = hal.RADIO_OK
        out[hal.R_AIRTIME_US] = res.airtime_us
        end = res.end_us
        # Nothing can arrive before RX1 opens: sleep till then, then look every few milliseconds.
        first = r.wall_delay(end + int(1000000 * airtime.RECEIVE_DELAY1_S) - lorawire.WINDOW_TOLERANCE_US)
        if first > 0:
            await asyncio.sleep_ms(int(first * 1000))
        close_at = lorawire.class_a_close_us(end)
        while r.wall_delay(close_at) > 0:
            rx = r.poll()
            if rx is None:
                await asyncio.sleep_ms(_RX_POLL_MS)
                continue
            down = lorawire.class_a_match(rx, end, freq, sf, self._tx_id)
            if down is not None:
                return down
        return None


class HalSim(hal.Hal):
    def __init__(self, root: str, lat: float = -4.55, lon: float = 136.88, slot: str = "factory") -> None:
        self.root = root
        self.simdir = root + "sim/"
        try:
            os.mkdir(root + "sim")
        except OSError:
            pass
        self.lat = lat
        self.lon = lon
        self._ctl_path = self.simdir + "control.json"
        self._ctl_sig = (-1, -1.0)
        self.control: "dict[str, Any]" = {}
        self._read_control()
        self.speed = self._speed()
        self._host0 = time.ticks_ms()
        self._dev0 = time.ticks_ms()
        self._cause = self._take_cause()
        self.model = elecmodel.LampModel()
        self.dimmer: SimDimmer = SimDimmer()
        self.relay: SimRelay = SimRelay()
        self.rtc: SimRtc = SimRtc(self, self._cause)
        self.meter: SimMeter = SimMeter(self)
        self.photocell: SimPhotocell = SimPhotocell(self)
        self.net: SimNet = SimNet(self)
        self.slots: fsslots.FileSlots = fsslots.FileSlots(root, slot)
        self.status: "dict[str, object]" = {"slot": slot}
        self._wdt_last = time.ticks_ms()
        self._wdt_timeout = 0
        self._wdt_cmd = ""
        self._apply_control()

    # --- time -------------------------------------------------------------------------------
    def _speed(self) -> int:
        s = int(self.control.get("speed", 1))
        return s if s >= 1 else 1

    def ticks_ms(self) -> "hal.Ticks":
        return time.ticks_add(self._dev0, time.ticks_diff(time.ticks_ms(), self._host0) * self.speed)

    async def sleep_ms(self, ms: int) -> None:
        await asyncio.sleep_ms(ms // self.speed if ms >= self.speed else 1)

    def world(self) -> int:
        """True time in the simulated world (what NTP would say), Unix seconds."""
        c = self.control
        t0 = c.get("t0")
        if t0 is None:
            return _host_ms() // 1000
        anchor_ms = int(float(c.get("anchor", t0)) * 1000)
        return int(t0) + (_host_ms() - anchor_ms) * self.speed // 1000

    # --- control channel ----------------------------------------------------------------------
    def _read_control(self) -> bool:
        try:
            st = os.stat(self._ctl_path)
        except OSError:
            return False
        sig = (int(st[6]), float(st[8]))
        if sig == self._ctl_sig:
            return False
        c = store.load(self._ctl_path, None)
        if not isinstance(c, dict):
            return False  # mid-rename or garbage: keep the old control until the next poll
        self._ctl_sig = sig
        self.control = c
        return True

    def _apply_control(self) -> None:
        c = self.control
        speed = self._speed()
        if speed != self.speed:
            # Rebase so device time stays continuous across a change of pace.
            now = time.ticks_ms()
            self._dev0 = self.ticks_ms()
            self._host0 = now
            self.speed = speed
        m = self.model
        m.mains_v = float(c.get("mains_v", 220.0))
        m.lamp_failed = bool(c.get("lamp_failed", False))
        m.driver_failed = bool(c.get("driver_failed", False))
        m.cycling = bool(c.get("cycling", False))
        m.relay_stuck = str(c.get("relay_stuck", "") or "")
        m.rated_w = float(c.get("rated_w", 100.0))
        m.ambient_c = float(c.get("ambient_c", 28.0))
        self.meter.dead = bool(c.get("meter_dead", False))
        self.meter.gain_v = float(c.get("gain_v", 1.0))
        self.meter.gain_i = float(c.get("gain_i", 1.0))
        self.meter.gain_p = float(c.get("gain_p", 1.0))
        self.dimmer.dead = bool(c.get("dimmer_dead", False))

    async def task(self) -> None:
        n = 0
        while True:
            await asyncio.sleep_ms(200)
            n += 1
            if self._read_control():
                self._apply_control()
                self._inject_hang()
            if n % 2 == 0:
                self._write_status()
            if n % 5 == 0:
                # The size/mtime signature misses two writes within one second of equal size.
                self._ctl_sig = (-1, -1.0)

    def note(self, key: str, value: object) -> None:
        self.status[key] = value

    def _write_status(self) -> None:
        s = self.status
        m = self.model
        s["dev_ms"] = self.ticks_ms()
        s["world"] = self.world()
        s["rtc"] = self.rtc.time()
        s["relay"] = self.relay.closed
        s["out"] = self.dimmer.value
        s["p"] = m.p
        s["v"] = m.v
        s["light"] = m.light
        s["host_ms"] = _host_ms()
        try:
            store.save(self.simdir + "status.json", s)
        except (OSError, MemoryError):
            # The simulation's bookkeeping shares the firmware's heap; under a tight cap it skips a
            # round rather than take the controller down.
            import gc

            gc.collect()

    # --- board --------------------------------------------------------------------------------
    def temperature(self) -> int:
        return int(self.model.temp_c * 10)

    def _faults(self) -> "dict[str, Any]":
        f = store.load(self.simdir + "faults.json", {})
        return f if isinstance(f, dict) else {}

    def _inject_hang(self) -> None:
        token = self.control.get("hang")
        f = self._faults()
        if token is None or f.get("hang") == token:
            return
        f["hang"] = token
        store.save(self.simdir + "faults.json", f)
        print("sim: hanging the event loop")
        while True:
            time.sleep_ms(1000)

    def start_watchdog(self, timeout_ms: int) -> None:
        f = self._faults()
        crashed = int(f.get("crashed", 0))
        if crashed < int(self.control.get("crash_boots", 0)):
            f["crashed"] = crashed + 1
            store.save(self.simdir + "faults.json", f)
            raise RuntimeError("injected start-up crash %d" % (crashed + 1))
        # A thread stands in for the hardware timer: it fires even when the event loop is stuck.
        self._wdt_timeout = timeout_ms
        self._wdt_last = time.ticks_ms()
        self._wdt_cmd = "echo wdt > " + self.simdir + "reset; kill -9 $PPID"
        _thread.start_new_thread(self._watchdog, ())

    def _watchdog(self) -> None:
        while True:
            time.sleep_ms(_WDT_POLL_MS)
            if time.ticks_diff(time.ticks_ms(), self._wdt_last) > self._wdt_timeout:
                # The shell writes the cause and kills us: this thread must not allocate while
                # the main thread might be inside the collector.
                os.system(self._wdt_cmd)
                return

    def feed_watchdog(self) -> None:
        self._wdt_last = time.ticks_ms()

    def reset(self) -> None:
        self._write_cause("soft")
        sys.exit(RESET_EXIT)

    def _write_cause(self, cause: str) -> None:
        with open(self.simdir + "reset", "w") as f:
            f.write(cause)

    def _take_cause(self) -> str:
        try:
            with open(self.simdir + "reset") as f:
                cause = f.read().strip()
            os.remove(self.simdir + "reset")
            return cause or "power"
        except OSError:
            return "power"

    def reset_cause(self) -> str:
        return self._cause

