"""The simulator's LoRa lamps on the air: class A end devices that reach the server only through the
simulated medium and a real gateway process (``terang simulate --lora-via-gateway``).

Per gateway of the topology one thread plays all its lamps over one radio socket (``tx_id`` is each
lamp's DevAddr, so the medium keeps every lamp's duty cycle apart). A lamp does what docs/lora.md
section 3.4 asks, as the firmware's LoRa bearer does (firmware/device/lorabearer.py):

- on start a HELLO (binds its DevAddr at the gateway), a sync alarm and a state frame;
- readings as 11-byte frames while they are fresh; a backlog, or readings older than the reading
  frame's 12-bit time can say (simulated time may run hours behind the gateway's clock), in batch
  frames. Lamps use SF7-SF9 by distance from their gateway, where batch frames are allowed;
- every 4th uplink confirmed: the gateway's watermark (it holds the readings on disk: custody) trims
  the lamp's journal, a gap it names goes first, a watermark below what was sent sends it again;
- a command is answered with a sync (a gateway's ping asks for exactly that; the simulated lamps
  carry out no commands, as on MQTT); config deltas are applied whole, then a state frame tells the
  gateway the new cv, which it puts on the lamp's readings;
- its own 1 % duty cycle, in medium time.

Readings the runner hands over (``send``) are journaled here; a lamp forgets them when its gateway's
watermark covers them. ``delivered`` compares with the server's own watermarks, which the MQTT
publisher sees for every lamp of the site.
"""

from __future__ import annotations

import heapq
import math
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware.device import airtime, codec, lorawire
from firmware.device.version import VERSION
from simulator.fleet import Fleet
from simulator.journal import Journal, Reading
from simulator.lora_gateways import LoraGateways
from simulator.publisher import Publisher, PublishStats
from simulator.topology import LORA, METRES_PER_DEGREE, Topology

CONFIRM_EVERY = 4
SYNC_EVERY = 96  # readings between two sync alarms (protocol 10.1)
# A reading frame's 12-bit time is rebuilt within (rx + 256 - 4096, rx + 256] of the gateway's clock.
READING_AGE_S = 3000
BATCH_MIN = 24
DUTY_MARGIN = 0.02  # silence beyond 99 x airtime: our clock and the medium's are not one
REFUSED_RETRY_US = 1_000_000
IDLE_SLEEP_S = 0.01
# Spreading factor by distance from the gateway: a rough link budget for small town poles.
SF_BY_DISTANCE_M = ((1_500.0, 7), (3_000.0, 8))
SF_FAR = 9
DEVADDR_BASE = 0x2600_0000
START_SPREAD_US = 5_000_000  # medium time over which a gateway's lamps send their first frame
# A lamp with readings its gateway has not confirmed, and nothing new to send, asks (a confirmed
# empty frame) after this much medium time: the journal would otherwise wait for the next reading.
ACK_IDLE_US = 30_000_000
BACKOFF_MAX = 4  # confirm gaps double per unanswered confirmed uplink, up to 16 times
CONFIRM_MAX_US = 1_800_000_000  # medium time: however far backed off, a lamp asks at least this often


def spreading_factor(distance_m: float) -> int:
    for limit, sf in SF_BY_DISTANCE_M:
        if distance_m <= limit:
            return sf
    return SF_FAR


def devaddr(lamp: int) -> int:
    """DevAddr of the topology's lamp ``lamp``: unique in a run, the same in the next one."""
    return DEVADDR_BASE + lamp


@dataclass
class LoraStats:
    uplinks: int = 0
    confirmed: int = 0
    downlinks: int = 0
    acks: int = 0
    refused: int = 0
    readings_sent: int = 0
    configs: int = 0


@dataclass
class _Lamp:
    index: int
    lamp_id: str
    devaddr: int
    sf: int
    limit: int
    fcnt: int = 0
    free_at_us: int = 0
    hello: bool = True
    sync: bool = True
    state: bool = True
    poll: bool = False
    since_confirm: int = 0
    since_sync: int = 0
    unanswered: int = 0
    sent: int = 0  # highest seq sent since the last rewind
    high: int = 0  # highest seq ever sent: what goes again below it is a re-send
    resend: list[list[int]] = field(default_factory=list)
    frags: list[bytes] = field(default_factory=list)
    config: dict[str, Any] | None = None
    # The exchange in progress: its frame's content, its receive windows.
    what: str = ""
    first: int = 0
    count: int = 0
    confirm: bool = False
    end_us: int = 0
    freq: int = 0
    close_us: int = 0
    busy: bool = False  # queued for sending, or in an exchange, or waiting out its duty cycle
    last_up_us: int = 0  # medium time of the lamp's last uplink
    unconfirmed: bool = False  # all sent, but the gateway has not confirmed everything
    confirm_us: int = 0  # medium time of the last confirmed uplink


