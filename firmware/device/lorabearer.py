# The LoRa bearer (device.json "bearer": "lora"): the controller's link to its gateway over LoRa
# instead of MQTT, doing what docs/lora.md section 3.4 asks of a lamp:
#
#   - after boot, a HELLO (FPort 2) binds the DevAddr to the lamp id at the gateway (skipped with
#     "hello": false when the gateway is given the address), then a sync alarm: the full sequence
#     and energy counter the gateway needs to rebuild 11-byte readings (protocol 10.1);
#   - events go as 11-byte alarm frames; readings as 11-byte reading frames, or as batch frames
#     where the spreading factor's payload limit allows more than one (journal replay) or where a
#     reading is too old for the reading frame's 12-bit time;
#   - every few uplinks one goes confirmed: the gateway answers with the watermark it holds on disk
#     for the lamp (custody) and the first gap; the journal is trimmed to it and the gap sent first;
#   - downlinks: ack; command (answered by a sync alarm, then its outcome); config delta fragments,
#     applied all or none, after which a state frame reports the cv in effect; FPending asks for
#     another uplink soon;
#   - the lamp keeps its own duty cycle: a frame of T seconds is followed by 99 T of silence at 1 %.
#
# Class A: one exchange at a time, since the radio listens only right after its own uplink.
# The radio is hal.LoraRadio (hal_sim.SimRadio on the unix port, sx127x/sx126x on a pole).
#
# device.json "lora": {"devaddr": "26011f01" (default: from the lamp id), "sf": 7..10 (10),
#   "channels": [Hz, ...] (the 8 AS923-2 channels), "duty": 0.01, "confirm": 4 (every 4th uplink
#   confirmed), "hello": true, "dwell": true (400 ms dwell limit), "medium": "host:port" (simulation)}

import binascii
import time

import airtime
import codec
import hal
import lorawire
import version

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this; it never runs
    from typing import Any, Callable

    import app as _app_t

try:
    from micropython import const
except ImportError:
    def const(x: int) -> int:  # type: ignore[misc]
        return x

CONFIRM_EVERY = const(4)  # every 4th uplink asks for the gateway's watermark (the simulator's rate)
SYNC_EVERY = const(96)  # readings between two sync alarms (protocol 10.1)
ALARM_TRIES = const(3)  # confirmed sends of an alarm before it is given up
HELLO_AFTER = const(3)  # unanswered confirmed uplinks before HELLO and sync go out again
BACKOFF_MAX = const(4)  # the confirm gap doubles per unanswered one, up to 16 times
CONFIRM_MAX_MS = const(1800000)  # device ms: however far backed off, ask at least this often
FCNT_GAP = const(256)  # frames a restart skips: the counter is saved only now and then
IDLE_MS = const(500)  # device ms between looks at the queues when there is nothing to send
FAIL_MS = const(5000)  # device ms before trying again when the radio could not send at all
# Silence kept beyond the duty cycle's own, per mille of it: our clock and the air's (a gateway's
# or the simulated medium's) never agree to the millisecond, and an early frame is refused.
DUTY_MARGIN = const(20)
# A reading frame carries 12 bits of time, rebuilt within (rx + 256 - 4096, rx + 256] by the
# receiver (protocol 10.1): older readings go in batch frames (full time) or cannot go at all.
READING_AGE_S = const(3600)
BATCH_MIN = const(24)  # a batch frame of one reading: 14 + 10 bytes
HI_FLAGS = const(0xFFFF00)  # flag bits a reading frame does not carry; fault alarms announce them

# What the frame being sent carries.
W_HELLO = const(1)
W_SYNC = const(2)
W_EVENT = const(3)
W_STATE = const(4)
W_READINGS = const(5)
W_RESEND = const(6)
W_POLL = const(7)

# Events sent confirmed, so that their loss is noticed and they go again. Command outcomes are not:
# the server re-sends a command that has not taken, and a gateway answers a confirmed uplink from a
# lamp whose readings it does not hold yet with a ping, whose outcome would ask again, and again.
_ALARMS = ("fault", "gasp", "drop")


def devaddr(dev: "dict[str, Any]") -> int:
    """The lamp's DevAddr: provisioned, or derived from its lamp id (stable, in the 0x26 range the
    simulator and tests use)."""
    lora = dev.get("lora", {})
    a = lora.get("devaddr") if isinstance(lora, dict) else None
    if a:
        return int(str(a), 16) & 0xFFFFFFFF
    return 0x26000000 | (int(binascii.crc32(str(dev["lamp"]).encode())) & 0x00FFFFFF)


