"""LoRa frames: the bit layout of docs/protocol.md section 10, the rebuild windows at their edges, and
what a receiver's LoraRef learns."""

from __future__ import annotations

from typing import Any

import pytest

from firmware.device import codec

NOW = 1717200000
R = (1234, NOW, 41.5, 229.8, 0.183, 0.98, 12345.6, 40, 31.5, 0b1000_0101, 3)


def fields(frame: bytes, widths: list[int]) -> list[int]:
    """Splits a big-endian bit-packed frame into fields of the given widths, most significant first."""
    x = int.from_bytes(frame, "big")
    total = len(frame) * 8
    assert sum(widths) == total
    out = []
    for w in widths:
        total -= w
        out.append(x >> total & ((1 << w) - 1))
    return out


def decode_one(frame: bytes, **ref: Any) -> tuple[Any, ...]:
    kind, readings, obj = codec.decode_lora(frame, codec.LoraRef(**ref))
    assert kind == codec.KIND_TELEMETRY and obj is None and len(readings) == 1
    return readings[0]


def test_reading_frame_fields_are_where_the_spec_puts_them() -> None:
    frame = codec.encode_lora_reading(R)
    assert len(frame) == codec.LORA_MAX
    # type, seq, ts, dim, f, p, v, pf, e
    assert fields(frame, [4, 12, 12, 7, 8, 12, 10, 7, 16]) == [
        0, 1234 & 0xFFF, NOW & 0xFFF, 40, 0b1000_0101, 83, 460, 98, 12346 & 0xFFFF,
    ]


def test_batch_entry_fields_are_where_the_spec_puts_them() -> None:
    second = (1235, NOW + 300, 41.0, 230.0, 0.18, 0.97, 12349.4, 35, None, 0x801, 3)
    (frame,) = codec.encode_lora_batch([R, second])
    assert frame[:2] == bytes([0x20, 2])
    assert fields(frame[2:14], [32, 32, 32]) == [1234, NOW, 12346]
    assert fields(frame[24:34], [16, 7, 12, 12, 10, 7, 16]) == [300, 35, 0x801, 82, 460, 97, 3]


def test_batch_time_delta_is_signed() -> None:
    back = [(2, NOW - 30, 1, 230, 0.1, 1, 10, 5, None, None, None)]
    (frame,) = codec.encode_lora_batch([(1, NOW, 1, 230, 0.1, 1, 10, 5, None, None, None), *back])
    _, readings, _ = codec.decode_lora(frame, codec.LoraRef(rx=NOW, seq=0))
    assert [r[1] for r in readings] == [NOW, NOW - 30]


def test_alarm_and_state_frames_are_eleven_bytes() -> None:
    for ev in (
        {"ts": NOW, "ev": "fault", "f": 3, "on": 1, "off": 4},
        {"ts": NOW, "ev": "boot", "rc": "ota", "fw": "255.255.255"},
        {"ts": NOW, "ev": "gasp", "f": 0xFFFFFFFF, "e": 4294967295},
        {"ts": NOW, "ev": "cmd", "id": 2**50, "res": "rolled_back", "now": 2**32 - 1},
        {"ts": NOW, "ev": "drop", "from": 0, "to": 2**40},
        {"ts": NOW, "ev": "sync", "seq": 2**40, "e": 0},
    ):
        assert len(codec.encode_lora_alarm(ev)) == codec.LORA_MAX
    assert len(codec.encode_lora_state({"st": "online", "ts": NOW})) == codec.LORA_MAX


@pytest.mark.parametrize(
    ("ref_seq", "sent", "rebuilt"),
    [
        (5000, 5000 - 1023, 5000 - 1023),  # oldest late duplicate still recognised
        (5000, 5000 - 1024, 5000 - 1024 + 4096),  # one older is taken as far ahead
        (5000, 5000 + 3072, 5000 + 3072),  # 3071 lost in between
        (5, 4000, 4000),  # never negative
        (2**40, 2**40 + 1, 2**40 + 1),
    ],
)
def test_sequence_window_of_a_reading(ref_seq: int, sent: int, rebuilt: int) -> None:
    frame = codec.encode_lora_reading((sent, NOW, 1, 230, 0.01, 1, 0, 1, None, None, None))
    assert decode_one(frame, rx=NOW, seq=ref_seq, e=0)[0] == rebuilt


