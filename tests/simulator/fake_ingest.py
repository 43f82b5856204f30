"""A stand-in for the server's ingestion on a real broker: records what the simulator publishes and,
when asked to, publishes each lamp's retained ack watermark the way the server does."""

from __future__ import annotations

import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec


class FakeIngest:
    def __init__(self, url: str, site: str, client_id: str, *, ack: bool = True) -> None:
        _, host, port, _user, _password = brokerurl.parse(url)
        self.site = site
        self.ack = ack
        self.readings: dict[str, list[tuple[Any, ...]]] = {}
        self.messages = 0
        self.states: dict[str, dict[str, Any]] = {}
        self.retained_topics: set[str] = set()  # acks and states it saw or made; cleared on close
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        self._closed = False
        if not self._subscribed.wait(10):
            raise AssertionError("fake ingest: subscription not confirmed")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(codec.lamp_topic(self.site, "+", codec.KIND_TELEMETRY), 1),
                          (codec.lamp_topic(self.site, "+", codec.KIND_STATE), 1)])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        _site, _cls, lamp_id, kind = codec.parse_topic(msg.topic)
        if kind == codec.KIND_STATE:
            with self._lock:
                if msg.payload:
                    self.states[lamp_id] = codec.decode_state(bytes(msg.payload))
                    self.retained_topics.add(msg.topic)
            return
        batch = codec.decode_readings(bytes(msg.payload), time.time())
        with self._lock:
            self.messages += 1
            seen = self.readings.setdefault(lamp_id, [])
            seen.extend(batch)
            if self.ack:
                seqs = {r[0] for r in seen}
                wm = min(seqs)
                while wm + 1 in seqs:
                    wm += 1
                topic = codec.lamp_topic(self.site, lamp_id, codec.KIND_ACK)
                self.retained_topics.add(topic)
        if self.ack:
            client.publish(topic, codec.encode_ack(wm), qos=1, retain=True)

    def seqs(self, lamp_id: str) -> list[int]:
        with self._lock:
            return [r[0] for r in self.readings.get(lamp_id, [])]

    def total(self) -> int:
        with self._lock:
            return sum(len(v) for v in self.readings.values())

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        """Clears the retained acks and states of its site (the broker is shared) and disconnects."""
        for topic in self.retained_topics:
            self.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        self.client.disconnect()
        self.client.loop_stop()
        # Breaks the callback cycle so paho's socket pair is closed by Client.__del__ right away.
        self.client.on_connect = self.client.on_subscribe = self.client.on_message = None
