"""Every dead-letter reason, as a table: payload bytes in, reason out. The same payloads parsed by orjson
(as the server does) and classified with check_readings / json_failure_reason give the same reason."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from firmware.device import codec

NOW = 1717200000
GOOD: dict[str, Any] = {"seq": 1, "ts": NOW, "p": 41.5, "v": 229.8, "i": 0.183, "pf": 0.98, "e": 12345.6, "dim": 40}


def reading(**changes: Any) -> bytes:
    o = {k: v for k, v in GOOD.items() if changes.get(k, 0) is not ...}
    o.update({k: v for k, v in changes.items() if v is not ...})
    return json.dumps(o).encode()


TABLE: list[tuple[str, bytes]] = [
    ("not_utf8", b"\xff\xfe"),
    ("not_utf8", b'{"seq":"\xed\xa0\x80"}'),
    ("not_utf8", b'{"seq":"\xc0\xaf"}'),
    ("bad_json", reading()[:-5]),
    ("bad_json", b""),
    ("bad_json", b"[" + reading() + b",]"),
    ("bad_json", b"{'seq': 1}"),
    ("bad_json", reading() + b"{}"),
    ("non_finite", reading().replace(b'"p": 41.5', b'"p": NaN')),
    ("non_finite", reading().replace(b'"v": 229.8', b'"v": Infinity')),
    ("non_finite", reading().replace(b'"v": 229.8', b'"v": -Infinity')),
    ("non_finite", reading().replace(b'"e": 12345.6', b'"e": 1e400')),
    ("wrong_shape", b"42"),
    ("wrong_shape", b'"a reading"'),
    ("wrong_shape", b"[" + reading() + b", 7]"),
    ("missing_key", reading(dim=...)),
    ("missing_key", reading(seq=..., ts=...)),
    ("unknown_key", reading(lamp="L1")),
    ("wrong_type", reading(dim=40.0)),
    ("wrong_type", reading(seq="1")),
    ("wrong_type", reading(dim=True)),
    ("wrong_type", reading(t=None)),
    ("out_of_range", reading(dim=150)),
    ("out_of_range", reading(pf=2)),
    ("out_of_range", reading(v=-1)),
    ("out_of_range", reading(ts=1500000000)),
    ("out_of_range", reading(seq=2**53)),
    ("future_timestamp", reading(ts=NOW + 86401)),
    ("empty_batch", b"[]"),
    ("batch_too_large", b"[" + b",".join([reading()] * 501) + b"]"),
]


@pytest.mark.parametrize(("reason", "payload"), TABLE, ids=[f"{r}-{k}" for k, (r, _) in enumerate(TABLE)])
def test_decode_readings_gives_the_dead_letter_reason(reason: str, payload: bytes) -> None:
    with pytest.raises(codec.CodecError) as info:
        codec.decode_readings(payload, NOW)
    assert info.value.reason == reason


@pytest.mark.parametrize(("reason", "payload"), TABLE, ids=[f"{r}-{k}" for k, (r, _) in enumerate(TABLE)])
def test_server_path_with_orjson_gives_the_same_reason(reason: str, payload: bytes) -> None:
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError:
        assert codec.json_failure_reason(payload)[0] == reason
        return
    with pytest.raises(codec.CodecError) as info:
        codec.check_readings(obj, NOW)
    assert info.value.reason == reason


def test_every_reading_reason_is_in_the_table() -> None:
    assert {r for r, _ in TABLE} == {
        "not_utf8", "bad_json", "non_finite", "wrong_shape", "missing_key", "unknown_key", "wrong_type",
        "out_of_range", "future_timestamp", "empty_batch", "batch_too_large",
    }


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (float("nan"), "non_finite"),
        (float("inf"), "non_finite"),
        (float("-inf"), "non_finite"),
        (True, "wrong_type"),
        ("41.5", "wrong_type"),
        (None, "wrong_type"),
        (-0.1, "out_of_range"),
        (5000.1, "out_of_range"),
    ],
)
def test_check_readings_judges_python_values_like_json_ones(value: Any, reason: str) -> None:
    with pytest.raises(codec.CodecError) as info:
        codec.check_readings(dict(GOOD, p=value), NOW)
    assert info.value.reason == reason


def test_detail_names_the_field_and_the_limit() -> None:
    with pytest.raises(codec.CodecError) as info:
        codec.decode_readings(reading(dim=150), NOW)
    assert info.value.detail == "dim: 150 > 100"


def test_detail_in_a_batch_names_the_reading() -> None:
    with pytest.raises(codec.CodecError) as info:
        codec.decode_readings(b"[" + reading() + b"," + reading(pf=2) + b"]", NOW)
    assert info.value.detail == "[1] pf: 2 > 1"


def test_the_batch_cap_is_the_callers() -> None:
    payload = b"[" + b",".join([reading()] * 3) + b"]"
    assert len(codec.decode_readings(payload, NOW, max_batch=3)) == 3
    with pytest.raises(codec.CodecError, match="batch_too_large"):
        codec.decode_readings(payload, NOW, max_batch=2)


def test_the_skew_is_the_callers() -> None:
    assert codec.decode_readings(reading(ts=NOW + 60), NOW, future_s=60)[0][1] == NOW + 60
    with pytest.raises(codec.CodecError, match="future_timestamp"):
        codec.decode_readings(reading(ts=NOW + 61), NOW, future_s=60)


def test_one_bad_reading_rejects_the_whole_batch() -> None:
    with pytest.raises(codec.CodecError):
        codec.decode_readings(b"[" + reading() + b"," + reading(dim=101) + b"," + reading() + b"]", NOW)


@pytest.mark.parametrize(
    ("topic", "ok"),
    [
        ("terang/v1/timika/lamp/L1/telemetry", True),
        ("terang/v1/timika/lamp/L1", False),
        ("terang/v1/timika/lamp/L1/telemetry/", False),
        ("/terang/v1/timika/lamp/L1/telemetry", False),
        ("terang/v1/timika/lamp/L1/Telemetry", False),
        ("terang/v1/" + "s" * 33 + "/lamp/L1/event", False),
        ("terang/v1/timika/gw/g-1/state", True),
    ],
)
def test_bad_topic(topic: str, ok: bool) -> None:
    if ok:
        assert codec.parse_topic(topic)[3] in codec.KINDS
    else:
        with pytest.raises(codec.CodecError, match="bad_topic"):
            codec.parse_topic(topic)


@pytest.mark.parametrize(
    ("decode", "payload"),
    [
        (codec.decode_event, b'{"ts":1717200000,"ev":"boot"}'),
        (codec.decode_cmd, b'{"id":1,"op":"level","exp":1717200000,"lvl":"50","until":1717200060}'),
        (codec.decode_state, b'{"st":"on"}'),
        (codec.decode_ack, b'{"seq":1.5}'),
        (codec.decode_config, b'{"cv":1}'),
    ],
)
def test_bad_payload_for_other_kinds(decode: Any, payload: bytes) -> None:
    with pytest.raises(codec.CodecError) as info:
        decode(payload)
    assert info.value.reason == "bad_payload"


def test_codec_error_is_a_value_error_carrying_reason_and_detail() -> None:
    err = codec.CodecError("out_of_range", "dim: 150 > 100")
    assert isinstance(err, ValueError)
    assert (err.reason, err.detail, str(err)) == ("out_of_range", "dim: 150 > 100", "out_of_range: dim: 150 > 100")
