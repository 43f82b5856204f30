"""Properties of the codec over generated inputs: round trips stay within the stated resolution, the
fast paths agree with the authoritative slow paths, and no input makes the codec raise anything but
CodecError."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.device import codec

NOW = 1717200000


def num(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False) | st.integers(math.ceil(lo), math.floor(hi)).map(
        float
    )


readings = st.tuples(
    st.integers(0, codec.SEQ_MAX),
    st.integers(codec.TS_MIN, NOW + 86400),
    num(0, 5000),
    num(0, 500),
    num(0, 50),
    num(0, 1),
    num(0, 4294967295),
    st.integers(0, 100),
    st.none() | num(-40, 125),
    st.none() | st.integers(0, codec.FLAGS_MAX),
    st.none() | st.integers(0, codec.CV_MAX),
)

# Resolution on the wire per READING_KEYS position (half a step is the largest rounding error).
RESOLUTION = (1, 1, 0.1, 0.1, 0.001, 0.01, 0.1, 1, 0.1, 1, 1)


def close(a: float, b: float, step: float) -> bool:
    # Half a step plus the float error of scaling large values.
    return abs(a - b) <= step / 2 + 1e-9 * max(1.0, abs(a))


@settings(deadline=None)
@given(readings)
def test_reading_json_round_trip_stays_within_resolution(r: tuple[Any, ...]) -> None:
    (back,) = codec.decode_readings(codec.encode_reading(r), NOW)
    for k, (a, b) in enumerate(zip(r, back, strict=True)):
        if a is None:
            assert b is None
        else:
            assert b is not None
            assert close(a, b, RESOLUTION[k]), codec.READING_KEYS[k]


@settings(deadline=None)
@given(readings)
def test_encoding_a_decoded_reading_gives_the_same_bytes(r: tuple[Any, ...]) -> None:
    once = codec.encode_reading(r)
    assert codec.encode_readings(codec.decode_readings(once, NOW)) == b"[" + once + b"]"


@settings(deadline=None)
@given(readings)
def test_fast_encoder_writes_what_the_validating_encoder_writes(r: tuple[Any, ...]) -> None:
    fast = codec._fast_text(r)
    assert fast is not None
    assert fast == codec._reading_text(codec._norm_reading(r))


json_scalars = (
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats() | st.text(max_size=8)
)


def reading_like() -> st.SearchStrategy[dict[str, Any]]:
    # Mostly valid readings with a few keys dropped, added or given a strange value, so that both the
    # fast path and every branch of the slow path are exercised.
    good = readings.map(
        lambda r: {k: v for k, v in zip(codec.READING_KEYS, r, strict=True) if v is not None}
    )
    return st.tuples(
        good,
        st.lists(st.sampled_from([*codec.READING_KEYS, "x"]), max_size=2),
        st.dictionaries(st.sampled_from([*codec.READING_KEYS, "lamp"]), json_scalars, max_size=2),
    ).map(lambda t: {**{k: v for k, v in t[0].items() if k not in t[1]}, **t[2]})


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except codec.CodecError as exc:
        return ("error", exc.reason, exc.detail)


@settings(deadline=None)
@given(reading_like(), st.integers(0, 10**6))
def test_fast_check_accepts_exactly_what_the_slow_check_accepts(o: dict[str, Any], skew: int) -> None:
    tmax = NOW + skew
    assert outcome(codec._reading, o, tmax) == outcome(codec._slow_reading, o, tmax)


@settings(deadline=None)
@given(reading_like())
def test_check_reading_raises_only_codec_error(o: dict[str, Any]) -> None:
    outcome(codec.check_readings, o, NOW)
    outcome(codec.check_readings, [o, o], NOW)


json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(deadline=None)
@given(json_values)
def test_any_json_value_raises_only_codec_error(obj: Any) -> None:
    for check in (codec.check_event, codec.check_cmd, codec.check_state, codec.check_config, codec.check_ack):
        outcome(check, obj)
    outcome(codec.check_readings, obj, NOW)
    try:
        payload = json.dumps(obj).encode()
    except ValueError:
        return
    for decode in (codec.decode_event, codec.decode_cmd, codec.decode_state, codec.decode_config, codec.decode_ack):
        outcome(decode, payload)
    outcome(codec.decode_readings, payload, NOW)


@settings(deadline=None)
@given(st.binary(max_size=64))
def test_random_bytes_raise_only_codec_error(data: bytes) -> None:
    ref = codec.LoraRef(rx=NOW, seq=1200, e=12000)
    outcome(codec.decode_readings, data, NOW)
    outcome(codec.decode_config, data)
    outcome(codec.json_failure_reason, data)
    outcome(codec.decode_lora, data, ref)
    outcome(codec.decode_lora, data, codec.LoraRef())
    outcome(codec.decode_lora_downlink, data, NOW, 1300)
    outcome(codec.apply_config_delta, None, [data])


@settings(deadline=None)
@given(st.binary(min_size=11, max_size=11))
def test_any_eleven_bytes_decode_or_raise_only_codec_error(data: bytes) -> None:
    outcome(codec.decode_lora, data, codec.LoraRef(rx=NOW, seq=1200, e=12000))


# LoRa: readings within the LoRa ranges, decoded by a receiver whose reference is in the window.
lora_readings = st.tuples(
    st.integers(1, 2**40),
    st.integers(codec.TS_MIN + 10**6, NOW),
    num(0, 2047),
    num(0, 500),
    st.just(0.0),
    num(0, 1),
    num(0, 10**9),
    st.integers(0, 100),
    st.none(),
    st.integers(0, 0xFFFFFF),
    st.none() | st.integers(0, codec.CV_MAX),
)


@settings(deadline=None)
@given(lora_readings, st.integers(-1023, 3071), st.integers(0, 3800), st.integers(-4000, 61000))
def test_lora_reading_round_trip_within_its_resolution(
    r: tuple[Any, ...], seq_lag: int, delay: int, e_lag: int
) -> None:
    seq, ts, p, v, _i, pf, e, dim, _t, f, cv = r
    ref = codec.LoraRef(rx=ts + delay, seq=max(seq - seq_lag, 0), e=max(round(e) - e_lag, 0), f=f, cv=cv)
    if ref.seq <= seq - 3072 or ref.e <= round(e) - 61440:
        return  # outside the documented windows
    kind, (back,), obj = codec.decode_lora(codec.encode_lora_reading(r), ref)
    assert kind == codec.KIND_TELEMETRY and obj is None
    assert back[0] == seq and back[1] == ts and back[7] == dim
    assert close(p, back[2], 0.5) and close(v, back[3], 0.5) and close(pf, back[5], 0.01)
    assert close(e, back[6], 1.0)
    assert back[9] == f and back[10] == cv and back[8] is None
    if back[3] > 0 and back[5] > 0:
        assert close(back[4], min(back[2] / (back[3] * back[5]), 50), 0.001)


@settings(deadline=None)
@given(st.lists(lora_readings, min_size=1, max_size=40), st.integers(24, 242))
def test_lora_batch_round_trip_within_its_resolution(rs: list[tuple[Any, ...]], max_len: int) -> None:
    # Consecutive sequences and times, as a journal replays them.
    base = rs[0]
    rs = [(base[0] + k, base[1] + 60 * k, *r[2:6], 1000.0 + 7 * k, *r[7:]) for k, r in enumerate(rs)]
    frames = codec.encode_lora_batch(rs, max_len)
    assert all(len(fr) <= max_len for fr in frames)
    back = []
    for fr in frames:
        kind, got, _ = codec.decode_lora(fr, codec.LoraRef(rx=NOW, seq=base[0] - 1))
        assert kind == codec.KIND_TELEMETRY
        back += got
    assert [b[0] for b in back] == [r[0] for r in rs]
    assert [b[1] for b in back] == [r[1] for r in rs]
    for r, b in zip(rs, back, strict=True):
        assert close(r[2], b[2], 0.5) and close(r[6], b[6], 1.0) and r[9] & 0xFFF == b[9]


def fault(t: tuple[int, int]) -> dict[str, Any]:
    return {"ev": "fault", "f": t[0], "on": t[0] & t[1], "off": ~t[0] & t[1] & 0xFFFFFF}


def boot(t: tuple[str, tuple[int, int, int], int | None]) -> dict[str, Any]:
    ev = {"ev": "boot", "rc": t[0], "fw": ".".join(str(x) for x in t[1])}
    return ev if t[2] is None else {**ev, "cv": t[2]}


def outcome_event(t: tuple[int, str, int | None]) -> dict[str, Any]:
    ev = {"ev": "cmd", "id": t[0], "res": t[1]}
    return ev if t[2] is None else {**ev, "now": t[2]}


u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 2**32 - 1)
events = st.one_of(
    st.tuples(u24, u24).map(fault),
    st.tuples(
        st.sampled_from(codec.RESET_CAUSES),
        st.tuples(*[st.integers(0, 255)] * 3),
        st.none() | st.integers(0, codec.CV_MAX),
    ).map(boot),
    st.tuples(u24, u32).map(lambda t: {"ev": "gasp", "f": t[0], "e": float(t[1])}),
    st.tuples(st.integers(0, 0xFFFF), st.sampled_from(codec.RESULTS), st.none() | st.integers(codec.TS_MIN, NOW)).map(
        outcome_event
    ),
    st.tuples(st.integers(1000, 2000), st.integers(0, 500)).map(
        lambda t: {"ev": "drop", "from": t[0], "to": t[0] + t[1]}
    ),
    st.tuples(u32, u32).map(lambda t: {"ev": "sync", "seq": t[0], "e": float(t[1])}),
)


@settings(deadline=None)
@given(events, st.integers(codec.TS_MIN + 10**6, NOW), st.integers(-600, 17 * 3600))
def test_lora_alarm_round_trip(ev: dict[str, Any], ts: int, delay: int) -> None:
    ev = dict(ev, ts=ts)
    ref = codec.LoraRef(rx=ts + delay, seq=1500)
    kind, readings, back = codec.decode_lora(codec.encode_lora_alarm(ev), ref)
    assert kind == codec.KIND_EVENT and readings == []
    assert back == codec.check_event(ev)


@settings(deadline=None)
@given(events, st.integers(codec.TS_MIN, 2**32 - 1))
def test_event_json_round_trip(ev: dict[str, Any], ts: int) -> None:
    ev = dict(ev, ts=ts)
    assert codec.decode_event(codec.encode_event(ev)) == codec.check_event(ev)


cmds = st.one_of(
    st.tuples(st.integers(0, 100), st.integers(61, 65535 * 60)).map(
        lambda t: {"op": "level", "lvl": t[0], "until": NOW + t[1]}
    ),
    st.sampled_from([{"op": "resume"}, {"op": "reboot"}, {"op": "ping"}]),
    st.integers(0, codec.CV_MAX).map(lambda cv: {"op": "config", "cv": cv}),
    st.integers(1, 3600).map(lambda s: {"op": "identify", "s": s}),
    st.integers(codec.TS_MIN, 2**32 - 1).map(lambda t: {"op": "time", "now": t}),
)


@settings(deadline=None)
@given(cmds, st.integers(0, 0xFFFF))
def test_lora_command_round_trip(cmd: dict[str, Any], cid: int) -> None:
    cmd = dict(cmd, id=cid, exp=NOW + 60)
    kind, back = codec.decode_lora_downlink(codec.encode_lora_cmd(cmd, NOW), NOW, 0)
    assert kind == codec.KIND_CMD
    if cmd["op"] == "level":
        # The end travels in whole minutes, rounded up.
        assert isinstance(back["until"], int)
        assert 0 <= back["until"] - cmd["until"] < 60
        back = dict(back, until=cmd["until"])
    assert back == codec.check_cmd(cmd)


@settings(deadline=None)
@given(st.integers(0, 2**40), st.lists(st.tuples(st.integers(1, 50), st.integers(0, 20)), max_size=16))
def test_ack_round_trip(seq: int, gaps: list[tuple[int, int]]) -> None:
    miss = []
    at = seq
    for gap, width in gaps:
        miss.append((at + gap, at + gap + width))
        at += gap + width
    assert codec.decode_ack(codec.encode_ack(seq, miss)) == (seq, miss)
    kind, back = codec.decode_lora_downlink(codec.encode_lora_ack(seq, miss), NOW, seq + 100)
    assert kind == codec.KIND_ACK and back["seq"] == seq
    assert back["miss"] == ([list(miss[0])] if miss else [])


steps = st.lists(
    st.one_of(
        st.tuples(st.just(0), st.integers(0, 1439), st.integers(0, 100), st.integers(0, 4095)),
        st.tuples(st.integers(1, 2), st.integers(-720, 720), st.integers(0, 100), st.integers(0, 4095)),
    ).map(list),
    min_size=1,
    max_size=10,
)
dates = st.sampled_from([0, 20250101, 20250817, 20251231, 20280229, 20991231])


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    prof = draw(st.lists(steps, min_size=1, max_size=16))
    rules = draw(
        st.lists(
            st.tuples(st.integers(0, len(prof) - 1), st.integers(1, 127), dates, dates).map(
                lambda t: [t[0], t[1], *sorted(t[2:])] if t[2] and t[3] else list(t)
            ),
            max_size=30,
        )
    )
    lo = draw(st.integers(0, 100))
    return {
        "cv": draw(st.integers(0, codec.CV_MAX)),
        "loc": [draw(num(-90, 90)), draw(num(-180, 180))],
        "tz": draw(st.integers(-720, 840)),
        "prof": prof,
        "cal": rules,
        "ovr": [[draw(st.integers(0, 100)), NOW + k * 100, NOW + k * 100 + 50] for k in range(draw(st.integers(0, 4)))],
        "def": draw(st.integers(0, 100)),
        "fb": draw(st.integers(60, 2592000)),
        "curve": draw(st.sampled_from(codec.CURVES)),
        "min": lo,
        "max": draw(st.integers(lo, 100)),
        "ri": draw(st.integers(10, 86400)),
        "k": [draw(num(0.5, 2)) for _ in range(3)],
    }


@settings(max_examples=60, deadline=None)
@given(configs())
def test_config_json_round_trip(cfg: dict[str, Any]) -> None:
    once = codec.encode_config(cfg)
    assert codec.encode_config(codec.decode_config(once)) == once


@settings(max_examples=60, deadline=None)
@given(st.none() | configs(), configs())
def test_config_delta_rebuilds_the_new_config(old: dict[str, Any] | None, new: dict[str, Any]) -> None:
    # The device holds what it decoded from an earlier delta or JSON: values at wire resolution.
    held = None if old is None else codec.decode_config(codec.encode_config(old))
    frames = codec.encode_config_delta(held, new)
    assert all(len(fr) <= codec.LORA_DELTA_MAX for fr in frames)
    assert codec.encode_config(codec.apply_config_delta(held, frames)) == codec.encode_config(new)
