"""The ingestion validator against generated hostile input: it never raises, whatever arrives, and
what it accepts is exactly what the protocol allows."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.device import codec
from server.ingest.messages import DeviceMessage, Limits, Rejected, Telemetry, classify

NOW = 1_717_200_000
# The server defaults: 50 readings of ~150 bytes fit well inside the payload cap.
LIMITS = Limits(max_payload_bytes=64 * 1024, max_batch_readings=50, future_tolerance_s=86_400)
ids = st.from_regex(r"[A-Za-z0-9_-]{1,32}", fullmatch=True)
kinds = st.sampled_from(codec.KINDS)
classes = st.sampled_from(codec.DEVICE_CLASSES)
good_topics = st.builds(lambda s, c, d, k: f"terang/v1/{s}/{c}/{d}/{k}", ids, classes, ids, kinds)
any_topics = good_topics | st.text(max_size=120) | st.builds(
    "/".join, st.lists(st.text(max_size=12), max_size=8))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=6),
    max_leaves=30)


def _num(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


reading_objects = st.fixed_dictionaries({
    "seq": st.integers(0, codec.SEQ_MAX), "ts": st.integers(codec.TS_MIN, NOW),
    "p": _num(0, 5000), "v": _num(0, 500), "i": _num(0, 50), "pf": _num(0, 1), "e": _num(0, 4_294_967_295),
    "dim": st.integers(0, 100)})
# Readings with one key replaced by anything at all.
mutated_readings = st.builds(lambda r, key, value: {**r, key: value}, reading_objects,
                             st.sampled_from([*codec.READING_KEYS, "extra"]), json_values)


def _payloads() -> st.SearchStrategy[bytes]:
    as_json = st.one_of(json_values, reading_objects, mutated_readings, st.lists(mutated_readings, max_size=60))
    return st.binary(max_size=600) | as_json.map(lambda v: json.dumps(v, allow_nan=True).encode())


@settings(max_examples=400, deadline=None)
@given(any_topics, _payloads())
def test_classify_never_raises_and_always_decides(topic: str, payload: bytes) -> None:
    msg = classify(topic, payload, float(NOW), LIMITS)
    assert isinstance(msg, Telemetry | DeviceMessage | Rejected)
    if isinstance(msg, Rejected):
        assert msg.reason and isinstance(msg.detail, str)


@settings(max_examples=300, deadline=None)
@given(good_topics, st.lists(mutated_readings, min_size=1, max_size=5))
def test_accepted_telemetry_is_within_the_protocol_ranges(topic: str, readings: list[dict[str, Any]]) -> None:
    msg = classify(topic, json.dumps(readings).encode(), float(NOW), LIMITS)
    if not isinstance(msg, Telemetry):
        return
    site, cls, lamp, kind = codec.parse_topic(topic)
    assert (cls, kind, msg.site_id, msg.lamp_id) == ("lamp", "telemetry", site, lamp)
    for r in msg.readings:
        seq, ts, p, v, i, pf, e, dim = r[:8]
        assert 0 <= seq <= codec.SEQ_MAX and codec.TS_MIN <= ts <= NOW + LIMITS.future_tolerance_s
        assert all(math.isfinite(x) for x in (p, v, i, pf, e))
        assert 0 <= p <= 5000 and 0 <= v <= 500 and 0 <= i <= 50 and 0 <= pf <= 1 and 0 <= dim <= 100


@settings(max_examples=200, deadline=None)
@given(ids, ids, st.lists(reading_objects, min_size=1, max_size=LIMITS.max_batch_readings))
def test_valid_telemetry_is_accepted_whole(site: str, lamp: str, readings: list[dict[str, Any]]) -> None:
    msg = classify(codec.lamp_topic(site, lamp, "telemetry"), json.dumps(readings).encode(), float(NOW), LIMITS)
    assert isinstance(msg, Telemetry)
    assert len(msg.readings) == len(readings)


@given(good_topics, st.integers(LIMITS.max_payload_bytes + 1, LIMITS.max_payload_bytes + 5000))
def test_oversized_payloads_are_rejected_unread(topic: str, size: int) -> None:
    msg = classify(topic, b"[" + b" " * (size - 2) + b"]", float(NOW), LIMITS)
    assert isinstance(msg, Rejected) and msg.reason == "payload_too_large"


@settings(max_examples=300)
@given(any_topics)
def test_parse_topic_returns_valid_ids_or_refuses(topic: str) -> None:
    try:
        site, cls, dev, kind = codec.parse_topic(topic)
    except codec.CodecError as exc:
        reason = exc.reason
        assert reason == "bad_topic"
        return
    assert codec.valid_id(site) and codec.valid_id(dev) and cls in codec.DEVICE_CLASSES and kind in codec.KINDS