class LoraAir:
    """The LoRa lamps of a topology, their gateways and their air."""

    def __init__(self, topology: Topology, fleet: Fleet, *, mqtt_url: str, speed: float,
                 data_dir: Any = None, confirm_every: int = CONFIRM_EVERY) -> None:
        self.topology = topology
        self.fleet = fleet
        lamps = topology.lamps
        self.mask = (lamps.radio == LORA) & (lamps.gateway >= 0)
        self.journal = Journal(len(lamps), resend_after_s=math.inf)
        self.stats_ = LoraStats()
        self.confirm_every = confirm_every
        self.gateways = LoraGateways(topology, mqtt_url, speed, data_dir)
        self._lock = threading.Lock()
        self._configs: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        self._lamps: dict[int, _Lamp] = {}
        self._workers: list[_Worker] = []
        self._worker_of: dict[int, _Worker] = {}
        self._stop = threading.Event()

    @property
    def lamp_indices(self) -> list[int]:
        return np.flatnonzero(self.mask).tolist()

    def is_lora(self, lamp: int) -> bool:
        return bool(self.mask[lamp])

    def start(self, watermark: Callable[[int], int | None],
              note: Callable[[str], None] = lambda _m: None) -> LoraAir:
        """Brings up the gateways and their air, then the lamps: each sends what its journal holds
        above the server's ``watermark``."""
        lamps = self.topology.lamps
        by_gateway: dict[int, list[int]] = {}
        for k in self.lamp_indices:
            by_gateway.setdefault(int(lamps.gateway[k]), []).append(k)
        self.gateways.start(sorted(by_gateway), note)
        for g, members in sorted(by_gateway.items()):
            spec = self.topology.gateways[g]
            nodes = []
            for k in members:
                dy = (float(lamps.lat[k]) - spec.lat) * METRES_PER_DEGREE
                dx = (float(lamps.lon[k]) - spec.lon) * METRES_PER_DEGREE * math.cos(math.radians(spec.lat))
                sf = spreading_factor(math.hypot(dx, dy))
                wm = watermark(k) or 0
                node = _Lamp(k, lamps.ids[k], devaddr(k), sf, airtime.max_app_payload(sf) or codec.LORA_MAX,
                             sent=wm, high=max(int(self.fleet.next_seq[k]) - 1, 0))
                self._lamps[k] = node
                nodes.append(node)
            worker = _Worker(self, self.gateways.stations[g].port, nodes, spec.id)
            self._workers.append(worker)
            for node in nodes:
                self._worker_of[node.index] = worker
        for worker in self._workers:
            worker.start()
        sfs = [n.sf for n in self._lamps.values()]
        note(f"{len(self._lamps)} LoRa lamps on the air: SF7 {sfs.count(7)}, SF8 {sfs.count(8)}, SF9 {sfs.count(9)}")
        return self

    # --- from the runner's thread ----------------------------------------------------------------

    def send(self, lamp: int, readings: Sequence[Reading]) -> None:
        with self._lock:
            self.journal.record(lamp, readings, time.monotonic())
        self._worker_of[lamp].wake(self._lamps[lamp])

    def pump(self, on_config: Callable[[int, bytes], object] | None) -> None:
        """Hands configs the lamps rebuilt from their deltas to the fleet's schedule, on this thread."""
        while True:
            try:
                lamp, payload = self._configs.get_nowait()
            except queue.Empty:
                return
            if on_config is not None:
                on_config(lamp, payload)

    def unacked(self) -> int:
        with self._lock:
            return self.journal.unacked()

    def delivered(self, publisher: Publisher) -> bool:
        """Every LoRa reading is at the gateway and the server's watermark covers it."""
        with self._lock:
            if self.journal.unacked():
                return False
        for k in self._lamps:
            last = int(self.fleet.next_seq[k]) - 1
            wm = publisher.watermark(k)
            if last > 0 and (wm is None or wm < last):
                return False
        return True

    def pending(self, lamp: int) -> list[Reading]:
        with self._lock:
            return self.journal.pending(lamp)

    def publish_stats(self) -> PublishStats:
        j = self.journal.stats
        return PublishStats(messages=self.stats_.uplinks, readings=j.recorded, acked=j.acked, resent=j.resent,
                            unacked=self.unacked(), bad_acks=0)

    def summary(self) -> str:
        s = self.stats_
        return (f"LoRa: {s.uplinks:,} uplinks ({s.confirmed:,} confirmed), {s.downlinks:,} downlinks "
                f"({s.acks:,} acks, {s.configs:,} configs applied), {s.refused:,} refused by the air, "
                f"{self.gateways.collisions():,} collisions")

    def close(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(10)
        self.gateways.close()

    # --- from the workers ------------------------------------------------------------------------

    def last_reading(self, lamp: int) -> tuple[int, float]:
        """The lamp's newest sequence and its energy counter (Wh), for a sync alarm."""
        with self._lock:
            pending = self.journal.pending(lamp)
        seq = int(self.fleet.next_seq[lamp]) - 1
        if pending and pending[-1][0] == seq:
            return seq, float(pending[-1][6])
        e = float(self.fleet.model.energy[lamp])
        return max(seq, 0), 0.0 if math.isnan(e) else e


class _Worker(threading.Thread):
    """All lamps of one gateway, on one socket to its medium."""

    def __init__(self, air: LoraAir, port: int, lamps: list[_Lamp], name: str) -> None:
        super().__init__(name=f"lora-{name}", daemon=True)
        self.air = air
        self.port = port
        self.lamps = lamps
        self.by_addr = {n.devaddr: n for n in lamps}
        self.radio: lorawire.UdpRadio | None = None
        self._ready: deque[_Lamp] = deque()
        self._later: list[tuple[int, int, _Lamp]] = []  # (medium µs, tiebreak, lamp)
        self._rng = random.Random(port)
        self._open: dict[int, _Lamp] = {}  # devaddr -> lamp listening in its windows
        self._wakeups: queue.SimpleQueue[_Lamp] = queue.SimpleQueue()
        self._seq = 0
        for n in lamps:
            n.busy = True

    def wake(self, lamp: _Lamp) -> None:
        self._wakeups.put(lamp)

    def run(self) -> None:
        self.radio = lorawire.UdpRadio("127.0.0.1", self.port, lorawire.ROLE_NODE, f"sim-{self.name}")
        # Lamps switched on together (one feeder) would otherwise keep transmitting in step.
        now = self.radio.now_us()
        for n in self.lamps:
            self._later_at(now + self._rng.randrange(START_SPREAD_US), n)
        try:
            while not self.air._stop.is_set():
                self._turn()
        finally:
            self.radio.close()

    def _turn(self) -> None:
        radio = self.radio
        assert radio is not None
        while True:
            try:
                n = self._wakeups.get_nowait()
            except queue.Empty:
                break
            if not n.busy:
                n.busy = True
                self._ready.append(n)
        while (rx := radio.poll()) is not None:
            self._heard(rx)
        now = radio.now_us()
        for addr, n in list(self._open.items()):
            if now >= n.close_us:
                del self._open[addr]
                self._finish(n, None)
        while self._later and self._later[0][0] <= now:
            _t, _s, n = heapq.heappop(self._later)
            self._ready.append(n)
        sent = 0
        while self._ready and sent < 50:
            n = self._ready.popleft()
            if not self._transmit(n):
                n.busy = False
            sent += 1
        if not self._ready:
            time.sleep(IDLE_SLEEP_S)

    def _later_at(self, at_us: int, n: _Lamp) -> None:
        self._seq += 1
        heapq.heappush(self._later, (at_us, self._seq, n))

    # --- uplinks -------------------------------------------------------------------------------

    def _transmit(self, n: _Lamp) -> bool:
        """Sends the lamp's next frame; False when it has nothing to send."""
        radio = self.radio
        assert radio is not None
        now = radio.now_us()
        body, fport = self._choose(n, now)
        if body is None:
            if n.unconfirmed:
                # Ask about them if nothing else goes.
                self._later_at(n.last_up_us + (ACK_IDLE_US << min(n.unanswered, BACKOFF_MAX)), n)
                return True
            return False
        n.fcnt = (n.fcnt + 1) & 0xFFFF
        mtype = lorawire.MTYPE_CONFIRMED_UP if n.confirm else lorawire.MTYPE_UNCONFIRMED_UP
        frame = lorawire.build_phy(mtype, n.devaddr, n.fcnt, fport, body)
        freq = self._rng.choice(airtime.AS923_2_CHANNELS)  # channel hopping, as LoRaWAN devices do
        try:
            res = radio.transmit(frame, freq, n.sf, tx_id=n.devaddr)
        except OSError:
            n.fcnt = (n.fcnt - 1) & 0xFFFF
            self._later_at(radio.now_us() + REFUSED_RETRY_US, n)
            return True
        if not res.ok:
            n.fcnt = (n.fcnt - 1) & 0xFFFF
            self.air.stats_.refused += 1
            wait = res.next_free_us if res.status == lorawire.TX_DUTY_CYCLE else radio.now_us() + REFUSED_RETRY_US
            self._later_at(wait, n)
            return True
        stats = self.air.stats_
        stats.uplinks += 1
        stats.confirmed += n.confirm
        n.last_up_us = res.start_us
        if n.confirm:
            n.confirm_us = res.start_us
        n.free_at_us = res.start_us + round(res.airtime_us / airtime.DUTY_CYCLE * (1 + DUTY_MARGIN))
        n.end_us = res.end_us
        n.freq = freq
        n.close_us = lorawire.class_a_close_us(res.end_us)
        self._open[n.devaddr] = n
        return True

    def _choose(self, n: _Lamp, now_us: int) -> tuple[bytes | None, int | None]:
        air = self.air
        n.confirm = False
        n.count = 0
        n.unconfirmed = False
        if n.hello:
            n.what = "hello"
            return n.lamp_id.encode(), lorawire.FPORT_HELLO
        if n.sync:
            n.what = "sync"
            seq, e = air.last_reading(n.index)
            return codec.encode_lora_alarm({"ts": int(time.time()), "ev": "sync", "seq": seq, "e": e}), 1
        if n.state:
            n.what = "state"
            st: dict[str, Any] = {"st": "online", "ts": int(time.time()), "fw": VERSION, "bearer": "lora"}
            if n.config is not None:
                st["cv"] = n.config["cv"]
            return codec.encode_lora_state(st), lorawire.FPORT_CODEC
        with air._lock:
            pending = air.journal.pending(n.index)
        while n.resend:
            lo, hi = n.resend[0]
            gap = [r for r in pending if lo <= r[0] <= hi]
            if gap:
                n.what = "resend"
                return self._readings(n, gap, last=True, now_us=now_us), lorawire.FPORT_CODEC
            n.resend.pop(0)
        fresh = [r for r in pending if r[0] > n.sent]
        if fresh:
            n.what = "readings"
            return self._readings(n, fresh, last=False, now_us=now_us), lorawire.FPORT_CODEC
        if n.poll or (pending and now_us - n.last_up_us >= ACK_IDLE_US << min(n.unanswered, BACKOFF_MAX)):
            n.what = "poll"
            n.confirm = bool(pending) and not n.poll
            return b"", None
        n.unconfirmed = bool(pending)
        return None, None

    def _readings(self, n: _Lamp, rs: list[Reading], *, last: bool, now_us: int) -> bytes:
        now = time.time()
        old = now - float(rs[0][1]) > READING_AGE_S
        if len(rs) == 1 and not old:
            body = codec.encode_lora_reading(rs[0])
            n.count = 1
        else:
            per = (n.limit - 14) // 10
            body = codec.encode_lora_batch(rs[:per], n.limit)[0]
            n.count = body[1]
        n.first = int(rs[0][0])
        ends = n.count >= len(rs)
        # As the firmware: every few uplinks, the gap doubling per unanswered one (a gateway out of its
        # 1 % must not be asked harder), and at the end of a backlog or of a gap the gateway named.
        n.confirm = (n.since_confirm + 1 >= self.air.confirm_every << min(n.unanswered, BACKOFF_MAX)
                     or now_us - n.confirm_us >= CONFIRM_MAX_US
                     or (n.unanswered == 0 and ends and (n.count > 1 or last)))
        return body

    # --- the receive windows -------------------------------------------------------------------

    def _heard(self, rx: lorawire.RxFrame) -> None:
        if not rx.flags & lorawire.FLAG_IQ_INVERTED or len(rx.payload) < 12:
            return
        addr = int.from_bytes(rx.payload[1:5], "little")
        n = self._open.get(addr)
        if n is None:
            return
        down = lorawire.class_a_match(rx, n.end_us, n.freq, n.sf, addr)
        if down is not None:
            del self._open[addr]
            self._finish(n, down)

    def _finish(self, n: _Lamp, down: bytes | None) -> None:
        """The exchange is over: the frame's content counts as sent, the downlink is acted on."""
        air = self.air
        if n.what == "hello":
            n.hello = False
        elif n.what == "sync":
            n.sync = False
            n.since_sync = 0
        elif n.what == "state":
            n.state = False
        elif n.what == "poll":
            n.poll = False
        elif n.what in ("readings", "resend"):
            last = n.first + n.count - 1
            if n.what == "resend":
                n.resend[0][0] = last + 1
                if n.resend[0][0] > n.resend[0][1]:
                    n.resend.pop(0)
            else:
                n.sent = max(n.sent, last)
            again = min(n.count, n.high - n.first + 1) if n.first <= n.high else 0
            n.high = max(n.high, last)
            air.stats_.readings_sent += n.count
            with air._lock:
                air.journal.stats.resent += again
            n.since_sync += n.count
            if n.since_sync >= SYNC_EVERY:
                n.sync = True
        acked = self._downlink(n, down) if down is not None else False
        if n.confirm:
            n.since_confirm = 0
            n.unanswered = 0 if acked else n.unanswered + 1
            if n.unanswered and n.unanswered % 3 == 0:
                n.hello = n.sync = True  # a gateway that lost its disk may not know us any more
        else:
            n.since_confirm += 1
        self._later_at(n.free_at_us, n)

    def _downlink(self, n: _Lamp, phy: bytes) -> bool:
        try:
            _m, _a, fctrl, _f, fport, payload = lorawire.parse_phy(phy)
        except lorawire.WireError:
            return False
        air = self.air
        air.stats_.downlinks += 1
        if fctrl & lorawire.FCTRL_FPENDING:
            n.poll = True
        if fport == lorawire.FPORT_CODEC and payload:
            seq_ref = int(air.fleet.next_seq[n.index]) - 1
            try:
                kind, obj = codec.decode_lora_downlink(payload, int(time.time()), seq_ref)
            except codec.CodecError:
                return bool(fctrl & lorawire.FCTRL_ACK)
            if kind == codec.KIND_ACK:
                miss: Any = obj.get("miss") or []
                self._ack(n, int(str(obj["seq"])), miss)
            elif kind == codec.KIND_CMD:
                n.sync = True
            elif kind == codec.KIND_CONFIG:
                self._fragment(n, payload, obj)
        return bool(fctrl & lorawire.FCTRL_ACK)

    def _ack(self, n: _Lamp, seq: int, miss: list[list[int]]) -> None:
        air = self.air
        air.stats_.acks += 1
        with air._lock:
            air.journal.ack(n.index, seq, None, time.monotonic())
        if miss:
            n.resend = [[int(miss[0][0]), int(miss[0][1])]]
        elif seq < n.sent:
            n.sent = seq  # the gateway holds nothing above its watermark: send again from there
        n.sent = max(n.sent, seq)

    def _fragment(self, n: _Lamp, frame: bytes, head: dict[str, Any]) -> None:
        if head["frag"] == 0:
            n.frags = []
        elif head["frag"] != len(n.frags):
            n.frags = []
            return
        n.frags.append(bytes(frame))
        if head["more"]:
            n.poll = True
            return
        frags, n.frags = n.frags, []
        try:
            cfg = codec.apply_config_delta(n.config, frags)
        except codec.CodecError:
            n.state = True  # the cv we run: the gateway sends the whole config next time
            return
        if n.config is None or cfg["cv"] > n.config["cv"]:
            n.config = cfg
            self.air.stats_.configs += 1
            self.air._configs.put((n.index, codec.encode_config(cfg)))
        n.state = True


class Routed:
    """The runner's sink when LoRa lamps go through gateways: their readings to the air, every other
    lamp's to the broker."""

    def __init__(self, publisher: Publisher, air: LoraAir, on_config: Callable[[int, bytes], object] | None) -> None:
        self.publisher = publisher
        self.air = air
        self.on_config = on_config

    def send(self, lamp: int, readings: Sequence[Reading]) -> None:
        if self.air.is_lora(lamp):
            self.air.send(lamp, readings)
        else:
            self.publisher.send(lamp, readings)

    def pump(self) -> int:
        self.air.pump(self.on_config)
        return self.publisher.pump()

    def publish_state(self, lamp: int, state: bytes) -> None:
        if not self.air.is_lora(lamp):
            self.publisher.publish_state(lamp, state)  # LoRa lamps tell their gateway (a state frame)

    def watermark(self, lamp: int) -> int | None:
        return self.publisher.watermark(lamp)

    def pending(self, lamp: int) -> list[Reading]:
        return self.air.pending(lamp) if self.air.is_lora(lamp) else self.publisher.pending(lamp)

    def wait_acked(self, timeout_s: float, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            self.pump()
            if self.publisher.journal.unacked() == 0 and self.air.delivered(self.publisher):
                return True
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(0.05)

    def stats(self) -> PublishStats:
        a = self.publisher.stats()
        b = self.air.publish_stats()
        return PublishStats(messages=a.messages + b.messages, readings=a.readings + b.readings,
                            acked=a.acked + b.acked, resent=a.resent + b.resent, unacked=a.unacked + b.unacked,
                            bad_acks=a.bad_acks)