@pytest.mark.parametrize(
    ("delay", "rebuilt_offset"),
    [
        (0, 0),
        (-256, 0),  # device clock 256 s ahead of the receiver
        (-257, -4096),  # more than that reads as an old reading
        (4096 - 257, 0),  # sent 68 minutes late
        (4096 - 256, 4096),  # later still is taken as the next cycle
    ],
)
def test_time_window_of_a_reading(delay: int, rebuilt_offset: int) -> None:
    frame = codec.encode_lora_reading((1, NOW, 1, 230, 0.01, 1, 0, 1, None, None, None))
    assert decode_one(frame, rx=NOW + delay, seq=1, e=0)[1] == NOW + rebuilt_offset


@pytest.mark.parametrize(
    ("ref_e", "e", "rebuilt"),
    [
        (100_000, 100_000 - 4095, 100_000 - 4095),
        (100_000, 100_000 + 61_440, 100_000 + 61_440),
        (100_000, 100_000 + 61_441, 100_000 + 61_441 - 65_536),
        (10, 65_000, 65_000),  # never negative
    ],
)
def test_energy_window_of_a_reading(ref_e: int, e: int, rebuilt: int) -> None:
    frame = codec.encode_lora_reading((1, NOW, 1, 230, 0.01, 1, e, 1, None, None, None))
    assert decode_one(frame, rx=NOW, seq=1, e=ref_e)[6] == rebuilt


def test_a_receiver_without_reference_asks_for_a_sync() -> None:
    frame = codec.encode_lora_reading(R)
    for ref in (codec.LoraRef(rx=NOW), codec.LoraRef(rx=NOW, seq=1000), codec.LoraRef(rx=NOW, e=1000)):
        with pytest.raises(codec.CodecError, match="no_reference"):
            codec.decode_lora(frame, ref)


def test_a_sync_alarm_gives_the_receiver_its_reference() -> None:
    ref = codec.LoraRef(rx=NOW)
    sync = codec.encode_lora_alarm({"ts": NOW, "ev": "sync", "seq": 1233, "e": 12340})
    ref.update(*codec.decode_lora(sync, ref))
    assert (ref.seq, ref.e) == (1233, 12340)
    assert decode_one(codec.encode_lora_reading(R), rx=NOW, seq=ref.seq, e=ref.e)[0] == 1234


def test_reference_follows_the_newest_reading_only() -> None:
    ref = codec.LoraRef(rx=NOW, seq=1230, e=12000)
    ref.update(*codec.decode_lora(codec.encode_lora_reading(R), ref))
    assert (ref.seq, ref.e, ref.f) == (1234, 12346, 0b1000_0101)
    older = codec.encode_lora_reading((1231, NOW - 60, 1, 230, 0.01, 1, 12300, 1, None, 0, None))
    ref.update(*codec.decode_lora(older, ref))
    assert (ref.seq, ref.e) == (1234, 12346)


def test_reference_learns_the_servers_watermark() -> None:
    ref = codec.LoraRef(seq=10)
    ref.note_ack(40)
    ref.note_ack(20)
    assert ref.seq == 40


def test_flags_above_the_frame_come_from_the_last_alarm() -> None:
    ref = codec.LoraRef(rx=NOW, seq=1230, e=12000)
    fault = {"ts": NOW, "ev": "fault", "f": codec.F_NO_TIME | codec.F_FALLBACK, "on": codec.F_NO_TIME, "off": 0}
    ref.update(*codec.decode_lora(codec.encode_lora_alarm(fault), ref))
    r = decode_one(codec.encode_lora_reading(R), rx=NOW, seq=ref.seq, e=ref.e, f=ref.f)
    assert r[9] == codec.F_NO_TIME | codec.F_FALLBACK | 0b1000_0101


