"""What the gateway needs from the protocol, expressed through the one codec (firmware/device/codec.py).

Nothing here encodes a payload by itself: readings, events, acks and LoRa frames come from the codec.
This module only decides what the gateway does with them — which class an uplink belongs to in the
drop order, what it queues, which downlink form a LoRa lamp gets.
"""

from __future__ import annotations

import json
from typing import Any

from firmware.device import codec
from gateway.outbox import KIND_TELEMETRY, Item, ItemClass

# Readings in one batch from a lamp on the local broker; the server's cap is the same.
MAX_BATCH = 500
# A reading may be stamped this far ahead of the gateway's clock (codec's default).
FUTURE_S = 86_400

# Event names (codec.EVENTS) by drop class: faults, last gasps and journal drops must reach the
# server (a drop event lets its watermark pass the gap); command outcomes are state-like;
# boots and syncs are diagnostics.
_EVENT_CLASS = {
    "fault": ItemClass.ALARM,
    "gasp": ItemClass.ALARM,
    "drop": ItemClass.ALARM,
    "cmd": ItemClass.STATE,
    "boot": ItemClass.DIAGNOSTIC,
    "sync": ItemClass.DIAGNOSTIC,
}

# Command id of the gateway's own pings, sent to make a LoRa lamp report a sync alarm; its outcome
# event is consumed here rather than forwarded.
GATEWAY_PING_ID = 0