class LoraBearer:
    def __init__(self, ctl: "_app_t.Controller", radio: "hal.LoraRadio | None", cfg: "dict[str, Any]",
                 fcnt: int = -1) -> None:
        self.ctl = ctl
        self.radio = radio
        self.devaddr = devaddr(ctl.dev)
        sf = int(cfg.get("sf", 10))
        limit = airtime.max_app_payload(sf, bool(cfg.get("dwell", True)))
        if limit is None:
            # SF11/SF12 frames break the 400 ms dwell limit: the air would refuse every one.
            print("lora: SF%d is not usable under the dwell limit; using SF10" % sf)
            sf = 10
            limit = codec.LORA_MAX
        self.sf = sf
        self.limit = limit
        self.channels = [int(c) for c in cfg.get("channels", airtime.AS923_2_CHANNELS)]
        self.duty = float(cfg.get("duty", airtime.DUTY_CYCLE))
        self.confirm_every = int(cfg.get("confirm", CONFIRM_EVERY))
        self.hello_on = bool(cfg.get("hello", True))
        self.fcnt = (fcnt + FCNT_GAP) & 0xFFFF if fcnt >= 0 else 0
        # Link state as the MQTT client reports its own (app.py reads these for notes and health).
        self.connected = False  # the last confirmed uplink was answered
        self.connects = 0  # downlinks heard since boot
        self.last_error = ""
        # What to send next, besides the controller's events and journal.
        self.hello_due = self.hello_on
        self.sync_due = True
        self.state_due = False
        self.poll = False  # the gateway holds more (FPending): uplink again soon
        self.sent = ctl.journal.watermark  # the highest seq sent since the last rewind
        self.resend = []  # type: list[list[int]]
        self.frags = []  # type: list[bytes]
        self.cfg_cmd = []  # type: list[int]
        self.since_confirm = 0
        self.since_sync = 0
        self.unanswered = 0
        self.tries = 0
        self.hi_told = -1  # high flag bits the gateway was last told (-1: not since boot)
        self.free_at = ctl.hal.ticks_ms()
        self.confirm_at = self.free_at  # device ms of the last confirmed uplink
        self.out = [0] * hal.R_LEN
        # The frame being built and sent.
        self.what = 0
        self.body = b""
        self.fport = lorawire.FPORT_CODEC  # type: int | None
        self.confirm = False
        self.first = 0
        self.count = 0
        self.item = None  # type: tuple[Any, int, dict[str, object]] | None
        # Counters for the status notes.
        self.uplinks = 0
        self.downlinks = 0
        self.airtime_us = 0
        self.refused = 0
        self.failed = 0
        self.too_old = 0
        self.last_delta = ""

    def inflight(self) -> int:
        return 0  # nothing waits on the air: a frame is sent whole, in one exchange

    def notes(self, n: "Callable[[str, object], None]") -> None:
        n("lora_sf", self.sf)
        n("lora_fcnt", self.fcnt)
        n("lora_up", self.uplinks)
        n("lora_down", self.downlinks)
        n("lora_air_us", self.airtime_us)
        n("lora_refused", self.refused)
        n("lora_failed", self.failed)
        n("lora_too_old", self.too_old)
        n("lora_delta", self.last_delta)

    # --- the task ------------------------------------------------------------------------------
    async def run(self, beat: "Callable[[], None]") -> None:
        h = self.ctl.hal
        while True:
            beat()
            wait = time.ticks_diff(self.free_at, h.ticks_ms())
            if wait > 0:
                # The duty cycle's silence, in slices short enough to keep beating.
                await h.sleep_ms(wait if wait < 1000 else 1000)
                continue
            if self._next():
                await self._exchange()
            else:
                await h.sleep_ms(IDLE_MS)

    # --- what to send --------------------------------------------------------------------------
    def _next(self) -> bool:
        """Chooses the next frame (self.what, body, fport, confirm, first, count); False when there
        is nothing to send. Order: HELLO, sync, events, state, gaps the gateway named, new readings,
        a poll the gateway asked for."""
        for _ in range(8):
            got = self._choose()
            if got >= 0:
                return got == 1
        return False  # queues kept changing under us: look again on the next turn

    def _choose(self) -> int:
        """1: a frame is ready; 0: nothing to send; -1: something was queued or skipped, look again."""
        ctl = self.ctl
        j = ctl.journal
        self.fport = lorawire.FPORT_CODEC
        self.confirm = False
        if self.hello_due:
            self.what = W_HELLO
            self.fport = lorawire.FPORT_HELLO
            self.body = ctl.lamp.encode()
            return 1
        if self.sync_due:
            self.what = W_SYNC
            self.body = codec.encode_lora_alarm(self._sync())
            return 1
        while ctl.events:
            item = ctl.events[0]
            ev = ctl.stamped(item)
            try:
                self.body = codec.encode_lora_alarm(ev)
            except codec.CodecError as e:
                print("event dropped:", e)
                ctl.events.pop(0)
                continue
            self.what = W_EVENT
            self.item = item
            self.confirm = ev["ev"] in _ALARMS
            return 1
        if self.state_due:
            self.what = W_STATE
            cv = ctl.cv()
            st = {"st": "online", "ts": ctl.stamp(), "fw": version.VERSION, "bearer": "lora"}  # type: dict[str, object]
            if cv is not None:
                st["cv"] = cv
            self.body = codec.encode_lora_state(st)
            return 1
        lost = j.lost()
        if lost[0] and lost != ctl.drop_told:
            # The ring overwrote readings the gateway never confirmed: say so, as on MQTT.
            ctl.drop_told = lost
            ctl.event({"ev": "drop", "from": lost[0], "to": lost[1]})
            return -1
        if self.resend:
            rg = self.resend[0]
            lo = rg[0] if rg[0] >= j.oldest() else j.oldest()
            hi = rg[1] if rg[1] < j.next_seq else j.next_seq - 1
            if lo > hi:
                self.resend.pop(0)
                return -1
            rg[0] = lo
            self.what = W_RESEND
            return self._readings(lo, hi)
        lo = self.sent + 1
        if lo < j.oldest():
            lo = j.oldest()
        hi = j.next_seq - 1
        if lo <= hi:
            self.what = W_READINGS
            return self._readings(lo, hi)
        if self.poll:
            self.what = W_POLL
            self.fport = None
            self.body = b""
            return 1
        return 0

    def _sync(self) -> "dict[str, object]":
        ctl = self.ctl
        last = ctl.journal.next_seq - 1
        r = ctl.journal.read(last)
        # The counter at that sequence, so the gateway rebuilds the readings that follow exactly.
        e = r[6] if r else ctl.energy_mwh // 100 / 10
        return {"ts": ctl.stamp(), "ev": "sync", "seq": last, "e": e}

    def _readings(self, lo: int, hi: int) -> int:
        """Builds the frame for readings lo.. (at most hi): self.body, first, count; returns 1. -1
        when something else must go first (a fault alarm for flags the frame cannot carry) or the
        readings cannot go at all (damaged; too old for an 11-byte frame: reported as dropped)."""
        ctl = self.ctl
        j = ctl.journal
        r = j.read(lo)
        if not r:
            # Damaged or overwritten: nothing to send; the watermark will name it if it matters.
            self._skip(lo, lo)
            return -1
        hi_f = r[9] & HI_FLAGS
        if hi_f != self.hi_told and (self.hi_told >= 0 or hi_f):
            # Bits 8-23 travel only in alarms: announce the change before the reading needs it.
            told = self.hi_told if self.hi_told >= 0 else 0
            changed = (hi_f ^ told) & HI_FLAGS
            ctl.events.insert(0, (ctl.hal.ticks_ms(), r[1],
                                  {"ev": "fault", "f": r[9], "on": changed & r[9], "off": changed & ~r[9]}))
            self.hi_told = hi_f
            return -1
        now = ctl.now()
        old = now >= 0 and now - r[1] > READING_AGE_S
        self.first = lo
        if self.limit >= BATCH_MIN and (hi > lo or old):
            rs = [r]
            top = lo + (self.limit - 14) // 10 - 1
            if top > hi:
                top = hi
            s = lo + 1
            while s <= top:
                x = j.read(s)
                if not x:
                    break
                rs.append(x)
                s += 1
            self.body = codec.encode_lora_batch(rs, self.limit)[0]
            self.count = self.body[1]
            rs = []
        elif old:
            # No frame of this data rate can say when these were measured: give them up openly
            # (a drop event lets the server's watermark and the gateway's pass them).
            top = lo
            while top < hi:
                x = j.read(top + 1)
                if not x or now - x[1] <= READING_AGE_S:
                    break
                top += 1
            self.too_old += top - lo + 1
            ctl.event({"ev": "drop", "from": lo, "to": top})
            self._skip(lo, top)
            return -1
        else:
            self.body = codec.encode_lora_reading(r)
            self.count = 1
        last = self.first + self.count - 1
        self.confirm = self._confirm_due() or (
            self.unanswered == 0 and last >= hi and (self.count > 1 or bool(self.resend)))
        return 1

    def _confirm_due(self) -> bool:
        """Ask for the watermark every few uplinks (and, above, at the end of a backlog or of a gap
        the gateway named: then the journal can be trimmed). Each confirmed uplink left unanswered
        doubles the gap, up to 16 times: a gateway that is away costs nothing, but one that is out of
        its own 1 % (its downlinks are the scarce resource, docs/lora.md section 4) must not be asked
        harder."""
        shift = self.unanswered if self.unanswered < BACKOFF_MAX else BACKOFF_MAX
        if self.since_confirm + 1 >= self.confirm_every << shift:
            return True
        # However far backed off, a gap the gateway would name waits at most this long.
        return time.ticks_diff(self.ctl.hal.ticks_ms(), self.confirm_at) >= CONFIRM_MAX_MS

    def _skip(self, lo: int, hi: int) -> None:
        if self.resend and self.resend[0][0] == lo:
            self.resend[0][0] = hi + 1
        elif hi > self.sent:
            self.sent = hi

    # --- the exchange --------------------------------------------------------------------------
    async def _exchange(self) -> None:
        ctl = self.ctl
        h = ctl.hal
        out = self.out
        self.fcnt = (self.fcnt + 1) & 0xFFFF
        mtype = lorawire.MTYPE_CONFIRMED_UP if self.confirm else lorawire.MTYPE_UNCONFIRMED_UP
        phy = lorawire.build_phy(mtype, self.devaddr, self.fcnt, self.fport, self.body)
        # A channel at random for each frame, as LoRaWAN devices hop: lamps that happen to run in
        # step (a feeder powered up at once) then collide one frame in eight, not every frame.
        freq = self.channels[((self.devaddr ^ self.fcnt) * 2654435761 >> 16) % len(self.channels)]
        start = h.ticks_ms()
        radio = self.radio
        down = None
        if radio is None:
            out[hal.R_STATUS] = hal.RADIO_FAIL
        else:
            down = await radio.exchange(phy, freq, self.sf, out)
        status = out[hal.R_STATUS]
        if status != hal.RADIO_OK:
            self.fcnt = (self.fcnt - 1) & 0xFFFF  # not on air: the counter counts frames sent
            if status == hal.RADIO_BUSY:
                self.refused += 1
                self.free_at = time.ticks_add(h.ticks_ms(), out[hal.R_WAIT_MS])
            else:
                self.failed += 1
                self.last_error = "radio"
                self.free_at = time.ticks_add(h.ticks_ms(), FAIL_MS)
            return
        self.uplinks += 1
        air = out[hal.R_AIRTIME_US]
        self.airtime_us += air
        # At 1 % a frame and its silence take airtime / 0.01 together, counted from its start.
        period = int(air / 1000 / self.duty) + 1
        self.free_at = time.ticks_add(start, period + period * DUTY_MARGIN // 1000)
        w = self.what
        if w == W_HELLO:
            self.hello_due = False
        elif w == W_SYNC:
            self.sync_due = False
            self.since_sync = 0
        elif w == W_STATE:
            self.state_due = False
        elif w == W_POLL:
            self.poll = False
        elif w == W_READINGS or w == W_RESEND:
            last = self.first + self.count - 1
            if w == W_RESEND:
                rg = self.resend[0]
                rg[0] = last + 1
                if rg[0] > rg[1]:
                    self.resend.pop(0)
            elif last > self.sent:
                self.sent = last
            self.since_sync += self.count
            if self.since_sync >= SYNC_EVERY:
                self.sync_due = True
        acked = self._downlink(down) if down is not None else False
        if w == W_EVENT:
            self.tries += 1
            if acked or not self.confirm or self.tries >= ALARM_TRIES:
                self.tries = 0
                item = self.item
                self.item = None
                if item is not None and item in ctl.events:
                    ctl.events.remove(item)
                ev = item[2] if item is not None else {}
                f = ev.get("f")
                if isinstance(f, int):
                    self.hi_told = f & HI_FLAGS  # fault and gasp alarms carry the full flags
        if self.confirm:
            self.since_confirm = 0
            self.confirm_at = start
            if acked:
                self.unanswered = 0
                self.connected = True
                self.last_error = ""
            else:
                self.unanswered += 1
                self.connected = False
                if self.unanswered >= HELLO_AFTER and not self.unanswered % HELLO_AFTER:
                    # A new gateway (or one that lost its disk) may not know us: introduce again.
                    self.hello_due = self.hello_on
                    self.sync_due = True
        else:
            self.since_confirm += 1

    # --- downlinks -----------------------------------------------------------------------------
    def _downlink(self, phy: bytes) -> bool:
        """Acts on a downlink heard in a receive window; True when it acknowledges the uplink."""
        try:
            mtype, addr, fctrl, _fc, fport, payload = lorawire.parse_phy(phy)
        except lorawire.WireError:
            return False
        if addr != self.devaddr or (mtype != lorawire.MTYPE_UNCONFIRMED_DOWN
                                    and mtype != lorawire.MTYPE_CONFIRMED_DOWN):
            return False
        ctl = self.ctl
        ctl.contact_ms = ctl.hal.ticks_ms()  # the gateway is there: no fallback to the default level
        self.downlinks += 1
        self.connects += 1
        if fctrl & lorawire.FCTRL_FPENDING:
            self.poll = True
        if fport == lorawire.FPORT_CODEC and payload:
            try:
                kind, obj = codec.decode_lora_downlink(payload, ctl.stamp(), ctl.journal.next_seq - 1)
            except codec.CodecError as e:
                print("downlink refused:", e)
            else:
                if kind == codec.KIND_ACK:
                    self._ack(obj)
                elif kind == codec.KIND_CMD:
                    # Every command is answered by a sync first (a gateway's ping asks for exactly
                    # that), then carried out like any other; its outcome is an alarm frame.
                    self.sync_due = True
                    ctl.cmds.append(obj)
                elif kind == codec.KIND_CONFIG:
                    self._fragment(payload, obj)
        return bool(fctrl & lorawire.FCTRL_ACK)

    def _ack(self, obj: "dict[str, Any]") -> None:
        seq = obj["seq"]
        miss = obj.get("miss")
        self.ctl.journal.ack(seq)
        if miss:
            # The gateway holds readings beyond this gap: send it first.
            self.resend = [[miss[0][0], miss[0][1]]]
        elif seq < self.sent:
            # The answer comes right after our uplink, and the gateway names any gap below what it
            # holds: with none named, it holds nothing above its watermark. Send again from there.
            self.sent = seq
        if seq > self.sent:
            self.sent = seq

    def _fragment(self, frame: bytes, head: "dict[str, Any]") -> None:
        frags = self.frags
        if head["frag"] == 0:
            frags = self.frags = []
        elif head["frag"] != len(frags):
            self.frags = []  # a fragment went missing: the delta cannot be applied
            return
        frags.append(bytes(frame))
        if head["more"]:
            self.poll = True
            return
        self.frags = []
        ctl = self.ctl
        cur = ctl.cfg if isinstance(ctl.cfg, dict) else None
        try:
            cfg = codec.apply_config_delta(cur, frags)  # all fragments or nothing
        except codec.CodecError as e:
            print("config delta refused:", e)
            if e.reason != "base_mismatch":
                ctl.cfg_bad = True
            self.state_due = True  # the cv we run, so the gateway sends a full config instead
            self._config_outcome(e.reason if e.reason == "base_mismatch" else "failed")
            return
        self.last_delta = "full" if head["full"] else "delta"
        ctl.take_config(cfg)
        self.state_due = True  # the gateway learns the cv in effect, and marks readings with it
        self._config_outcome("ok")

    def config_command(self, cid: int, want: int) -> None:
        """A `config` command: done when that version runs; else answered once its delta lands."""
        cv = self.ctl.cv()
        if isinstance(cv, int) and cv >= want:
            self.ctl.outcome(cid, "ok")
            return
        self.cfg_cmd = [cid, want]
        self.poll = True  # the gateway sends the delta in the windows of our next uplinks

    def _config_outcome(self, res: str) -> None:
        if not self.cfg_cmd:
            return
        cid, want = self.cfg_cmd
        cv = self.ctl.cv()
        if res == "ok" and not (isinstance(cv, int) and cv >= want):
            return  # an older version arrived; keep waiting for the one asked for
        self.cfg_cmd = []
        self.ctl.outcome(cid, res)
