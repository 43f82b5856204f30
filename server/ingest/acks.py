"""Publishes per-lamp ack watermarks, retained, coalescing bursts.

The watermark is cumulative, so publishing only the newest value per lamp at most once per
interval loses nothing; under load it turns one publish per reading into one per lamp per interval.
"""

from __future__ import annotations

import asyncio
import logging
import time

import aiomqtt

from firmware.device import codec
from server.ingest.store import Ack

log = logging.getLogger(__name__)

# Acks in flight at once (QoS 1, each awaiting its PUBACK).
PUBLISH_WINDOW = 200


class AckPublisher:
    def __init__(self, min_interval_s: float) -> None:
        self.min_interval_s = min_interval_s
        self._due: dict[tuple[str, str], Ack] = {}
        self._last_sent: dict[tuple[str, str], float] = {}
        self._wake = asyncio.Event()
        self.published = 0

    def offer(self, acks: list[Ack]) -> None:
        for ack in acks:
            self._due[(ack.site_id, ack.lamp_id)] = ack
        if acks:
            self._wake.set()

    def pending(self) -> int:
        return len(self._due)

    async def run(self, client: aiomqtt.Client) -> None:
        """Publishes due acks until cancelled; unsent acks stay due across reconnects."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            now = time.monotonic()
            next_due: float | None = None
            ready: list[tuple[tuple[str, str], Ack]] = []
            for key, ack in self._due.items():
                ready_at = self._last_sent.get(key, 0.0) + self.min_interval_s
                if ready_at > now:
                    next_due = ready_at if next_due is None else min(next_due, ready_at)
                else:
                    ready.append((key, ack))
            # A QoS 1 publish waits for its PUBACK; one at a time, a busy loop would manage only a
            # few dozen per second, so they go out concurrently, a bounded window at a time.
            for start in range(0, len(ready), PUBLISH_WINDOW):
                chunk = ready[start : start + PUBLISH_WINDOW]
                await asyncio.gather(*(self._publish(client, ack) for _, ack in chunk))
                for key, ack in chunk:
                    # Only forget it if no newer ack arrived while we were publishing.
                    if self._due.get(key) is ack:
                        del self._due[key]
                    self._last_sent[key] = now
                self.published += len(chunk)
            if next_due is not None:
                asyncio.get_running_loop().call_later(max(next_due - time.monotonic(), 0.0), self._wake.set)

    @staticmethod
    async def _publish(client: aiomqtt.Client, ack: Ack) -> None:
        topic = codec.lamp_topic(ack.site_id, ack.lamp_id, codec.KIND_ACK)
        await client.publish(topic, codec.encode_ack(ack.seq, ack.missing or None), qos=1, retain=True)
