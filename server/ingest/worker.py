"""The ingestion worker: MQTT in, batches to PostgreSQL, watermarks out.

Reception never waits for the database: messages are classified as they arrive and a separate
flush task writes whatever accumulated, by size (``ingest_batch_readings``) or after
``ingest_flush_ms``. The MQTT transport acknowledges on receipt; the end-to-end guarantee is the
per-lamp ack watermark, published only after the transaction that stored the readings commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
from collections import defaultdict
from dataclasses import dataclass, field

import aiomqtt
import psycopg

from firmware.device import codec
from server.broker.drops import DROPPED_TOPIC, DropWatch
from server.ingest.acks import PUBLISH_WINDOW, AckPublisher
from server.ingest.lamps import LampDirectory
from server.ingest.messages import DeviceMessage, Limits, Message, Rejected, Telemetry, classify
from server.ingest.store import Batch, FlushResult, LampReadings, Writer
from server.mqtt import make_client, tls_files
from server.settings import Settings

log = logging.getLogger(__name__)

_SUBSCRIBED = (
    ("lamp", codec.KIND_TELEMETRY),
    ("lamp", codec.KIND_STATE),
    ("lamp", codec.KIND_EVENT),
    ("gw", codec.KIND_STATE),
)


def subscriptions(sites: list[str], share_group: str | None) -> list[str]:
    prefix = f"$share/{share_group}/" if share_group else ""
    return [
        f"{prefix}{codec.TOPIC_ROOT}/{site}/{device}/+/{kind}"
        for site in (sites or ["+"])
        for device, kind in _SUBSCRIBED
    ]


RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
# Messages held in memory while the database is unreachable; beyond this the worker stops
# consuming and leaves them queued in its persistent broker session.
MAX_BUFFERED_MESSAGES = 200_000


@dataclass
class WorkerStats:
    messages: int = 0
    readings_received: int = 0
    readings_stored: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    flushes: int = 0
    connected: bool = False
    first_message_at: float | None = None
    # Messages the broker reported dropping (its $SYS counter) while this worker was connected.
    broker_dropped: int = 0


class IngestWorker:
    def __init__(self, settings: Settings, *, database_url: str, mqtt_url: str, worker_id: str | None = None) -> None:
        self.settings = settings
        self.database_url = database_url
        self.mqtt_url = mqtt_url
        self.worker_id = worker_id or f"{settings.mqtt_client_id}-{socket.gethostname()}-ingest"
        self.limits = Limits(
            settings.ingest_max_payload_bytes, settings.ingest_max_batch_readings, settings.ingest_future_tolerance_s
        )
        self.stats = WorkerStats()
        self.directory = LampDirectory()
        self.acks = AckPublisher(settings.ack_min_interval_ms / 1000)
        self.ready = asyncio.Event()
        self._items: list[Message] = []
        self._has_data = asyncio.Event()
        self._full = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._writer: Writer | None = None
        self.broker_drops = DropWatch()
        # Counters with no message of their own (broker drops), added to the next flush.
        self._extra_counters: dict[str, int] = defaultdict(int)

    # -- reception ---------------------------------------------------------------------------

    def accept(self, topic: str, payload: bytes, received_at: float) -> None:
        msg = classify(topic, payload, received_at, self.limits)
        self.stats.messages += 1
        if self.stats.first_message_at is None:
            self.stats.first_message_at = received_at
        if isinstance(msg, Telemetry):
            self.stats.readings_received += len(msg.readings)
            oldest = received_at - self.settings.retention_days * 86400
            if min(r[1] for r in msg.readings) < oldest:
                msg = Rejected(topic, payload, "stale_timestamp",
                               f"ts older than the {self.settings.retention_days}-day retention", received_at)
        self._items.append(msg)
        self._has_data.set()
        if len(self._items) >= self.settings.ingest_batch_readings:
            self._full.set()
        if len(self._items) >= MAX_BUFFERED_MESSAGES:
            self._drained.clear()

    def broker_counter(self, payload: bytes) -> None:
        new = self.broker_drops.offer(payload)
        if new:
            self.stats.broker_dropped += new
            self._extra_counters["broker_dropped"] += new
            self._has_data.set()
            log.warning("the broker dropped %d messages (a subscriber too slow, or max_queued_messages too low; "
                        "%d since this worker connected)", new, self.stats.broker_dropped)

    async def _consume(self) -> None:
        share = self.settings.ingest_share_group
        client = make_client(self.mqtt_url, self.worker_id, persistent=True, mqtt5=bool(share),
                             tls=tls_files(self.settings))
        # Acks go out a window at a time on purpose (acks.PUBLISH_WINDOW); do not warn about it.
        client.pending_calls_threshold = PUBLISH_WINDOW + 10
        async with client:
            for topic in subscriptions(self.settings.ingest_sites, share):
                await client.subscribe(topic, qos=1)
            # Not shared: every worker watches the broker. A broker that denies $SYS just sends nothing.
            await client.subscribe(DROPPED_TOPIC, qos=0)
            self.broker_drops = DropWatch()  # a new connection starts from a new baseline
            self.stats.connected = True
            self.ready.set()
            log.info("ingest worker %s subscribed at %s", self.worker_id, self.mqtt_url)
            ack_task = asyncio.create_task(self.acks.run(client))
            try:
                async for message in client.messages:
                    payload = message.payload
                    raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
                    if message.topic.value == DROPPED_TOPIC:
                        self.broker_counter(bytes(raw))
                        continue
                    self.accept(message.topic.value, bytes(raw), time.time())
                    if not self._drained.is_set():
                        log.warning("database unreachable and %d messages buffered: pausing", len(self._items))
                        break
            finally:
                ack_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ack_task
                self.stats.connected = False
        await self._drained.wait()

    async def _consume_forever(self) -> None:
        delay = RECONNECT_MIN_S
        while True:
            try:
                await self._consume()
                delay = RECONNECT_MIN_S
            except aiomqtt.MqttError as exc:
                log.warning("broker connection lost (%s); reconnecting in %.1f s", exc, delay)
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))
                delay = min(delay * 2, RECONNECT_MAX_S)

    # -- storage -----------------------------------------------------------------------------

    async def _connect_db(self) -> Writer:
        delay = RECONNECT_MIN_S
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.database_url)
                cur = await conn.execute("SELECT mode FROM storage_info")
                row = await cur.fetchone()
                await conn.commit()
                if row is None:
                    raise RuntimeError("database is not migrated; run `terang db migrate`")
                await self.directory.load_all(conn)
                await conn.commit()
                return Writer(conn, mode=row[0], worker_id=self.worker_id,
                              payload_cap=self.settings.dead_letter_payload_cap)
            except psycopg.OperationalError as exc:
                log.warning("database unreachable (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)

    async def _build_batch(self, writer: Writer, items: list[Message]) -> Batch:
        """Resolves lamp ids (one query for all unknown ones) and groups readings per lamp."""
        batch = Batch(first_message_at=self.stats.first_message_at)
        wanted = {m.lamp_id for m in items if isinstance(m, Telemetry)}
        wanted.update(m.device_id for m in items if isinstance(m, DeviceMessage) and m.device_class == "lamp")
        await self.directory.lookup(writer.conn, wanted)
        await writer.conn.commit()
        counters = batch.counters
        for msg in items:
            counters["messages"] += 1
            if isinstance(msg, Rejected):
                batch.rejected.append(msg)
                continue
            lamp_id = msg.lamp_id if isinstance(msg, Telemetry) else msg.device_id
            ref = None
            if isinstance(msg, Telemetry) or msg.device_class == "lamp":
                ref = self.directory.cached(lamp_id)
                if ref is None:
                    batch.rejected.append(Rejected(msg.topic, msg.payload, "unknown_lamp",
                                                   f"lamp {lamp_id!r} is not registered", msg.received_at))
                    continue
                if ref.site_id != msg.site_id:
                    batch.rejected.append(Rejected(
                        msg.topic, msg.payload, "site_mismatch",
                        f"lamp {lamp_id!r} is registered under site {ref.site_id!r}, not {msg.site_id!r}",
                        msg.received_at))
                    continue
            if isinstance(msg, DeviceMessage):
                batch.device_messages.append((ref.key if ref else None, msg))
                continue
            assert ref is not None
            lamp = batch.lamps.get(ref.key)
            if lamp is None:
                lamp = batch.lamps[ref.key] = LampReadings(msg.site_id, msg.lamp_id)
            for r in msg.readings:
                lamp.readings[(r[0], r[1])] = r
            batch.readings_in += len(msg.readings)
            counters["readings_received"] += len(msg.readings)
        for rej in batch.rejected:
            counters["rejected"] += 1
            counters["rejected:" + rej.reason] += 1
        return batch

    async def _write_with_isolation(self, writer: Writer, batch: Batch, items: list[Message]) -> FlushResult:
        """Writes a batch; if the database refuses it for its content, writes message by message
        so that only the offending message is dead-lettered and the rest is stored."""
        try:
            return await writer.write(batch)
        except psycopg.OperationalError:
            raise
        except psycopg.Error as exc:
            log.error("batch refused by the database (%s); isolating the bad message", exc)
        total = FlushResult()
        for msg in items:
            single = await self._build_batch(writer, [msg])
            try:
                part = await writer.write(single)
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                if isinstance(msg, Telemetry | DeviceMessage):
                    bad = Rejected(msg.topic, msg.payload, "store_failed", str(exc).strip()[:500], msg.received_at)
                    part = await writer.write(await self._build_batch(writer, [bad]))
                else:
                    raise
            total.stored += part.stored
            total.duplicates += part.duplicates
            total.acks.extend(part.acks)
        return total

    async def _flush_forever(self) -> None:
        assert self._writer is not None
        try:
            await self._flush_loop()
        finally:
            await self._writer.conn.close()

    async def _flush_loop(self) -> None:
        assert self._writer is not None
        writer = self._writer
        flush_s = self.settings.ingest_flush_ms / 1000
        while True:
            await self._has_data.wait()
            if not self._full.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), flush_s)
            items, self._items = self._items, []
            extra, self._extra_counters = self._extra_counters, defaultdict(int)
            self._has_data.clear()
            self._full.clear()
            delay = RECONNECT_MIN_S
            while True:
                try:
                    batch = await self._build_batch(writer, items)
                    for name, value in extra.items():
                        batch.counters[name] += value
                    result = await self._write_with_isolation(writer, batch, items)
                    break
                except psycopg.OperationalError as exc:
                    log.warning("database write failed (%s); reconnecting", exc)
                    with contextlib.suppress(Exception):
                        await writer.conn.close()
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RECONNECT_MAX_S)
                    writer = self._writer = await self._connect_db()
            self.stats.flushes += 1
            self.stats.readings_stored += result.stored
            self.stats.duplicates += result.duplicates
            for rej in batch.rejected:
                self.stats.rejected[rej.reason] += 1
            self.acks.offer(result.acks)
            if len(self._items) < MAX_BUFFERED_MESSAGES // 2:
                self._drained.set()

    async def _listen_lamp_changes(self) -> None:
        """Drops cached lamp ids when the registry changes them (NOTIFY from a trigger)."""
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
                async with conn:
                    await conn.execute("LISTEN terang_lamps")
                    async for note in conn.notifies():
                        self.directory.forget(note.payload)
            except psycopg.OperationalError:
                await asyncio.sleep(RECONNECT_MAX_S / 10)

    async def run(self) -> None:
        """Runs until cancelled. Consumption starts only once the database answers: a message
        taken from the broker before it can be stored would only wait in memory."""
        self._writer = await self._connect_db()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._flush_forever())
            tg.create_task(self._listen_lamp_changes())
            tg.create_task(self._consume_forever())
