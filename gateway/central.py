"""The backhaul: forwards the disk queue to the central broker and applies the server's watermarks.

Readings go out per lamp, in seq order, as JSON arrays of up to ``batch_max`` codec-encoded readings
on the lamp's own telemetry topic, QoS 1. Lamps take turns (the one holding the oldest reading first)
with one batch in flight each: what arrives while a lamp waits for its watermark leaves together in its
next batch, so a day of backlog from a thousand lamps leaves as a thousand large batches rather than a
quarter million small messages.
A reading leaves the queue only when the server's retained ``ack`` for its lamp covers it; a batch
that no watermark has covered after ``resend_after_s`` (or that was in flight when the link dropped)
is published again — the server stores idempotently, so a duplicate costs bandwidth, never data.

Other uplinks (events, states, the gateway's own reports) are published in arrival order and leave
the queue on the broker's PUBACK: the watermark covers readings only. Readings the queue had to drop
are reported as journal-drop events so the server can close the gap in its watermark.

Downlinks (``cmd``, ``config``) for the site's lamps arrive here too; each is handed to the downlink
queue, and only once it is on disk does the broker get its PUBACK.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiomqtt

from firmware.device import codec
from gateway import mqttclient, protocol
from gateway.config import GatewayConfig
from gateway.outbox import Outbox

log = logging.getLogger(__name__)

# Non-reading items (and drop reports) published but not yet acknowledged by the broker.
OTHER_INFLIGHT_MAX = 100
RESEND_CHECK_S = 1.0
ACK_APPLY_DELAY_S = 0.02


@dataclass
class BackhaulStats:
    state: str = "down"
    since: float = 0.0
    outages: int = 0
    connects: int = 0
    batches_sent: int = 0
    readings_sent: int = 0
    batches_resent: int = 0
    others_sent: int = 0
    acks_received: int = 0
    downlinks_received: int = 0
    last_error: str | None = None


AckHook = Callable[[set[str]], None]
DownlinkHook = Callable[[str, str, bytes], Awaitable[None]]


class CentralLink:
    def __init__(self, cfg: GatewayConfig, outbox: Outbox, *, on_acks: AckHook,
                 on_downlink: DownlinkHook, health: Callable[[], bytes], offline: bytes) -> None:
        self.cfg = cfg
        self.outbox = outbox
        self.on_acks = on_acks
        self.on_downlink = on_downlink
        self.health = health
        self.offline_payload = offline
        self.stats = BackhaulStats(since=time.time())
        self.site = cfg.gateway.site
        self.gw_id = cfg.gateway.id
        # Lamps with readings not yet published, in turn order; and per lamp the last seq published.
        self._ready: OrderedDict[str, None] = OrderedDict((lamp, None) for lamp in outbox.lamps_with_readings())
        self._sent: dict[str, int] = {}
        self._inflight: dict[str, deque[tuple[int, float]]] = {}
        self._inflight_count = 0
        self._wake = asyncio.Event()
        self._wake.set()
        # Whether the queue may hold events/states/drop reports not yet published (saves two queries
        # per wake when it holds only readings).
        self._others_due = True
        self._pending_acks: dict[str, tuple[int, list[tuple[int, int]]]] = {}
        self._ack_flush_scheduled = False
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()

    # --- notifications from the rest of the gateway ------------------------------------------

    def readings_stored(self, lamps: set[str]) -> None:
        for lamp in lamps:
            self._ready.setdefault(lamp, None)
        self._wake.set()

    def others_stored(self) -> None:
        self._others_due = True
        self._wake.set()

    # --- connection loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Connects, forwards, reconnects with backoff and jitter; returns only when cancelled."""
        delay = self.cfg.central.reconnect_min_s
        c = self.cfg.central
        while True:
            will = aiomqtt.Will(codec.gw_topic(self.site, self.gw_id, codec.KIND_STATE), self.offline_payload,
                                qos=1, retain=True)
            client = mqttclient.make_client(
                c.url, c.client_id or f"terang-gw-{self.gw_id}", username=c.username, password=c.password,
                keepalive=c.keepalive_s, will=will, connect_timeout=c.connect_timeout_s, ca_file=c.ca_file)
            try:
                async with client:
                    delay = self.cfg.central.reconnect_min_s
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                self.stats.last_error = str(exc)
                log.warning("backhaul down (%s); retrying in %.1f s", exc, delay)
            except BaseExceptionGroup as group:
                _match, rest = group.split(aiomqtt.MqttError)
                if rest is not None:
                    raise rest from None
                self.stats.last_error = str(group.exceptions[0])
                log.warning("backhaul down (%s); retrying in %.1f s", self.stats.last_error, delay)
            finally:
                self._client = None
                self.connected.clear()
                if self.stats.state == "up":
                    self.stats.state = "down"
                    self.stats.since = time.time()
                    self.stats.outages += 1
                self._forget_inflight()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self.cfg.central.reconnect_max_s)

    def _next_ready(self) -> str | None:
        for lamp in self._ready:
            if lamp not in self._inflight:
                return lamp
        return None

    def _forget_inflight(self) -> None:
        # Whatever was in flight may have died with the connection (or with a broker that lost its
        # session): publish it again after reconnecting.
        for lamp in self._inflight:
            self._rewind(lamp)
        self._inflight.clear()
        self._inflight_count = 0
        self._others_due = True
        self._wake.set()

    def _rewind(self, lamp: str) -> None:
        self._sent.pop(lamp, None)
        self._ready[lamp] = None
        self._ready.move_to_end(lamp, last=False)

    async def _session(self, client: aiomqtt.Client) -> None:
        root = f"{codec.TOPIC_ROOT}/{self.site}/lamp/+"
        await client.subscribe(f"{root}/{codec.KIND_ACK}", qos=1)
        await client.subscribe(f"{root}/{codec.KIND_CMD}", qos=1)
        await client.subscribe(f"{root}/{codec.KIND_CONFIG}", qos=1)
        self._client = client
        self.stats.state = "up"
        self.stats.since = time.time()
        self.stats.connects += 1
        self.connected.set()
        log.info("backhaul up: %s", self.cfg.central.url.split("@")[-1])
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(client))
            tg.create_task(self._send(client, tg))
            tg.create_task(self._publish_health(client))
            tg.create_task(self._check_resend())

    # --- inbound: acks and downlinks -----------------------------------------------------------

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic = str(message.topic)
            payload = bytes(message.payload) if isinstance(message.payload, bytes | bytearray) else b""
            try:
                _site, _cls, lamp, kind = codec.parse_topic(topic)
            except codec.CodecError:
                mqttclient.ack(client, message)
                continue
            if kind == codec.KIND_ACK:
                if payload:
                    self._queue_ack(lamp, payload)
            elif payload:
                self.stats.downlinks_received += 1
                await self.on_downlink(lamp, kind, payload)
            mqttclient.ack(client, message)

    def _queue_ack(self, lamp: str, payload: bytes) -> None:
        try:
            seq, missing = codec.decode_ack(payload)
        except codec.CodecError:
            log.warning("unreadable ack for %s: %r", lamp, payload[:64])
            return
        self.stats.acks_received += 1
        old = self._pending_acks.get(lamp)
        if old is None or seq >= old[0]:
            self._pending_acks[lamp] = (seq, list(missing or []))
        if not self._ack_flush_scheduled:
            # Acks that arrive together are applied in one transaction: trimming need not be durable
            # at once (a trim lost to a power cut only means publishing those readings again).
            self._ack_flush_scheduled = True
            asyncio.get_running_loop().call_later(ACK_APPLY_DELAY_S, self._apply_acks)

    def _apply_acks(self) -> None:
        self._ack_flush_scheduled = False
        acks, self._pending_acks = self._pending_acks, {}
        moved: set[str] = set()
        self.outbox.server_acks({lamp: seq for lamp, (seq, _missing) in acks.items()})
        for lamp, (seq, missing) in acks.items():
            moved.add(lamp)
            flights = self._inflight.get(lamp)
            while flights and flights[0][0] <= seq:
                flights.popleft()
                self._inflight_count -= 1
            if flights is not None and not flights:
                del self._inflight[lamp]
            sent = self._sent.get(lamp)
            if sent is not None and sent < seq:
                self._sent[lamp] = seq
            if missing:
                # The server lacks these; if we hold any of them, publish from the first gap again.
                first = min(r[0] for r in missing)
                if sent is not None and first <= sent:
                    self._sent[lamp] = max(first - 1, seq)
                    self._ready[lamp] = None
        if moved:
            self._wake.set()
            self.on_acks(moved)

    # --- outbound ------------------------------------------------------------------------------

    async def _send(self, client: aiomqtt.Client, tg: asyncio.TaskGroup) -> None:
        others_cursor = 0
        others_inflight: set[int] = set()
        drops_inflight: set[tuple[str, int, int]] = set()
        batch_max = self.cfg.central.batch_max
        inflight_max = self.cfg.central.inflight_max
        while True:
            await self._wake.wait()
            self._wake.clear()
            # Readings, lamp by lamp, one batch in flight per lamp: what arrives while a lamp waits for
            # its watermark goes out together in its next batch.
            while self._inflight_count < inflight_max:
                lamp = self._next_ready()
                if lamp is None:
                    break
                after = self._sent.get(lamp)
                if after is None:
                    after = self.outbox.marks(lamp).server_wm
                rows = self.outbox.readings_after(lamp, after, batch_max)
                if not rows:
                    del self._ready[lamp]
                    continue
                if len(rows) < batch_max:
                    del self._ready[lamp]
                else:
                    self._ready.move_to_end(lamp)
                last = rows[-1][0]
                self._sent[lamp] = last
                self._inflight.setdefault(lamp, deque()).append((last, time.monotonic()))
                self._inflight_count += 1
                topic = codec.lamp_topic(self.site, lamp, codec.KIND_TELEMETRY)
                tg.create_task(client.publish(topic, protocol.join_readings([b for _, b in rows]), qos=1,
                                              timeout=mqttclient.PUBLISH_TIMEOUT_S))
                self.stats.batches_sent += 1
                self.stats.readings_sent += len(rows)
            if not self._others_due:
                continue
            self._others_due = False
            # Events, states and gateway reports, in arrival order, until the broker has them.
            if len(others_inflight) < OTHER_INFLIGHT_MAX:
                room = OTHER_INFLIGHT_MAX - len(others_inflight)
                batch = self.outbox.others_after(others_cursor, room)
                self._others_due = len(batch) == room
                for item_id, lamp, kind, body in batch:
                    others_cursor = item_id
                    others_inflight.add(item_id)
                    tg.create_task(self._publish_other(client, item_id, lamp, kind, body, others_inflight))
            else:
                self._others_due = True
            # Journal-drop reports for readings the full queue gave up.
            for drop in self.outbox.pending_drops():
                if drop in drops_inflight:
                    continue
                if len(drops_inflight) >= OTHER_INFLIGHT_MAX:
                    self._others_due = True
                    break
                drops_inflight.add(drop)
                tg.create_task(self._publish_drop(client, drop, drops_inflight))

    async def _publish_other(self, client: aiomqtt.Client, item_id: int, lamp: str, kind: str, body: bytes,
                             inflight: set[int]) -> None:
        if kind.startswith("gw_"):
            topic = codec.gw_topic(self.site, self.gw_id, kind[3:])
        else:
            topic = codec.lamp_topic(self.site, lamp, kind)
        await client.publish(topic, body, qos=1, retain=kind == codec.KIND_STATE, timeout=mqttclient.PUBLISH_TIMEOUT_S)
        self.outbox.remove(item_id)
        self.stats.others_sent += 1
        inflight.discard(item_id)
        self._others_due = True
        self._wake.set()

    async def _publish_drop(self, client: aiomqtt.Client, drop: tuple[str, int, int],
                            inflight: set[tuple[str, int, int]]) -> None:
        lamp, first, last = drop
        topic = codec.lamp_topic(self.site, lamp, codec.KIND_EVENT)
        await client.publish(topic, protocol.journal_drop_event(first, last, time.time()), qos=1,
                             timeout=mqttclient.PUBLISH_TIMEOUT_S)
        self.outbox.drop_reported(lamp, first, last)
        inflight.discard(drop)
        self._others_due = True
        self._wake.set()

    async def _publish_health(self, client: aiomqtt.Client) -> None:
        topic = codec.gw_topic(self.site, self.gw_id, codec.KIND_STATE)
        while True:
            await client.publish(topic, self.health(), qos=1, retain=True)
            await asyncio.sleep(self.cfg.central.health_interval_s)

    async def _check_resend(self) -> None:
        limit = self.cfg.central.resend_after_s
        while True:
            await asyncio.sleep(min(RESEND_CHECK_S, limit / 2))
            cutoff = time.monotonic() - limit
            stale = [lamp for lamp, flights in self._inflight.items() if flights and flights[0][1] < cutoff]
            for lamp in stale:
                flights = self._inflight.pop(lamp)
                self._inflight_count -= len(flights)
                self.stats.batches_resent += len(flights)
                self._rewind(lamp)
            if stale:
                log.info("no watermark for %d lamps after %.0f s; publishing again", len(stale), limit)
                self._wake.set()


