"""The LoRa side: frames from the radio into the disk queue, class A downlinks back out.

The radio here is the simulated medium (gateway.medium) reached over UDP; a concentrator driver
would be another implementation of the same small surface (frames in, timestamped TX out).

For each uplink the gateway parses the LoRaWAN-shaped frame (docs/lora.md), maps its DevAddr to a
lamp (from ``radio.devices`` or a HELLO frame the lamp sent), decodes the protocol frame with the
codec against what it last knew of the lamp, and commits readings and decoder state together. Then,
in the lamp's receive window 1 s after its uplink (RX1; RX2 at 921.4 MHz SF10 after 2 s when RX1 is
not possible), it may answer: with the held watermark when the uplink was a confirmed one, else with
the oldest queued downlink for the lamp — within the gateway's own 1 % duty cycle. Expired downlinks
are dropped; every outcome is counted and reported.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from firmware.device import airtime, lorawire
from gateway import protocol
from gateway.config import GatewayConfig
from gateway.downlinks import DownlinkQueue
from gateway.outbox import Downlink, Item, Outbox

log = logging.getLogger(__name__)

# Frames per lamp kept while the gateway waits for the lamp's sync to decode them.
MAX_UNDECODED = 32
TX_RESULT_TIMEOUT_S = 2.0


@dataclass
class RadioStats:
    rx_frames: int = 0
    rx_bad: int = 0
    rx_unknown_device: int = 0
    rx_duplicate_fcnt: int = 0
    rx_rejected: dict[str, int] = field(default_factory=dict)
    fcnt_gaps: int = 0
    hellos: int = 0
    tx_frames: int = 0
    tx_airtime_us: int = 0
    tx_refused: dict[str, int] = field(default_factory=dict)
    acks_sent: int = 0
    downlinks_sent: int = 0
    duty_deferred: int = 0
    medium_collisions: int = 0


class AsyncRadio(asyncio.DatagramProtocol):
    """The gateway's end of the medium's UDP protocol."""

    def __init__(self, on_frame: Callable[[lorawire.RxFrame], None]) -> None:
        self.on_frame = on_frame
        self.speed = 1.0
        self._base_us = 0
        self._base_wall = 0.0
        self._token = 0
        self._results: dict[int, asyncio.Future[lorawire.TxResult]] = {}
        self._stats_reply: asyncio.Future[bytes] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.welcomed = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            kind = lorawire.datagram_type(data)
            if kind == lorawire.T_RX:
                self.on_frame(lorawire.decode_rx(data))
            elif kind == lorawire.T_TX_RESULT:
                result = lorawire.decode_tx_result(data)
                fut = self._results.pop(result.token, None)
                if fut is not None and not fut.done():
                    fut.set_result(result)
            elif kind == lorawire.T_WELCOME:
                self._base_us, self.speed = lorawire.decode_welcome(data)
                self._base_wall = time.monotonic()
                self.welcomed.set()
            elif kind == lorawire.T_STATS_REPLY and self._stats_reply is not None:
                self._stats_reply.set_result(bytes(data[2:]))
        except lorawire.WireError:
            log.warning("unreadable datagram from the medium")

    def now_us(self) -> int:
        return self._base_us + int((time.monotonic() - self._base_wall) * self.speed * 1_000_000)

    def hello(self) -> None:
        if self.transport is not None:
            self.transport.sendto(lorawire.encode_hello(lorawire.ROLE_GATEWAY, "gateway"))

    async def transmit(self, payload: bytes, freq: int, sf: int, at_us: int) -> lorawire.TxResult:
        assert self.transport is not None
        self._token = (self._token + 1) & 0xFFFF
        fut: asyncio.Future[lorawire.TxResult] = asyncio.get_running_loop().create_future()
        self._results[self._token] = fut
        req = lorawire.TxRequest(self._token, 0, freq=freq, sf=sf, bw=airtime.BW_125K, cr=1,
                                 flags=lorawire.FLAG_IQ_INVERTED, at_us=at_us, payload=payload)
        self.transport.sendto(lorawire.encode_tx(req))
        try:
            return await asyncio.wait_for(fut, TX_RESULT_TIMEOUT_S)
        finally:
            self._results.pop(self._token, None)

    async def medium_stats(self) -> bytes | None:
        if self.transport is None:
            return None
        self._stats_reply = asyncio.get_running_loop().create_future()
        self.transport.sendto(lorawire.encode_simple(lorawire.T_STATS))
        try:
            return await asyncio.wait_for(self._stats_reply, TX_RESULT_TIMEOUT_S)
        except TimeoutError:
            return None
        finally:
            self._stats_reply = None


Submit = Callable[[list[Item], list[tuple[str, str]]], "asyncio.Future[object]"]


@dataclass
class _Answer:
    """One downlink frame chosen for a receive window, and what to record once it is on air."""

    body: bytes
    what: str  # "ack" | "ping" | "downlink"
    downlink: Downlink | None = None
    frames: int = 1
    more: bool = False


class LoraLink:
    def __init__(self, cfg: GatewayConfig, outbox: Outbox, downlinks: DownlinkQueue, *, submit: Submit,
                 now: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.downlinks = downlinks
        self.submit = submit
        self.now = now
        self.stats = RadioStats()
        self.radio = AsyncRadio(self._on_frame)
        self._devices: dict[int, str] = {int(a, 16): lamp for a, lamp in cfg.radio.devices.items()}
        self._devices.update(outbox.devaddrs())
        self._lamp_addr: dict[str, int] = {lamp: addr for addr, lamp in self._devices.items()}
        self._fcnt: dict[int, int] = {}
        self._next_free_us = 0
        self._down_fcnt: dict[int, int] = {}
        self._need_sync: set[str] = set()
        self._channels = set(cfg.radio.channels)
        self._undecoded: dict[str, list[tuple[bytes, float]]] = {}
        self._airtime_log: deque[tuple[float, int]] = deque()
        self._started = time.monotonic()
        self._tasks: set[asyncio.Task[None]] = set()

    def is_lora_lamp(self, lamp: str) -> bool:
        return lamp in self._lamp_addr

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: self.radio, remote_addr=self.cfg.radio.medium_address)
        try:
            while True:
                self.radio.hello()
                stats = await self.radio.medium_stats()
                if stats:
                    self.stats.medium_collisions = int(protocol.loads(stats).get("collided", 0))
                await asyncio.sleep(lorawire.HELLO_EVERY_S)
        finally:
            transport.close()

    # --- uplinks -------------------------------------------------------------------------------

    def _reject(self, reason: str) -> None:
        log.info("refused a LoRa frame: %s", reason)
        self.stats.rx_rejected[reason] = self.stats.rx_rejected.get(reason, 0) + 1

    def _on_frame(self, rx: lorawire.RxFrame) -> None:
        if rx.flags & lorawire.FLAG_IQ_INVERTED:
            return  # another gateway's downlink
        if rx.freq not in self._channels:
            return  # a concentrator hears only the channels it is tuned to
        self.stats.rx_frames += 1
        try:
            mtype, devaddr, _fctrl, fcnt, fport, payload = lorawire.parse_phy(rx.payload)
        except lorawire.WireError:
            self.stats.rx_bad += 1
            return
        if not lorawire.is_uplink(mtype):
            return
        if fport == lorawire.FPORT_HELLO:
            self._hello(devaddr, payload)
            return
        lamp = self._devices.get(devaddr)
        if lamp is None:
            self.stats.rx_unknown_device += 1
            return
        last = self._fcnt.get(devaddr)
        if last is not None:
            if fcnt == last:
                self.stats.rx_duplicate_fcnt += 1
                return
            gap = (fcnt - last - 1) & 0xFFFF
            if gap < 0x8000:
                self.stats.fcnt_gaps += gap
        self._fcnt[devaddr] = fcnt
        confirmed = mtype == lorawire.MTYPE_CONFIRMED_UP
        items: list[Item] = []
        refs: list[tuple[str, str]] = []
        if fport == lorawire.FPORT_CODEC and payload:
            now = self.now()
            server_wm = self.outbox.marks(lamp).server_wm
            try:
                items, ref = protocol.lora_uplink(lamp, payload, self.outbox.lora_ref(lamp), now, server_wm)
            except protocol.Rejected as exc:
                self._reject(exc.reason)
                if exc.reason == "no_reference":
                    # Any command makes the lamp send a sync alarm with its full sequence and energy;
                    # the frame waits for it rather than being lost.
                    self._need_sync.add(lamp)
                    waiting = self._undecoded.setdefault(lamp, [])
                    if len(waiting) < MAX_UNDECODED:
                        waiting.append((payload, now))
            else:
                if lamp in self._undecoded:
                    earlier, ref = self._decode_waiting(lamp, ref, server_wm)
                    items = earlier + items
                refs.append((lamp, ref))
        fut = self.submit(items, refs)
        task = asyncio.get_running_loop().create_task(self._answer(fut, rx, lamp, devaddr, confirmed))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _decode_waiting(self, lamp: str, ref: str, server_wm: int | None) -> tuple[list[Item], str]:
        """Frames that arrived before the lamp's sync, decoded now, each at its own receive time."""
        items: list[Item] = []
        for payload, received in self._undecoded.pop(lamp, []):
            try:
                more, ref = protocol.lora_uplink(lamp, payload, ref, received, server_wm)
            except protocol.Rejected as exc:
                self._reject(exc.reason)
                continue
            items.extend(more)
        items.sort(key=lambda i: -1 if i.seq is None else i.seq)
        return items, ref

    def _hello(self, devaddr: int, payload: bytes) -> None:
        if not self.cfg.radio.accept_hello:
            self._reject("hello_refused")
            return
        try:
            lamp = payload.decode()
        except UnicodeDecodeError:
            self._reject("bad_hello")
            return
        if not protocol.valid_id(lamp):
            self._reject("bad_hello")
            return
        self.stats.hellos += 1
        if self._devices.get(devaddr) != lamp:
            self.outbox.bind_devaddr(lamp, devaddr)
            old = self._lamp_addr.pop(lamp, None)
            if old is not None:
                self._devices.pop(old, None)
            self._devices[devaddr] = lamp
            self._lamp_addr[lamp] = devaddr
            self._fcnt.pop(devaddr, None)

    # --- class A answers -----------------------------------------------------------------------

    def _choose(self, lamp: str, confirmed: bool, cap: int) -> _Answer | None:
        """What to send in a window that carries at most ``cap`` bytes: the held watermark when the
        lamp asked for one, a sync request when its frames cannot be decoded yet, else its oldest
        queued downlink (or that downlink's next config fragment)."""
        now = self.now()
        held = self.outbox.marks(lamp).held_wm
        if confirmed and held is not None:
            body = protocol.lora_ack(held, self.outbox.missing_above_held(lamp))
            return _Answer(body, "ack", more=lamp in self._need_sync or self.downlinks.next_for(lamp, now) is not None)
        if lamp in self._need_sync or (confirmed and held is None):
            return _Answer(protocol.gateway_ping(int(now)), "ping")
        while (d := self.downlinks.next_for(lamp, now)) is not None:
            previous = self._config_base(lamp) if d.kind == "config" else None
            try:
                frames = protocol.lora_downlink_frames(d.kind, d.body, int(now), previous)
            except protocol.Rejected:
                self.downlinks.finish(d, "unsupported")
                continue
            frame = frames[min(d.progress, len(frames) - 1)]
            if len(frame) > cap:
                return None
            return _Answer(frame, "downlink", d, len(frames), more=d.progress + 1 < len(frames))
        return None

    def _config_base(self, lamp: str) -> bytes | None:
        """The config a delta can be made against: the last one delivered, if the lamp still reports
        its version; otherwise None, and the lamp gets a full config rather than a base_mismatch."""
        previous = self.outbox.lamp_config(lamp)
        if previous is None:
            return None
        in_effect = protocol.ref_from_json(self.outbox.lora_ref(lamp)).cv
        return previous if in_effect is not None and in_effect == protocol.config_version(previous) else None

    async def _answer(self, stored: asyncio.Future[object], rx: lorawire.RxFrame, lamp: str, devaddr: int,
                      confirmed: bool) -> None:
        try:
            await stored
        except Exception:
            return
        windows = [
            (rx.end_us + int(airtime.RECEIVE_DELAY1_S * 1e6), rx.freq, rx.sf),
            (rx.end_us + int(airtime.RECEIVE_DELAY2_S * 1e6), airtime.AS923_2_RX2_FREQ, airtime.AS923_2_RX2_SF),
        ]
        wanted = False
        for at_us, freq, sf in windows:
            answer = self._choose(lamp, confirmed, airtime.max_app_payload(sf, dwell=True) or 0)
            if answer is None:
                continue
            wanted = True
            if at_us < self._next_free_us:
                continue
            fcnt = self._down_fcnt.get(devaddr, 0) + 1
            self._down_fcnt[devaddr] = fcnt
            frame = lorawire.build_phy(lorawire.MTYPE_UNCONFIRMED_DOWN, devaddr, fcnt, lorawire.FPORT_CODEC,
                                       answer.body, ack=confirmed, pending=answer.more)
            try:
                result = await self.radio.transmit(frame, freq, sf, at_us)
            except TimeoutError:
                self._count_refusal("no_answer")
                return
            if result.ok:
                self._sent(lamp, answer, result)
                return
            self._count_refusal(lorawire.TX_STATUS_NAMES[result.status])
            if result.status == lorawire.TX_DUTY_CYCLE:
                self._next_free_us = max(self._next_free_us, result.next_free_us)
        if wanted:
            self.stats.duty_deferred += 1

    def _sent(self, lamp: str, answer: _Answer, result: lorawire.TxResult) -> None:
        self.stats.tx_frames += 1
        self.stats.tx_airtime_us += result.airtime_us
        self._airtime_log.append((time.monotonic(), result.airtime_us))
        # The medium enforces the regional limit; the gateway may be configured to keep a stricter one.
        own = result.end_us + round(airtime.off_time(result.airtime_us / 1e6, self.cfg.radio.duty_cycle) * 1e6)
        self._next_free_us = max(result.next_free_us, own)
        if answer.what == "ack":
            self.stats.acks_sent += 1
        elif answer.what == "ping":
            self._need_sync.discard(lamp)
        elif answer.downlink is not None:
            d = answer.downlink
            if d.kind == "cmd" and d.cmd_id is not None and d.cmd_id.isdigit():
                # The lamp's outcome event carries the id's low 16 bits; the decoder maps them back.
                ref = protocol.ref_from_json(self.outbox.lora_ref(lamp))
                ref.cmd_ids.append(int(d.cmd_id))
                self.outbox.set_lora_ref(lamp, protocol.ref_to_json(ref))
            if d.progress + 1 < answer.frames:
                self.outbox.downlink_progress(d.id, d.progress + 1)
            else:
                if d.kind == "config":
                    self.outbox.set_lamp_config(lamp, d.body)
                self.stats.downlinks_sent += 1
                self.downlinks.finish(d, "sent")

    def _count_refusal(self, reason: str) -> None:
        self.stats.tx_refused[reason] = self.stats.tx_refused.get(reason, 0) + 1

    def duty_cycle_used(self, window_s: float = 3600.0) -> float:
        """Share of the last hour (or of the time since start, if shorter) the gateway spent transmitting."""
        now = time.monotonic()
        while self._airtime_log and self._airtime_log[0][0] < now - window_s:
            self._airtime_log.popleft()
        # The medium may run faster than real time: compare airtime with medium time, not wall time.
        elapsed_medium_s = min(window_s, (now - self._started) * self.radio.speed) if self._airtime_log else 1.0
        used = sum(a for _, a in self._airtime_log) / 1e6
        return min(1.0, used / max(elapsed_medium_s, 1.0))
