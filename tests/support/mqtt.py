"""Real MQTT clients for tests (paho-mqtt 2), and a polling helper."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl

T = TypeVar("T")


def wait_for(check: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.1, what: str = "condition") -> T:
    """Polls ``check`` until it returns something truthy; fails the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


class Publisher:
    """A paho client with a persistent session: QoS 1 messages published while the broker is away
    are queued by paho and sent, with any unacknowledged ones, after it reconnects."""

    def __init__(self, url: str, client_id: str) -> None:
        _, host, port, user, password = brokerurl.parse(url)
        self._acked: set[int] = set()
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        if user:
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(1, 2)
        self.client.max_inflight_messages_set(100)

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            self._connected.set()

        def on_publish(client: mqtt.Client, userdata: Any, mid: int, rc: Any = None, props: Any = None) -> None:
            with self._lock:
                self._acked.add(mid)

        self.client.on_connect = on_connect
        self.client.on_publish = on_publish
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not self._connected.wait(10):
            raise AssertionError("publisher could not connect")

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Queues a message; returns its message id."""
        return self.client.publish(topic, payload, qos=qos, retain=retain).mid

    def wait_acked(self, mids: Iterable[int], timeout: float = 60.0) -> None:
        wanted = set(mids)

        def done() -> bool:
            with self._lock:
                return wanted <= self._acked

        wait_for(done, timeout=timeout, interval=0.05, what=f"PUBACK of {len(wanted)} messages")

    def publish_all(self, messages: Iterable[tuple[str, bytes]], timeout: float = 60.0) -> None:
        self.wait_acked([self.publish(t, p) for t, p in messages], timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Subscriber:
    """Collects messages on ``topics`` (thread-safe list of (topic, payload))."""

    def __init__(self, url: str, client_id: str, topics: list[str]) -> None:
        _, host, port, user, password = brokerurl.parse(url)
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if user:
            self.client.username_pw_set(user, password)

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
            client.subscribe([(t, 1) for t in topics])

        def on_subscribe(client: mqtt.Client, userdata: Any, mid: int, rcs: Any, props: Any = None) -> None:
            self._subscribed.set()

        def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            with self._lock:
                self.messages.append((msg.topic, bytes(msg.payload)))

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise AssertionError("subscription not confirmed")

    def received(self) -> list[tuple[str, bytes]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
