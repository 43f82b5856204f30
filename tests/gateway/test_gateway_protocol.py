"""What the gateway makes of protocol messages: batches, drop classes, LoRa forms."""

from __future__ import annotations

import pytest

from firmware.device import codec
from gateway import protocol
from gateway.outbox import ItemClass

NOW = 1_717_200_000
R = [(s, NOW - 600 + s, 80.0, 230.0, 0.366, 0.95, 10.0 * s, 100, None, 0, None) for s in range(1, 4)]


def test_joined_readings_are_byte_for_byte_a_codec_batch():
    bodies = [codec.encode_reading(r) for r in R]
    assert protocol.join_readings(bodies) == codec.encode_readings(R)


@pytest.mark.parametrize(
    ("event", "cls"),
    [
        ({"ts": NOW, "ev": "fault", "f": 1, "on": 1, "off": 0}, ItemClass.ALARM),
        ({"ts": NOW, "ev": "gasp", "f": 0, "e": 12.5}, ItemClass.ALARM),
        ({"ts": NOW, "ev": "drop", "from": 1, "to": 5}, ItemClass.ALARM),
        ({"ts": NOW, "ev": "cmd", "id": 7, "res": "ok"}, ItemClass.STATE),
        ({"ts": NOW, "ev": "boot", "rc": "wdt", "fw": "1.0.0"}, ItemClass.DIAGNOSTIC),
        ({"ts": NOW, "ev": "sync", "seq": 9, "e": 1.0}, ItemClass.DIAGNOSTIC),
    ],
)
def test_events_fall_into_the_documented_drop_classes(event, cls):
    assert protocol.event_class(event) is cls


def test_local_telemetry_becomes_one_item_per_reading():
    items = protocol.local_uplink("terang/v1/s/lamp/L1/telemetry", codec.encode_readings(R), "s", NOW)
    assert [(i.lamp, i.seq, i.cls) for i in items] == [("L1", s, ItemClass.READING) for s in (1, 2, 3)]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("terang/v1/other/lamp/L1/telemetry", b"[]", "site_mismatch"),
        ("terang/v1/s/gw/G1/state", b"{}", "site_mismatch"),
        ("not/a/topic", b"{}", "bad_topic"),
        ("terang/v1/s/lamp/L1/telemetry", b"\xff", "not_utf8"),
        ("terang/v1/s/lamp/L1/telemetry", b"[]", "empty_batch"),
        ("terang/v1/s/lamp/L1/event", b'{"ts":1717200000,"ev":"nope"}', "bad_payload"),
        ("terang/v1/s/lamp/L1/cmd", b"{}", "bad_topic"),
    ],
)
def test_malformed_local_uplinks_are_refused_with_the_codec_reason(topic, payload, reason):
    with pytest.raises(protocol.Rejected) as exc:
        protocol.local_uplink(topic, payload, "s", NOW)
    assert exc.value.reason == reason


def test_lora_reading_needs_a_reference_then_decodes():
    frame = codec.encode_lora_reading(R[1])
    with pytest.raises(protocol.Rejected) as exc:
        protocol.lora_uplink("L1", frame, None, NOW)
    assert exc.value.reason == "no_reference"
    sync = codec.encode_lora_alarm({"ts": NOW - 600, "ev": "sync", "seq": 1, "e": 10.0})
    items, ref = protocol.lora_uplink("L1", sync, None, NOW)
    assert [i.cls for i in items] == [ItemClass.DIAGNOSTIC]
    items, _ = protocol.lora_uplink("L1", frame, ref, NOW)
    assert [i.seq for i in items] == [2]


def test_outcome_of_the_gateways_own_ping_is_not_forwarded():
    sync = codec.encode_lora_alarm({"ts": NOW, "ev": "sync", "seq": 1, "e": 10.0})
    _, ref = protocol.lora_uplink("L1", sync, None, NOW)
    outcome = codec.encode_lora_alarm({"ts": NOW, "ev": "cmd", "id": protocol.GATEWAY_PING_ID, "res": "ok"})
    items, _ = protocol.lora_uplink("L1", outcome, ref, NOW)
    assert items == []


def test_ota_cannot_go_over_lora():
    ota = codec.encode_cmd({"id": 1, "op": "ota", "exp": NOW + 60, "url": "https://x/fw.bin", "size": 1,
                            "sha256": "ab" * 32, "sig": "cd", "ver": "1.0.0"})
    with pytest.raises(protocol.Rejected, match="unsupported"):
        protocol.lora_downlink_frames("cmd", ota, NOW, None)


def test_gateway_gives_up_on_a_command_with_the_protocols_outcome_event():
    body = protocol.command_outcome("77", "expired", NOW)
    assert body is not None
    assert codec.decode_event(body) == {"ts": NOW, "ev": "cmd", "id": 77, "res": "expired"}
    assert protocol.command_outcome(None, "expired", NOW) is None
