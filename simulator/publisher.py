"""Publishes simulated readings through a real broker, for thousands of lamps on one connection.

Readings go out QoS 1 on each lamp's telemetry topic (a batch of one lamp's readings is one
message). The server's retained per-lamp ``ack`` watermarks come back on one wildcard
subscription; the journal re-sends whatever stays unacknowledged, as the firmware does. paho-mqtt's
own network thread moves the bytes (it is the fastest of the Python clients at this, see DESIGN 9);
acks cross to the caller's thread through a queue, so journal state has a single owner.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec
from simulator.journal import Journal, Reading

# Readings per message at most: the protocol's batch cap (the server's default too).
MAX_BATCH = 500
# Readings per message when the journal re-sends: well under the batch and payload (64 KiB) caps.
RESEND_BATCH = 100
# Publishes not yet confirmed by the broker before ``send`` waits; bounds memory and keeps
# paho's message ids (16 bit) unique.
MAX_UNCONFIRMED = 10_000
# After subscribing, retained acks arrive in one burst; this much silence ends it.
RETAINED_QUIET_S = 0.3
RETAINED_MAX_WAIT_S = 5.0
KEEPALIVE_S = 30


class PublisherError(Exception):
    pass


@dataclass(frozen=True)
class PublishStats:
    messages: int  # telemetry messages published (first sends and re-sends)
    readings: int  # distinct readings recorded in the journal
    acked: int  # of those, acknowledged by the server's watermark
    resent: int  # readings sent again (timeout or server request)
    unacked: int  # still waiting for an ack
    bad_acks: int  # ack messages that did not decode


class Publisher:
    """One MQTT connection publishing for ``lamp_ids`` of ``site_id``; use as a context manager."""

    def __init__(
        self,
        mqtt_url: str,
        site_id: str,
        lamp_ids: Sequence[str],
        *,
        client_id: str | None = None,
        resend_after_s: float = 30.0,
        resend_batch: int = RESEND_BATCH,
        max_unconfirmed: int = MAX_UNCONFIRMED,
        on_config: Callable[[int, bytes], object] | None = None,
    ) -> None:
        try:
            tls, host, port, user, password = brokerurl.parse(mqtt_url)
        except brokerurl.BrokerURLError as exc:
            raise PublisherError(str(exc)) from exc
        self.site_id = site_id
        self.lamp_ids = list(lamp_ids)
        self._index = {lamp_id: k for k, lamp_id in enumerate(self.lamp_ids)}
        self._topics = [codec.lamp_topic(site_id, lamp_id, codec.KIND_TELEMETRY) for lamp_id in self.lamp_ids]
        self._ack_filter = codec.lamp_topic(site_id, "+", codec.KIND_ACK)
        # Lamps that obey the server's schedule take their retained config on the same connection.
        self._on_config = on_config
        self._config_filter = codec.lamp_topic(site_id, "+", codec.KIND_CONFIG)
        self._configs: queue.SimpleQueue[tuple[int, bytes]] = queue.SimpleQueue()
        self.journal = Journal(len(self.lamp_ids), resend_after_s)
        self.resend_batch = resend_batch
        self.max_unconfirmed = max_unconfirmed
        self._host, self._port = host, port

        self._acks: queue.SimpleQueue[tuple[int, int, Any]] = queue.SimpleQueue()
        self._connected = threading.Event()
        self._connects = 0
        self._reconnected = threading.Event()
        self._subscribed = threading.Event()
        self._connect_error: str | None = None
        self._last_ack_arrival = 0.0
        self._published = 0  # telemetry messages
        self._sent = 0  # every QoS 1 publish, for flow control against broker confirmations
        self._confirmed = 0
        self._bad_acks = 0
        self._last_due_scan = 0.0

        cid = client_id or f"terang-sim-{secrets.token_hex(4)}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv311, clean_session=True)
        if user is not None:
            client.username_pw_set(user, password)
        if tls:
            client.tls_set()
        client.max_inflight_messages_set(0)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        self._client = client

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> None:
        """Connects, subscribes to the acks and takes in the retained watermarks."""
        try:
            self._client.connect(self._host, self._port, keepalive=KEEPALIVE_S)
        except OSError as exc:
            raise PublisherError(f"cannot reach the broker at {self._host}:{self._port}: {exc}") from exc
        self._client.loop_start()
        if not self._subscribed.wait(timeout_s):
            self.close()
            raise PublisherError(self._connect_error or "no subscription acknowledgement from the broker")
        deadline = time.monotonic() + RETAINED_MAX_WAIT_S
        self._last_ack_arrival = time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - self._last_ack_arrival < RETAINED_QUIET_S:
            time.sleep(0.02)
        self.pump()

    def flush(self, timeout_s: float) -> bool:
        """Waits until the broker has confirmed every publish; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._confirmed < self._sent:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, flush_s: float = 5.0) -> None:
        client = self._client
        if self.connected:
            self.flush(flush_s)
        client.disconnect()
        client.loop_stop()
        # paho closes its wake-up socket pair only in Client.__del__; without the callbacks' reference
        # cycle the client is freed (and the pair closed) as soon as the publisher is, not by gc.
        client.on_connect = client.on_disconnect = client.on_subscribe = None
        client.on_message = client.on_publish = None

    def __enter__(self) -> Publisher:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- sending -------------------------------------------------------------------------------

    def index(self, lamp_id: str) -> int:
        return self._index[lamp_id]

    def watermark(self, lamp: int) -> int | None:
        return self.journal.watermark[lamp]

    def send(self, lamp: int, readings: Sequence[Reading]) -> None:
        """Journals and publishes one lamp's readings (increasing seq); several become one batch message."""
        self.journal.record(lamp, readings, time.monotonic())
        self._publish(lamp, readings, MAX_BATCH)

    def pending(self, lamp: int) -> list[Reading]:
        """The lamp's readings the server has not acknowledged yet."""
        return self.journal.pending(lamp)

    def replay(self, lamp: int, readings: Sequence[Reading]) -> None:
        """Publishes readings again without journaling them, as a device replaying its journal would."""
        self._publish(lamp, readings, MAX_BATCH)

    def publish_state(self, lamp: int, state: bytes) -> None:
        """Publishes a lamp's retained ``state`` (online on start, offline on a clean stop)."""
        self._raw(codec.lamp_topic(self.site_id, self.lamp_ids[lamp], codec.KIND_STATE), state, retain=True)

    def _publish(self, lamp: int, readings: Sequence[Reading], per_message: int) -> None:
        topic = self._topics[lamp]
        for start in range(0, len(readings), per_message):
            chunk = readings[start : start + per_message]
            payload = codec.encode_reading(chunk[0]) if len(chunk) == 1 else codec.encode_readings(list(chunk))
            self._raw(topic, payload)
            self._published += 1

    def _raw(self, topic: str, payload: bytes, retain: bool = False) -> None:
        while self._sent - self._confirmed >= self.max_unconfirmed:
            time.sleep(0.002)
        self._client.publish(topic, payload, qos=1, retain=retain)
        self._sent += 1

    # -- acks and re-sends ---------------------------------------------------------------------

    def pump(self) -> int:
        """Applies the acks that arrived and re-sends what is overdue or asked for; returns acks applied."""
        now = time.monotonic()
        applied = 0
        if self._reconnected.is_set():
            # The broker may have lost what it had not delivered; the firmware re-sends from its
            # watermark after every reconnect, and so do we.
            self._reconnected.clear()
            for lamp, readings in self.journal.everything(now).items():
                self._publish(lamp, readings, self.resend_batch)
        if self._on_config is not None:
            while True:
                try:
                    lamp, payload = self._configs.get_nowait()
                except queue.Empty:
                    break
                self._on_config(lamp, payload)
        while True:
            try:
                lamp, seq, missing = self._acks.get_nowait()
            except queue.Empty:
                break
            applied += 1
            again = self.journal.ack(lamp, seq, missing, now)
            if again:
                self._publish(lamp, again, self.resend_batch)
        # The overdue scan walks every waiting lamp: a few times per timeout, not on every call.
        if now - self._last_due_scan >= min(1.0, self.journal.resend_after_s / 4):
            self._last_due_scan = now
            for lamp, overdue in self.journal.due(now).items():
                self._publish(lamp, overdue, self.resend_batch)
        return applied

    def wait_acked(self, timeout_s: float, stop: threading.Event | None = None) -> bool:
        """Pumps until every journaled reading is acknowledged; False on timeout or stop."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.pump()
            if self.journal.unacked() == 0:
                return True
            if time.monotonic() >= deadline or (stop is not None and stop.is_set()):
                return False
            time.sleep(0.05)

    def stats(self) -> PublishStats:
        j = self.journal.stats
        return PublishStats(
            messages=self._published,
            readings=j.recorded,
            acked=j.acked,
            resent=j.resent,
            unacked=self.journal.unacked(),
            bad_acks=self._bad_acks,
        )

    # -- paho callbacks (network thread) -------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._connect_error = f"broker refused the connection: {reason}"
            return
        self._connects += 1
        if self._connects > 1:
            self._reconnected.set()
        self._connected.set()
        # Subscribing on every (re)connect also brings the retained watermarks back.
        topics = [(self._ack_filter, 1)]
        if self._on_config is not None:
            topics.append((self._config_filter, 1))
        client.subscribe(topics)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self._connected.clear()

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        self._subscribed.set()

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._confirmed += 1

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        self._last_ack_arrival = time.monotonic()
        if not msg.payload:
            return  # a cleared retained ack
        try:
            _site, _cls, lamp_id, kind = codec.parse_topic(msg.topic)
            lamp = self._index.get(lamp_id)
            if lamp is None:
                return  # another simulator's lamp on the same site
            if kind == codec.KIND_CONFIG:
                self._configs.put((lamp, bytes(msg.payload)))
                return
            seq, missing = codec.decode_ack(bytes(msg.payload))
        except codec.CodecError:
            self._bad_acks += 1
            return
        self._acks.put((lamp, seq, missing))
