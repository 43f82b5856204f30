# The lamp controller: the tasks that keep one pole lit, measured and reachable.
#
#   control   once a second (device time): meter -> readings, faults, lighting policy, OTA trial
#   uplink    events first, then journal records the server has not acknowledged, in batches
#   commands  operator commands, one at a time, each answered with an outcome event
#   network   link up, time from NTP
#   mqtt      the broker connection (mqtt.py); dimmer: fades (dimming.py)
#   lora      instead of mqtt and uplink when device.json says "bearer": "lora" (lorabearer.py)
#   supervisor  feeds the watchdog only while all of the above beat
#
# Files in the HAL's root: device.json (provisioned identity, never written here), config.json
# (last server config), state.json (override, energy, last known time), journal.bin(.meta),
# boot.json (boot-loop guard), ota.json (update in progress or on trial).

import asyncio
import gc
import time

import bl0937
import bootguard
import brokerurl
import codec
import dimming
import faults
import hal
import journal
import policy
import store
import supervisor
import version

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs
    from typing import Any

    import lorabearer as _lora_t
    import mqtt as _mqtt_t
    import ota as _ota_t

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

BATCH = const(16)  # readings per replay message: ~2 KB of JSON, bounded heap
MAX_EVENTS = const(16)  # events queued while offline; the oldest go first when full
ACK_WAIT_MS = const(30000)  # real ms without the server's ack before re-sending from it
ACK_WAIT_MAX_MS = const(1800000)
STATE_MS = const(600000)  # device ms between saves of energy and last known time
IDENTIFY_MS = const(1000)
HEALTH_S = const(300)  # device seconds an OTA image on trial has to prove itself
DAY_MARGIN_S = const(2700)  # lit within 45 min of sunrise or sunset is dusk and dawn, not day burning
MEM_MS = const(10000)  # real ms between heap measurements
NOTE_MS = const(200)  # real ms between updates of the simulation's status (nothing on hardware)

FAULT_FLAGS = (
    codec.F_LAMP_FAILURE,
    codec.F_DRIVER_FAILURE,
    codec.F_RELAY_FAILURE,
    codec.F_DAY_BURNING,
    codec.F_CYCLING,
    codec.F_OVER_VOLTAGE,
    codec.F_UNDER_VOLTAGE,
    codec.F_THERMAL_DERATING,
    codec.F_METER_FAULT,
)
CAUSES = {"power": "power_on", "hard": "hard", "wdt": "wdt", "soft": "soft", "deepsleep": "deepsleep"}


def _q10(x: object) -> int:
    return int(float(x) * 1024 + 0.5)  # type: ignore[arg-type]


