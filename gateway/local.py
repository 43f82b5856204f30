"""The local broker: Wi-Fi/4G controllers in the gateway's area publish here; the gateway takes it in.

The gateway subscribes to the site's lamp ``telemetry``, ``event`` and ``state`` with a persistent
session and manual acknowledgement: a message is PUBACKed only after it is committed to the disk
queue, so the local broker redelivers anything the gateway had not stored when it died. Lamps learn
what the gateway holds from a retained ``ack`` with the gateway's held watermark, and receive their
``cmd``/``config`` downlinks here at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from firmware.device import codec
from gateway import mqttclient
from gateway.config import GatewayConfig

log = logging.getLogger(__name__)


@dataclass
class LocalStats:
    state: str = "down"
    since: float = 0.0
    messages: int = 0
    acks_sent: int = 0
    downlinks_sent: int = 0
    last_error: str | None = None


# (topic, payload) -> a future that completes once the uplink is committed to the disk queue.
UplinkHook = Callable[[str, bytes], "asyncio.Future[object]"]


class LocalLink:
    def __init__(self, cfg: GatewayConfig, *, on_uplink: UplinkHook, ack_for: Callable[[str], bytes | None],
                 on_connected: Callable[[], None] | None = None) -> None:
        self.cfg = cfg
        self.on_uplink = on_uplink
        self.ack_for = ack_for
        self.on_connected = on_connected
        self.stats = LocalStats(since=time.time())
        self._client: aiomqtt.Client | None = None
        self._acks_due: set[str] = set()
        self._acks_wake = asyncio.Event()
        self.connected = asyncio.Event()

    def acks_due(self, lamps: set[str]) -> None:
        self._acks_due.update(lamps)
        self._acks_wake.set()

    async def publish_downlink(self, lamp: str, kind: str, body: bytes) -> bool:
        """Publishes a cmd/config to the lamp at once; False when the local broker is unreachable."""
        client = self._client
        if client is None:
            return False
        topic = codec.lamp_topic(self.cfg.gateway.site, lamp, kind)
        try:
            await client.publish(topic, body, qos=1, retain=kind == codec.KIND_CONFIG)
        except aiomqtt.MqttError:
            return False
        self.stats.downlinks_sent += 1
        return True

    async def run(self) -> None:
        c = self.cfg.local
        delay = 0.5
        while True:
            client = mqttclient.make_client(c.url, c.client_id or f"terang-gw-{self.cfg.gateway.id}-local")
            try:
                async with client:
                    delay = 0.5
                    await self._session(client)
            except aiomqtt.MqttError as exc:
                self.stats.last_error = str(exc)
                log.warning("local broker unreachable (%s); retrying in %.1f s", exc, delay)
            except BaseExceptionGroup as group:
                _match, rest = group.split(aiomqtt.MqttError)
                if rest is not None:
                    raise rest from None
                self.stats.last_error = str(group.exceptions[0])
            finally:
                self._client = None
                self.connected.clear()
                if self.stats.state == "up":
                    self.stats.state = "down"
                    self.stats.since = time.time()
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 30.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        root = f"{codec.TOPIC_ROOT}/{self.cfg.gateway.site}/lamp/+"
        for kind in (codec.KIND_TELEMETRY, codec.KIND_EVENT, codec.KIND_STATE):
            await client.subscribe(f"{root}/{kind}", qos=1)
        self._client = client
        self.stats.state = "up"
        self.stats.since = time.time()
        self.connected.set()
        if self.on_connected is not None:
            self.on_connected()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(client))
            tg.create_task(self._send_acks(client))

    async def _receive(self, client: aiomqtt.Client) -> None:
        failed: list[BaseException] = []

        def committed(message: aiomqtt.Message, fut: asyncio.Future[object]) -> None:
            if fut.cancelled() or fut.exception() is not None:
                failed.append(fut.exception() or asyncio.CancelledError())
            elif self._client is client:
                mqttclient.ack(client, message)

        async for message in client.messages:
            if failed:
                # Not stored, so not acknowledged: drop the session and let the broker redeliver.
                raise aiomqtt.MqttError(f"could not store an uplink: {failed[0]}")
            payload = message.payload if isinstance(message.payload, bytes) else b""
            self.stats.messages += 1
            # Messages are committed in groups; each PUBACK goes out when its group is on disk.
            fut = self.on_uplink(str(message.topic), payload)
            fut.add_done_callback(lambda f, m=message: committed(m, f))  # type: ignore[misc]

    async def _send_acks(self, client: aiomqtt.Client) -> None:
        interval = self.cfg.local.ack_interval_s
        while True:
            await self._acks_wake.wait()
            self._acks_wake.clear()
            due, self._acks_due = self._acks_due, set()
            for lamp in due:
                payload = self.ack_for(lamp)
                if payload is None:
                    continue
                topic = codec.lamp_topic(self.cfg.gateway.site, lamp, codec.KIND_ACK)
                await client.publish(topic, payload, qos=1, retain=True)
                self.stats.acks_sent += 1
            # Acks are cumulative: coalescing them per interval loses nothing.
            await asyncio.sleep(interval)
