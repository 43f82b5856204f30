"""What the ingestion worker makes of one MQTT message, before it touches the database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from firmware.device import codec


@dataclass(slots=True)
class Telemetry:
    topic: str
    payload: bytes
    site_id: str
    lamp_id: str
    readings: list[tuple[Any, ...]]
    received_at: float


@dataclass(slots=True)
class DeviceMessage:
    """A lamp's ``state`` or ``event`` message, or a gateway's ``state``; stored as JSON."""

    topic: str
    payload: bytes
    site_id: str
    device_class: str
    device_id: str
    kind: str
    body: Any
    received_at: float


@dataclass(slots=True)
class Rejected:
    topic: str
    payload: bytes
    reason: str
    detail: str
    received_at: float


@dataclass(frozen=True, slots=True)
class Limits:
    max_payload_bytes: int
    max_batch_readings: int
    future_tolerance_s: int


Message = Telemetry | DeviceMessage | Rejected


def classify(topic: str, payload: bytes, received_at: float, limits: Limits) -> Message:
    """Parses and validates one message. Never raises: bad input becomes ``Rejected``."""
    try:
        site, device_class, device_id, kind = codec.parse_topic(topic)
    except codec.CodecError as exc:
        return Rejected(topic, payload, exc.reason, exc.detail, received_at)
    if len(payload) > limits.max_payload_bytes:
        return Rejected(
            topic, payload, "payload_too_large",
            f"payload is {len(payload)} bytes; the cap is {limits.max_payload_bytes}", received_at,
        )
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        reason, detail = codec.json_failure_reason(payload)
        return Rejected(topic, payload, reason, detail, received_at)
    if device_class == "lamp" and kind == codec.KIND_TELEMETRY:
        try:
            readings = codec.check_readings(
                obj, int(received_at), limits.future_tolerance_s, limits.max_batch_readings
            )
        except codec.CodecError as exc:
            return Rejected(topic, payload, exc.reason, exc.detail, received_at)
        return Telemetry(topic, payload, site, device_id, readings, received_at)
    try:
        if kind == codec.KIND_STATE:
            body = codec.check_state(obj)
        elif device_class == "lamp" and kind == codec.KIND_EVENT:
            body = codec.check_event(obj)
        else:
            return Rejected(topic, payload, "bad_topic", f"the server does not ingest {device_class} {kind}",
                            received_at)
    except codec.CodecError as exc:
        return Rejected(topic, payload, exc.reason, exc.detail, received_at)
    return DeviceMessage(topic, payload, site, device_class, device_id, kind, body, received_at)