class Controller:
    def __init__(self, h: hal.Hal, dev: "dict[str, Any]", slot: str = "factory") -> None:
        self.hal = h
        self.dev = dev
        self.slot = slot
        root = h.root
        self.root = root
        self.guard = bootguard.BootGuard(root + "boot.json")
        self.safe = self.guard.safe
        site = dev["site"]
        lamp = dev["lamp"]
        self.site = site
        self.lamp = lamp
        self.t_tel = codec.lamp_topic(site, lamp, codec.KIND_TELEMETRY).encode()
        self.t_event = codec.lamp_topic(site, lamp, codec.KIND_EVENT).encode()
        self.t_state = codec.lamp_topic(site, lamp, codec.KIND_STATE).encode()
        self.lat = float(dev.get("lat", 0.0))
        self.lon = float(dev.get("lon", 0.0))
        self.tz = int(dev.get("tz", 0))
        self.journal = journal.Journal(root + "journal.bin", int(dev.get("journal_slots", 4096)))
        if self.safe:
            # Whatever was stored may be what kept crashing: set it aside, keep it for inspection.
            for name in ("config.json", "state.json"):
                try:
                    import os

                    os.rename(root + name, root + name + ".bad")
                except OSError:
                    pass
        self.cfg: object = None
        self.cfg_bad = False
        raw = store.load(root + "config.json")
        if raw is not None:
            try:
                self.cfg = codec.check_config(raw)
            except codec.CodecError:
                self.cfg_bad = True
        st = store.load(root + "state.json", {})
        st = st if isinstance(st, dict) else {}
        ovr = st.get("ovr", [])
        self.override: "list[int]" = list(ovr) if isinstance(ovr, list) and len(ovr) == 3 else []
        self.last_time = int(st.get("t", 0))
        self.energy_mwh = int(st.get("e", 0))
        last = self.journal.read(self.journal.next_seq - 1)
        if last and int(last[6] * 1000) > self.energy_mwh:
            # The journal holds the counter of the latest reading: never report less after a cut.
            self.energy_mwh = int(last[6] * 1000 + 0.5)
        self.dimmer = dimming.Dimmer(h)
        self.faults = faults.Faults()
        self.faults.rated_dw = int(float(dev.get("rated_w", 100)) * 10)
        self.policy = policy.Policy()
        self.sup = supervisor.Supervisor(h.feed_watchdog)
        self.events: "list[tuple[hal.Ticks, int, dict[str, object]]]" = []
        self.cmds: "list[dict[str, Any]]" = []
        self.seen: "list[int]" = []
        self.sent = self.journal.watermark
        self.sent_ms = time.ticks_ms()
        self.ack_wait = ACK_WAIT_MS
        self.drop_told = (0, 0)
        self.miss_told: "list[tuple[int, int]]" = []
        self.resend: "list[list[int]]" = []
        self.batch = BATCH  # readings per telemetry message; halved while the heap is tight
        self.contact_ms = h.ticks_ms()
        self.boot_ms = h.ticks_ms()
        self.identify_until: "hal.Ticks | None" = None
        self.identify_on = False
        self.flags = 0
        self.fault_flags = 0
        self.heap = 0
        self.heap_peak = 0
        self.sample = [0] * hal.M_LEN
        self.meter_ok = False
        self.mains_on = True
        self._acc = [0, 0, 0, 0]  # sums of dV, mA, dW and the count, since the last reading
        self.ota_job: "dict[str, Any]" = {}
        self.cmd_beat = 0
        self.trial = h.slots.pending()
        self.ota = self._updater()
        # The bearer: MQTT over Wi-Fi/4G/Ethernet, or LoRa through a gateway. Both expose connected,
        # connects, last_error and inflight(), which is all the rest of the controller looks at.
        self.client: "_mqtt_t.MQTTClient | None" = None
        self.lora: "_lora_t.LoraBearer | None" = None
        if dev.get("bearer") == "lora":
            import lorabearer

            self.lora = lorabearer.LoraBearer(self, h.radio, dev.get("lora", {}), int(st.get("fc", -1)))
            self.link: "_lora_t.LoraBearer | _mqtt_t.MQTTClient" = self.lora
            self.save_state()  # the frame counter's new base, before the first frame uses it
        else:
            self.client = self._client()
            self.link = self.client
        self._apply_config()
        self.rc = self._boot_cause()
        self.event({"ev": "boot", "rc": self.rc, "fw": version.VERSION, "cv": self.cv()})
        if self.safe:
            print("safe mode: %d failed boots" % self.guard.failed)

    # --- setup -------------------------------------------------------------------------------
    def _client(self) -> "_mqtt_t.MQTTClient":
        import mqtt

        tls, host, port, user, password = brokerurl.parse(self.dev["broker"])
        ctx = None
        if tls:
            import tls as _tls  # type: ignore[import-not-found,unused-ignore]

            ctx = _tls.SSLContext(_tls.PROTOCOL_TLS_CLIENT)
            ca = self.dev.get("ca")
            if ca:
                # MicroPython's mbedTLS binding takes the CA as DER; device.json carries PEM.
                body = ca.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
                import binascii

                ctx.load_verify_locations(binascii.a2b_base64(body.replace("\n", "")))
                ctx.verify_mode = _tls.CERT_REQUIRED  # type: ignore[attr-defined]
            else:
                ctx.verify_mode = _tls.CERT_NONE  # type: ignore[attr-defined]
        c = mqtt.MQTTClient(
            self.site + "." + self.lamp, host, port, user, password,
            int(self.dev.get("keepalive", 60)), ctx,
        )
        c.will = (self.t_state, codec.STATE_OFFLINE, True)
        c.on_message = self.on_message
        c.on_connect = self.on_connect
        return c

    def cv(self) -> object:
        return self.cfg["cv"] if isinstance(self.cfg, dict) else None

    def _apply_config(self) -> None:
        c = self.cfg
        m = self.hal.meter
        k = self.dev.get("cal", {})
        kv = float(k.get("v", 1.0))
        ki = float(k.get("i", 1.0))
        kp = float(k.get("p", 1.0))
        if isinstance(c, dict):
            self.dimmer.configure(
                dimming.CURVE_LOG if c["curve"] == "log" else dimming.CURVE_LINEAR,
                max(1, c["min"]), c["max"], self.dimmer.fade_ms,
            )
            kv *= c["k"][0]
            ki *= c["k"][1]
            kp *= c["k"][2]
        m.calibrate(_q10(kv), _q10(ki), _q10(kp))

    def _boot_cause(self) -> str:
        if self.safe:
            return "safe_mode"
        u = self.ota
        if u is None:
            return CAUSES.get(self.hal.reset_cause(), "unknown")
        job = u.saved()
        if self.trial:
            return "ota"
        if job.get("state") == "staged":
            u.forget()
            if job.get("ver") == version.VERSION:
                self.outcome(job.get("id"), "ok")
            else:
                # The image on trial never proved itself: the boot selector brought us back.
                self.outcome(job.get("id"), job.get("fail", "rolled_back"))
                return "rollback"
        elif job.get("state") == "download":
            self.ota_job = job  # resumed once the network is up
        return CAUSES.get(self.hal.reset_cause(), "unknown")

    def _updater(self) -> "_ota_t.Updater | None":
        key = self.dev.get("ota_key")
        if not key:
            return None  # not provisioned with the fleet key: no unsigned updates, ever
        import ota

        return ota.Updater(self.hal.slots, self.root, int(key, 16), version.VERSION)

    # --- time --------------------------------------------------------------------------------
    def now(self) -> int:
        """Valid Unix time, or -1."""
        return self.hal.rtc.time()

    def stamp(self) -> int:
        """A timestamp for a record: the real time, or a lower bound on it (flagged F_NO_TIME)."""
        t = self.hal.rtc.time()
        if t >= 0:
            return t
        up = time.ticks_diff(self.hal.ticks_ms(), self.boot_ms) // 1000
        base = self.last_time if self.last_time >= codec.TS_MIN else codec.TS_MIN
        return base + up

    # --- events and outcomes -----------------------------------------------------------------
    def event(self, ev: "dict[str, object]") -> None:
        """Queues an event; it is stamped when published, so that one raised before the clock was
        set still gets its true time (now minus its age) once the clock is."""
        if ev.get("cv") is None and "cv" in ev:
            del ev["cv"]
        if len(self.events) >= MAX_EVENTS:
            self.events.pop(0)
        self.events.append((self.hal.ticks_ms(), self.stamp(), ev))

    def stamped(self, item: "tuple[hal.Ticks, int, dict[str, object]]") -> "dict[str, object]":
        """A queued event with its time: now minus its age once the clock is valid."""
        born, ts, ev = item
        now = self.now()
        t = now - time.ticks_diff(self.hal.ticks_ms(), born) // 1000 if now >= 0 else ts
        ev["ts"] = t if t >= codec.TS_MIN else codec.TS_MIN
        return ev

    def outcome(self, cmd_id: object, res: str, now: int = -1) -> None:
        if cmd_id is None:
            return
        ev = {"ev": "cmd", "id": cmd_id, "res": res}
        if now >= 0:
            ev["now"] = now
        self.event(ev)

    # --- MQTT callbacks ----------------------------------------------------------------------
    async def on_connect(self, present: bool) -> None:
        c = self.client
        assert c is not None
        # Re-send everything above the server's watermark (protocol section 5): what the broker
        # took before the link dropped may never have reached the server.
        self.sent = self.journal.watermark
        for kind in (codec.KIND_CMD, codec.KIND_CONFIG, codec.KIND_ACK):
            await c.subscribe(codec.lamp_topic(self.site, self.lamp, kind), 1)
        st = {"st": "online", "ts": self.stamp(), "fw": version.VERSION, "bearer": self.hal.net.bearer,
              "h": {"heap": self.heap, "jp": self.journal.pending(), "drop": self.journal.dropped,
                    "slot": self.slot, "safe": self.safe}}
        if self.cv() is not None:
            st["cv"] = self.cv()
        await c.publish(self.t_state, codec.encode_state(st), 1, True)

    def on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if not payload:
            return  # an empty retained message deletes the retained one: nothing to act on
        kind = topic[topic.rfind("/") + 1 :]
        if not retained:
            # Only a live message proves the server is there; retained ones come from the broker.
            self.contact_ms = self.hal.ticks_ms()
        if kind == codec.KIND_ACK:
            try:
                seq, missing = codec.decode_ack(payload)
            except codec.CodecError:
                return
            self.journal.ack(seq)
            if seq > self.sent:
                self.sent = seq
            if missing and missing != self.miss_told:
                # The server holds readings beyond these gaps: send just the gaps, once per request.
                self.miss_told = missing
                self.resend = [[a, b] for a, b in missing]
            self.ack_wait = ACK_WAIT_MS
            self.sent_ms = time.ticks_ms()
        elif kind == codec.KIND_CONFIG:
            try:
                try:
                    cfg = codec.decode_config(payload)
                except MemoryError:
                    gc.collect()  # the largest message the lamp gets: try once more on a clean heap
                    cfg = codec.decode_config(payload)
            except codec.CodecError as e:
                print("config rejected:", e)
                self.cfg_bad = True
                return
            self.take_config(cfg)
        elif kind == codec.KIND_CMD:
            try:
                cmd = codec.decode_cmd(payload)
            except codec.CodecError:
                try:
                    import json

                    bad = json.loads(payload)
                    self.outcome(bad.get("id") if isinstance(bad, dict) else None, "bad_args")
                except (ValueError, AttributeError):
                    pass
                return
            cid = int(cmd["id"])  # type: ignore[call-overload]
            if cid in self.seen:
                return  # a QoS 1 redelivery
            self.seen.append(cid)
            if len(self.seen) > 16:
                self.seen.pop(0)
            self.cmds.append(cmd)

    def take_config(self, cfg: "dict[str, Any]") -> bool:
        """A valid config from the server (whole, or rebuilt from a LoRa delta): stored and put in
        effect when it is newer than the one running. True when it was."""
        self.cfg_bad = False
        cv = self.cv()
        if cv is not None and cfg["cv"] <= cv:
            return False
        store.save(self.root + "config.json", cfg)
        self.cfg = cfg
        self._apply_config()
        return True

    # --- tasks -------------------------------------------------------------------------------
    async def control(self) -> None:
        h = self.hal
        beat = self.sup.register("control", 20000)
        cfg_ri = 300
        last_reading = h.ticks_ms()
        state_at = h.ticks_ms()
        tick = h.ticks_ms()
        mem_ms = int(self.dev.get("heap_ms", MEM_MS))
        mem_at = time.ticks_add(time.ticks_ms(), -mem_ms)
        note_at = time.ticks_ms()
        meta_at = h.ticks_ms()
        trial_until = time.ticks_add(h.ticks_ms(), int(self.dev.get("ota_health_s", HEALTH_S)) * 1000)
        s = self.sample
        while True:
            self.sup.beat(beat)
            ok = h.meter.read(s)
            self.meter_ok = ok
            if ok:
                self._mains(s[hal.M_DV])
                self.energy_mwh += s[hal.M_MWH]
                a = self._acc
                a[0] += s[hal.M_DV]
                a[1] += s[hal.M_MA]
                a[2] += s[hal.M_DW]
                a[3] += 1
            f = self.faults
            f.sample(ok, s[hal.M_DV], s[hal.M_MA], s[hal.M_DW], self.dimmer.out, h.relay.get())
            now = self.now()
            if f.window_done():
                self._faults(now)
            self._light(now)
            if self.trial:
                self._trial(trial_until)
            t = h.ticks_ms()
            if isinstance(self.cfg, dict):
                cfg_ri = self.cfg["ri"]
            if time.ticks_diff(t, last_reading) >= cfg_ri * 1000:
                last_reading = t
                self._reading(now)
            if now >= 0:
                self.last_time = now
            if time.ticks_diff(t, state_at) >= STATE_MS:
                state_at = t
                self.save_state()
            if time.ticks_diff(t, meta_at) >= journal.META_MS:
                meta_at = t
                self.journal.persist()
            if not self.guard.cleared and (self.link.connects or time.ticks_diff(t, self.boot_ms) > 600000):
                self.guard.proved()
            if time.ticks_diff(time.ticks_ms(), mem_at) >= mem_ms:
                mem_at = time.ticks_ms()
                self._measure()
            if time.ticks_diff(time.ticks_ms(), note_at) >= NOTE_MS:
                note_at = time.ticks_ms()
                self._notes()
            tick = time.ticks_add(tick, 1000)
            wait = time.ticks_diff(tick, h.ticks_ms())
            if wait < -5000:
                tick = h.ticks_ms()  # fell behind (a long flash write): do not try to catch up
            await h.sleep_ms(wait if wait > 0 else 0)

    def _mains(self, dv: int) -> None:
        """Last gasp: the pole's controller runs on for a moment from its hold-up capacitor when the
        mains goes; the gasp event goes first in the queue so the outage is known at once."""
        if self.mains_on and dv < 900:
            self.mains_on = False
            self.event({"ev": "gasp", "f": self.flags, "e": self.energy_mwh // 100 / 10})
            self.events.insert(0, self.events.pop())
        elif not self.mains_on and dv >= 1500:
            self.mains_on = True

    def _measure(self) -> None:
        gc.collect()
        self.heap = gc.mem_alloc()
        if self.heap > self.heap_peak:
            self.heap_peak = self.heap
        self.hal.note("heap", self.heap)
        self.hal.note("heap_peak", self.heap_peak)

    def _notes(self) -> None:
        n = self.hal.note
        n("cv", self.cv())
        n("level", self.dimmer.level)
        n("why", self.policy.why)
        n("flags", self.flags)
        n("faults", self.fault_flags)
        n("jp", self.journal.pending())
        n("next_seq", self.journal.next_seq)
        n("wm", self.journal.watermark)
        n("dropped", self.journal.dropped)
        link = self.link
        n("connected", link.connected)
        n("mqtt_error", link.last_error)
        n("connects", link.connects)
        n("inflight", link.inflight())
        if self.lora is not None:
            self.lora.notes(n)
        n("task_dead", self.sup.dead)
        n("task_starved", self.sup.starved)
        n("fw", version.VERSION)
        n("safe", self.safe)
        n("trial", self.trial)
        n("e_mwh", self.energy_mwh)

    def _faults(self, now: int) -> None:
        f = self.faults
        if now >= 0:
            day = policy.daylight(now, self.lat, self.lon, self.tz, DAY_MARGIN_S)
        else:
            day = not self.policy.dark
        override = self.policy.flags & codec.F_OVERRIDE != 0
        changed = f.evaluate(day, override, self.hal.temperature())
        flags = 0
        for k in range(faults.COUNT):
            if f.active & (1 << k):
                flags |= FAULT_FLAGS[k]
        if changed:
            on = 0
            off = 0
            for k in range(faults.COUNT):
                if changed & (1 << k):
                    if f.active & (1 << k):
                        on |= FAULT_FLAGS[k]
                    else:
                        off |= FAULT_FLAGS[k]
            self.fault_flags = flags
            self._compose()
            self.event({"ev": "fault", "f": self.flags, "on": on, "off": off})
        self.fault_flags = flags

    def _compose(self) -> None:
        fl = self.policy.flags | self.fault_flags
        if self.journal.lost()[0]:
            fl |= codec.F_JOURNAL_OVERFLOW
        if self.safe:
            fl |= codec.F_SAFE_MODE
        if self.cfg_bad:
            fl |= codec.F_INVALID_SCHEDULE
        self.flags = fl

    def _light(self, now: int) -> None:
        h = self.hal
        if self.identify_until is not None:
            t = h.ticks_ms()
            left = time.ticks_diff(self.identify_until, t)
            if left > 0:
                on = (left // IDENTIFY_MS) % 2 == 0
                if on != self.identify_on:
                    self.identify_on = on
                    self.dimmer.set(100 if on else 0, 0)
                return
            self.identify_until = None
        silent = time.ticks_diff(h.ticks_ms(), self.contact_ms) // 1000
        if self.override and now >= 0 and now >= self.override[1]:
            self.override = []
            self.save_state()
        p = self.policy
        p.decide(self.cfg, now, h.photocell.lux(), self.override, silent, self.lat, self.lon, self.tz,
                 int(self.dev.get("default_level", 100)))
        if p.level != self.dimmer.want:
            self.dimmer.set(p.level, p.fade_s * 1000)
        self._compose()

    def _reading(self, now: int) -> None:
        """Journals a reading stamped `now`, the instant its level was decided for (a later clock
        read could fall past a step the level does not show yet); no valid time: the best estimate."""
        a = self._acc
        n = a[3]
        dv = a[0] // n if n else 0
        ma = a[1] // n if n else 0
        dw = a[2] // n if n else 0
        a[0] = a[1] = a[2] = a[3] = 0
        pf = bl0937.power_factor(dw, dv, ma)
        t = self.hal.temperature()
        cv = self.cv()
        flags = self.flags
        if now < 0:
            flags |= codec.F_NO_TIME
        ts = now if now >= 0 else self.stamp()
        self.journal.append(ts, dw, dv, ma, pf, self.energy_mwh // 100, self.dimmer.level,
                            t if -400 <= t <= 1250 else journal.T_NONE, flags,
                            cv if isinstance(cv, int) else -1)

    def _trial(self, until: "hal.Ticks") -> None:
        h = self.hal
        s = self.sample
        healthy = (
            self.link.connects > 0
            and self.meter_ok
            and 900 <= s[hal.M_DV] <= 3000
            and self.dimmer.responds()
        )
        if healthy:
            h.slots.mark_valid()
            self.trial = False
            if self.ota is not None:
                self.outcome(self.ota.saved().get("id"), "ok")
                self.ota.forget()
            print("ota: image valid")
        elif time.ticks_diff(h.ticks_ms(), until) >= 0:
            print("ota: health check failed, rolling back")
            if self.ota is not None:
                job = self.ota.saved()
                job["fail"] = "health_failed"
                store.save(self.root + "ota.json", job)
            h.slots.rollback()
            self.shutdown()
            h.reset()

    def save_state(self) -> None:
        st = {"ovr": self.override, "e": self.energy_mwh, "t": self.last_time}  # type: dict[str, object]
        if self.lora is not None:
            st["fc"] = self.lora.fcnt  # LoRa frame counter: continues above it after a restart
        store.save(self.root + "state.json", st)

    def shutdown(self) -> None:
        self.save_state()
        self.journal.persist(True)

    async def uplink(self) -> None:
        import mqtt

        beat = self.sup.register("uplink", 60000)
        c = self.client
        assert c is not None
        while True:
            self.sup.beat(beat)
            if not c.connected or c.inflight() >= mqtt.MAX_INFLIGHT:
                # Never block inside publish: a link that stays down must not starve the watchdog.
                await asyncio.sleep_ms(100)
                continue
            try:
                busy = await self._send_next()
            except MemoryError:
                # A batch met a full or fragmented heap: collect, and send smaller batches for now.
                gc.collect()
                self.batch = self.batch // 2 if self.batch > 1 else 1
                busy = False
            if not busy:
                await asyncio.sleep_ms(100)

    async def _send_next(self) -> bool:
        """Publishes the next thing due; False when there was nothing to send."""
        c = self.client
        assert c is not None
        j = self.journal
        if self.events:
            item = self.events[0]
            try:
                payload = codec.encode_event(self.stamped(item))
            except codec.CodecError as e:
                print("event dropped:", e)
                payload = b""
            if payload:
                await c.publish(self.t_event, payload, 1)
            if self.events and self.events[0] is item:
                self.events.pop(0)
            return True
        if self.resend:
            rg = self.resend[0]
            lo = rg[0] if rg[0] >= j.oldest() else j.oldest()
            hi = rg[1] if rg[1] < j.next_seq else j.next_seq - 1
            n = hi - lo + 1 if hi - lo + 1 < self.batch else self.batch
            if n > 0:
                rs = [r for r in (j.read(s) for s in range(lo, lo + n)) if r]
                if rs:
                    await c.publish(self.t_tel, codec.encode_readings(rs), 1)
            if n <= 0 or lo + n > hi:
                self.resend.pop(0)
            else:
                rg[0] = lo + n
            return True
        lost = j.lost()
        if lost[0] and lost != self.drop_told:
            self.drop_told = lost
            self.event({"ev": "drop", "from": lost[0], "to": lost[1]})
            return True
        start = self.sent + 1
        if start < j.oldest():
            start = j.oldest()
        end = j.next_seq
        if start < end:
            n = end - start if end - start < self.batch else self.batch
            rs = []
            for seq in range(start, start + n):
                r = j.read(seq)
                if r:
                    rs.append(r)
            if rs:
                payload = codec.encode_reading(rs[0]) if len(rs) == 1 else codec.encode_readings(rs)
                rs = []
                await c.publish(self.t_tel, payload, 1)
            if start + n - 1 > self.sent:
                self.sent = start + n - 1
            self.sent_ms = time.ticks_ms()
            if self.batch < BATCH:
                self.batch += 1
            return True
        if j.watermark < self.sent and time.ticks_diff(time.ticks_ms(), self.sent_ms) > self.ack_wait:
            # The server has not confirmed what we sent: send it again from its watermark.
            self.sent = j.watermark
            self.ack_wait = self.ack_wait * 2 if self.ack_wait < ACK_WAIT_MAX_MS else ACK_WAIT_MAX_MS
            return True
        return False

    async def commands(self) -> None:
        beat = self.sup.register("commands", 30000)
        self.cmd_beat = beat
        while True:
            self.sup.beat(beat)
            if self.ota_job and self.link.connected and self.client is not None:
                job = self.ota_job
                self.ota_job = {}
                await self._update(job)
            if not self.cmds:
                await asyncio.sleep_ms(200)
                continue
            cmd = self.cmds.pop(0)
            try:
                await self._command(cmd)
            except Exception as e:  # noqa: BLE001 - a command must never take the task down
                print("command failed:", repr(e))
                self.outcome(cmd["id"], "failed")

    async def _command(self, cmd: "dict[str, Any]") -> None:
        op = cmd["op"]
        cid = cmd["id"]
        now = self.now()
        if op != "time" and now >= 0 and now > cmd["exp"]:
            self.outcome(cid, "expired")
            return
        if op == "level":
            self.override = [cmd["lvl"], cmd["until"], now if now >= 0 else 0]
            self.save_state()
            self._light(now)
            self.outcome(cid, "ok")
        elif op == "resume":
            self.override = []
            self.save_state()
            self._light(now)
            self.outcome(cid, "ok")
        elif op == "config":
            want = cmd["cv"]
            cv = self.cv()
            if self.lora is not None:
                self.lora.config_command(cid, want)  # answered when the delta has arrived
                return
            assert self.client is not None
            if cv is None or cv < want:
                # Subscribing again makes the broker send the retained config once more.
                await self.client.subscribe(codec.lamp_topic(self.site, self.lamp, codec.KIND_CONFIG), 1)
                for _ in range(20):  # the retained message is back within a round trip
                    cv = self.cv()
                    if cv is not None and cv >= want:
                        break
                    await asyncio.sleep_ms(100)
            self.outcome(cid, "ok" if cv == want else "failed")
        elif op == "identify":
            self.identify_until = time.ticks_add(self.hal.ticks_ms(), cmd["s"] * 1000)
            self.identify_on = False
            self.outcome(cid, "ok")
        elif op == "time":
            self.hal.rtc.set(cmd["now"])
            self.last_time = cmd["now"]
            self.save_state()
            self.outcome(cid, "ok", self.now())
        elif op == "ping":
            self.outcome(cid, "ok", now)
        elif op == "reboot":
            self.outcome(cid, "ok")
            await self._drain()
            self.shutdown()
            self.hal.reset()
        elif op == "ota":
            if self.ota is None or self.client is None:  # no OTA over LoRa (protocol 10.5)
                self.outcome(cid, "unsupported")
                return
            self.outcome(cid, "running")
            await self._update(dict(cmd))
        else:
            self.outcome(cid, "unsupported")

    async def _update(self, job: "dict[str, Any]") -> None:
        u = self.ota
        if u is None:
            return
        import ota

        cid = job.get("id")
        try:
            await u.update(job, lambda: self.sup.beat(self.cmd_beat))
        except ota.OtaError as e:
            u.forget()
            self.outcome(cid, "ok" if e.code == "same_version" else e.code)
            return
        print("ota: staged", job.get("ver"), "- restarting")
        await self._drain()
        self.shutdown()
        self.hal.reset()

    async def _drain(self) -> None:
        """Gives queued events and unacknowledged publishes a few seconds to reach the broker."""
        for _ in range(50):
            if not self.events and not self.link.inflight():
                break
            await asyncio.sleep_ms(100)

    async def network(self) -> None:
        beat = self.sup.register("network", 120000)
        h = self.hal
        synced = False
        while True:
            self.sup.beat(beat)
            if await h.net.up():
                if not synced or h.rtc.time() < 0:
                    t = h.net.ntp()
                    if t > 0:
                        h.rtc.set(t)
                        synced = True
            await asyncio.sleep_ms(10000 if synced else 2000)

    async def run(self) -> None:
        h = self.hal
        sup = self.sup
        h.start_watchdog(int(self.dev.get("wdt_ms", supervisor.WDT_TIMEOUT_MS)))
        sup.spawn("hal", h.task())
        dim = sup.register("dimmer", 10000)
        sup.spawn("dimmer", self.dimmer.run(lambda: sup.beat(dim)))
        if self.lora is not None:
            lb = sup.register("lora", 120000)
            sup.spawn("lora", self.lora.run(lambda: sup.beat(lb)))
        else:
            assert self.client is not None
            mq = sup.register("mqtt", max(120, 3 * int(self.dev.get("keepalive", 60))) * 1000)
            sup.spawn("mqtt", self.client.run(lambda: sup.beat(mq)))
            sup.spawn("uplink", self.uplink())
        sup.spawn("control", self.control())
        sup.spawn("commands", self.commands())
        sup.spawn("network", self.network())
        await sup.run()


def _device(root: str) -> "dict[str, Any]":
    dev = store.load(root + "device.json")
    if not isinstance(dev, dict) or "lamp" not in dev or "site" not in dev or "broker" not in dev:
        raise SystemExit("device.json missing or incomplete in " + root + ": run terang firmware provision")
    return dev


def _code_heap(dev: "dict[str, Any]") -> int:
    """Heap taken by loaded module code: on a controller whose firmware freezes the modules into
    flash this is not heap at all, so the steady-state figure is reported with and without it."""
    if dev.get("ota_key"):
        import ota  # noqa: F401 - loaded now so that it counts as code, not data
    if dev.get("bearer") == "lora":
        import lorabearer  # noqa: F401 - likewise, with lorawire and airtime
    else:
        import mqtt  # noqa: F401

    gc.collect()
    return gc.mem_alloc()


def main_sim(root: str, slot: str) -> None:
    import hal_sim

    dev = _device(root)
    code = _code_heap(dev)
    h = hal_sim.HalSim(root, float(dev.get("lat", -4.55)), float(dev.get("lon", 136.88)), slot)
    if dev.get("bearer") == "lora":
        import lorabearer

        lora = dev.get("lora", {})
        h.radio = hal_sim.SimRadio(h, str(lora.get("medium", "127.0.0.1:1700")), dev["lamp"],
                                   lorabearer.devaddr(dev))
    h.note("heap_code", code)
    ctl = Controller(h, dev, slot)
    print("terang firmware", version.VERSION, "slot", slot, "lamp", dev["lamp"], "safe" if ctl.safe else "")
    asyncio.run(ctl.run())


def main_esp32(slot: str) -> None:
    import hal_esp32

    dev = _device("/")
    ctl = Controller(hal_esp32.HalEsp32(dev, slot), dev, slot)
    asyncio.run(ctl.run())