def test_config_version_comes_from_the_last_state_frame() -> None:
    ref = codec.LoraRef(rx=NOW, seq=1230, e=12000)
    state = codec.encode_lora_state({"st": "online", "ts": NOW, "cv": 17, "bearer": "lora"})
    ref.update(*codec.decode_lora(state, ref))
    assert decode_one(codec.encode_lora_reading(R), rx=NOW, seq=ref.seq, e=ref.e, cv=ref.cv)[10] == 17


def test_values_above_the_lora_range_saturate() -> None:
    r = decode_one(codec.encode_lora_reading((1, NOW, 4000, 500, 20, 1, 0, 100, None, None, None)), rx=NOW, seq=1, e=0)
    assert (r[2], r[3]) == (2047.5, 500.0)


def test_current_is_derived_from_power_voltage_and_power_factor() -> None:
    r = decode_one(codec.encode_lora_reading((1, NOW, 46, 230, 0.9, 0.5, 0, 100, None, None, None)), rx=NOW, seq=1, e=0)
    assert r[4] == pytest.approx(46 / (230 * 0.5), abs=0.001)
    off = decode_one(codec.encode_lora_reading((1, NOW, 0, 230, 0, 0, 0, 0, None, None, None)), rx=NOW, seq=1, e=0)
    assert off[4] == 0.0


def test_temperature_does_not_travel_over_lora() -> None:
    assert decode_one(codec.encode_lora_reading(R), rx=NOW, seq=1230, e=12000)[8] is None


def test_command_outcome_id_is_mapped_back_to_the_full_id() -> None:
    frame = codec.encode_lora_alarm({"ts": NOW, "ev": "cmd", "id": 3 * 65536 + 9, "res": "ok"})
    for ids, full in (([9, 3 * 65536 + 9], 3 * 65536 + 9), ([3 * 65536 + 9, 9], 9), ([], 9)):
        _, _, ev = codec.decode_lora(frame, codec.LoraRef(rx=NOW, cmd_ids=ids))
        assert ev is not None and ev["id"] == full


def test_batches_fit_the_data_rate() -> None:
    rs = [(k, NOW + 60 * k, 40, 230, 0.18, 0.98, 1000 + k, 40, None, None, None) for k in range(1, 51)]
    for max_len, per_frame in ((242, 22), (125, 11), (53, 3)):
        frames = codec.encode_lora_batch(rs, max_len)
        assert all(len(f) <= max_len for f in frames)
        assert frames[0][1] == per_frame


def test_batch_needs_room_for_one_entry() -> None:
    with pytest.raises(codec.CodecError):
        codec.encode_lora_batch([R], 23)


def test_level_override_end_travels_in_minutes_rounded_up() -> None:
    cmd = {"id": 5, "op": "level", "exp": NOW + 60, "lvl": 30, "until": NOW + 3601}
    kind, back = codec.decode_lora_downlink(codec.encode_lora_cmd(cmd, NOW), NOW, 0)
    assert kind == codec.KIND_CMD and back["until"] == NOW + 3660 and back["lvl"] == 30


def test_ack_frame_rebuilds_the_watermark_near_the_devices_sequence() -> None:
    frame = codec.encode_lora_ack(2**32 + 5, [(2**32 + 8, 2**32 + 9)])
    kind, back = codec.decode_lora_downlink(frame, NOW, 2**32 + 20)
    assert kind == codec.KIND_ACK and back == {"seq": 2**32 + 5, "miss": [[2**32 + 8, 2**32 + 9]]}


def test_uplink_and_downlink_types_do_not_mix() -> None:
    with pytest.raises(codec.CodecError, match="bad_frame"):
        codec.decode_lora(codec.encode_lora_ack(5), codec.LoraRef(rx=NOW, seq=1, e=1))
    with pytest.raises(codec.CodecError, match="bad_frame"):
        codec.decode_lora_downlink(codec.encode_lora_reading(R), NOW, 1)