class Rejected(Exception):
    """An uplink the gateway will not queue as data; ``reason`` is the codec's dead-letter code."""

    def __init__(self, reason: str, detail: str, lamp: str | None = None, kind: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.lamp = lamp
        self.kind = kind


def valid_id(s: str) -> bool:
    return codec.valid_id(s)


def loads(payload: bytes) -> dict[str, Any]:
    obj = json.loads(payload)
    return obj if isinstance(obj, dict) else {}


def join_readings(bodies: list[bytes]) -> bytes:
    """A batch from codec-encoded readings: byte for byte what ``codec.encode_readings`` writes."""
    return b"[" + b",".join(bodies) + b"]"


def event_class(event: dict[str, object]) -> ItemClass:
    return _EVENT_CLASS.get(str(event.get("ev")), ItemClass.DIAGNOSTIC)


def reading_items(lamp: str, readings: list[Any]) -> list[Item]:
    return [Item(lamp, KIND_TELEMETRY, ItemClass.READING, codec.encode_reading(r), r[0]) for r in readings]


def local_uplink(topic: str, payload: bytes, site: str, now: float) -> list[Item]:
    """A message from the local broker -> queue items. Raises Rejected for anything malformed."""
    try:
        msg_site, device_class, lamp, kind = codec.parse_topic(topic)
    except codec.CodecError as exc:
        raise Rejected(exc.reason, exc.detail) from None
    if device_class != codec.DEVICE_LAMP or msg_site != site:
        raise Rejected("site_mismatch", f"{topic} is not a lamp of site {site}")
    try:
        if kind == codec.KIND_TELEMETRY:
            return reading_items(lamp, codec.decode_readings(payload, now, FUTURE_S, MAX_BATCH))
        if kind == codec.KIND_EVENT:
            event = codec.decode_event(payload)
            return [Item(lamp, kind, event_class(event), codec.encode_event(event))]
        if kind == codec.KIND_STATE:
            return [Item(lamp, kind, ItemClass.STATE, codec.encode_state(codec.decode_state(payload)))]
    except codec.CodecError as exc:
        raise Rejected(exc.reason, exc.detail, lamp, kind) from None
    raise Rejected("bad_topic", f"the gateway does not forward {kind} from lamps")


# --- LoRa ----------------------------------------------------------------------------------------


def ref_from_json(text: str | None) -> codec.LoraRef:
    if not text:
        return codec.LoraRef()
    o = json.loads(text)
    return codec.LoraRef(seq=o["seq"], e=o["e"], f=o["f"], cv=o.get("cv"), cmd_ids=o.get("cmd_ids", []))


def ref_to_json(ref: codec.LoraRef) -> str:
    return json.dumps({"seq": ref.seq, "e": ref.e, "f": ref.f, "cv": ref.cv, "cmd_ids": ref.cmd_ids[-8:]},
                      separators=(",", ":"))


def lora_uplink(lamp: str, frame: bytes, ref_json: str | None, now: float,
                server_wm: int | None = None) -> tuple[list[Item], str]:
    """A LoRa application frame -> (queue items, updated decoder state as JSON).

    ``no_reference`` (the gateway does not yet know the lamp's sequence and energy counter) comes
    back as Rejected; the caller then asks the lamp for a sync.
    """
    ref = ref_from_json(ref_json)
    if server_wm is not None:
        ref.note_ack(server_wm)
    ref.rx = int(now)
    try:
        kind, readings, obj = codec.decode_lora(frame, ref)
    except codec.CodecError as exc:
        raise Rejected(exc.reason, exc.detail, lamp) from None
    ref.update(kind, readings, obj)
    if kind == codec.KIND_TELEMETRY:
        return reading_items(lamp, readings), ref_to_json(ref)
    assert obj is not None
    if kind == codec.KIND_STATE:
        return [Item(lamp, kind, ItemClass.STATE, codec.encode_state(obj))], ref_to_json(ref)
    if obj.get("ev") == "cmd" and obj.get("id") == GATEWAY_PING_ID:
        return [], ref_to_json(ref)
    return [Item(lamp, kind, event_class(obj), codec.encode_event(obj))], ref_to_json(ref)


def lora_ack(held: int, missing: list[list[int]]) -> bytes:
    return codec.encode_lora_ack(held, missing or None)


def lora_downlink_frames(kind: str, body: bytes, now: int, previous_config: bytes | None) -> list[bytes]:
    """A queued downlink -> the LoRa frames that carry it (a config may take several fragments).

    Raises Rejected("unsupported") for what LoRa cannot carry (an OTA command, for one).
    """
    try:
        if kind == codec.KIND_CMD:
            return [codec.encode_lora_cmd(codec.decode_cmd(body), now)]
        if kind == codec.KIND_CONFIG:
            old = codec.decode_config(previous_config) if previous_config else None
            return codec.encode_config_delta(old, codec.decode_config(body))
    except codec.CodecError as exc:
        raise Rejected("unsupported", exc.detail) from None
    raise Rejected("unsupported", f"{kind} does not travel over LoRa")


def config_version(config: bytes) -> int | None:
    try:
        cv = codec.decode_config(config).get("cv")
    except codec.CodecError:
        return None
    return cv if isinstance(cv, int) else None


def gateway_ping(now: int) -> bytes:
    cmd = {"id": GATEWAY_PING_ID, "op": "ping", "exp": now + 60}
    return codec.encode_lora_cmd(cmd, now)


def downlink_meta(kind: str, body: bytes) -> tuple[str | None, float | None]:
    """(command id, expiry as Unix seconds) of a downlink from the server, where it has them."""
    if kind != codec.KIND_CMD:
        return None, None
    try:
        cmd = codec.decode_cmd(body)
    except codec.CodecError:
        return None, None
    exp = cmd.get("exp")
    return str(cmd.get("id")), float(exp) if isinstance(exp, int | float) else None


# --- events the gateway writes itself -------------------------------------------------------------


def journal_drop_event(first: int, last: int, now: float) -> bytes:
    """The codec's journal-drop event, sent on the lamp's behalf for readings the full queue gave up."""
    return codec.encode_event({"ts": int(now), "ev": "drop", "from": first, "to": last})


def command_outcome(cmd_id: str | None, outcome: str, now: float) -> bytes | None:
    """The codec's command-outcome event for a command the gateway gave up on (expired, unsupported)."""
    if cmd_id is None or not cmd_id.isdigit() or outcome not in codec.RESULTS:
        return None
    return codec.cmd_outcome(int(cmd_id), outcome, int(now))


def ack(held: int, missing: list[list[int]]) -> bytes:
    return codec.encode_ack(held, missing or None)
