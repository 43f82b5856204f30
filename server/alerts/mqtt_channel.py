"""MQTT delivery: the notification's JSON at QoS 1 on the crew's alerts topic.

The broker connection is opened on the first delivery and dropped on any error, so an unreachable
broker only delays MQTT deliveries (they are tried again) while webhooks and e-mail go on.
"""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt

from firmware.device import codec
from server.alerts.retry import Outcome
from server.mqtt import TlsFiles, make_client

PUBLISH_TIMEOUT_S = 10.0


def crew_alert_topic(site_id: str, crew_id: str, suffix: str | None = None) -> str:
    """``terang/v1/<site>/crew/<crew_id>/alerts`` (``/<suffix>`` when the subscription names one)."""
    topic = f"{codec.TOPIC_ROOT}/{site_id}/crew/{crew_id}/alerts"
    return f"{topic}/{suffix}" if suffix else topic


class MqttChannel:
    def __init__(self, url: str, client_id: str, *, tls: TlsFiles | None = None) -> None:
        self.url = url
        self.client_id = client_id
        self.tls = tls
        self._stack: contextlib.AsyncExitStack | None = None
        self._client: aiomqtt.Client | None = None
        # Deliveries run concurrently; the first one connects, the others wait for it.
        self._connecting = asyncio.Lock()

    async def _connected(self) -> aiomqtt.Client:
        async with self._connecting:
            if self._client is None:
                stack = contextlib.AsyncExitStack()
                client = make_client(self.url, self.client_id, persistent=False, tls=self.tls)
                await stack.enter_async_context(client)
                self._stack, self._client = stack, client
            return self._client

    async def publish(self, topic: str, payload: bytes) -> Outcome:
        try:
            client = await self._connected()
            await client.publish(topic, payload, qos=1, timeout=PUBLISH_TIMEOUT_S)
        except aiomqtt.MqttError as exc:
            await self.close()
            return Outcome.retry(f"MQTT: {exc}")
        return Outcome.sent()

    async def close(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(aiomqtt.MqttError, OSError):
                await stack.aclose()
