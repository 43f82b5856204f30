"""Config: defaults, validation the vectors do not show, and LoRa deltas (sizes, atomicity, versions)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from firmware.device import codec

NOW = 1717200000
CFG: dict[str, Any] = {
    "cv": 3,
    "loc": [-4.54678, 136.88712],
    "tz": 540,
    "prof": [[[1, 0, 100, 0], [0, 1380, 50, 60], [2, -15, 0, 0]], [[1, 0, 100, 0], [2, 0, 0, 0]]],
    "cal": [[1, 127, 20250817, 20250817], [0, 31, 0, 0]],
    "def": 100,
    "fb": 86400,
}


def with_(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(CFG), **changes}


def test_decoded_config_has_every_default() -> None:
    cfg = codec.check_config(CFG)
    defaults: tuple[object, ...] = ("lin", 0, 100, 300, [1.0, 1.0, 1.0], [])
    assert (cfg["curve"], cfg["min"], cfg["max"], cfg["ri"], cfg["k"], cfg["ovr"]) == defaults


def test_calendar_is_optional_and_profile_zero_is_the_default() -> None:
    cfg = {k: v for k, v in CFG.items() if k != "cal"}
    assert codec.check_config(cfg)["cal"] == []


def test_common_change_fits_one_lora_frame() -> None:
    ten_steps = [[0, 60 * k, 10 * k, 0] for k in range(10)]
    frames = codec.encode_config_delta(CFG, with_(cv=4, prof=[ten_steps, CFG["prof"][1]]))
    assert len(frames) == 1 and len(frames[0]) <= codec.LORA_DELTA_MAX
    frames = codec.encode_config_delta(CFG, with_(cv=5, ovr=[[0, NOW, NOW + 600]]))
    assert len(frames) == 1 and len(frames[0]) <= codec.LORA_DELTA_MAX


def test_largest_config_fits_the_fragment_limit() -> None:
    big = with_(
        prof=[[[0, 60 * k, k, 4095] for k in range(10)] for _ in range(16)],
        cal=[[k % 16, 127, 20250101 + k, 20250101 + k] for k in range(28)]
        + [[k % 16, 127, 20250201 + k, 20250201 + k] for k in range(28)]
        + [[k % 16, 1 << (k % 7), 0, 0] for k in range(8)],
        ovr=[[50, NOW + 10 * k, NOW + 10 * k + 5] for k in range(4)],
    )
    frames = codec.encode_config_delta(None, big)
    assert len(frames) <= 64 and all(len(f) <= codec.LORA_DELTA_MAX for f in frames)
    assert codec.encode_config(codec.apply_config_delta(None, frames)) == codec.encode_config(big)


def test_faster_data_rates_take_fewer_fragments() -> None:
    assert len(codec.encode_config_delta(None, CFG, 242)) < len(codec.encode_config_delta(None, CFG))


def test_applying_a_delta_leaves_the_devices_config_untouched() -> None:
    held = codec.check_config(CFG)
    before = copy.deepcopy(held)
    new = codec.apply_config_delta(held, codec.encode_config_delta(held, with_(cv=4, cal=[])))
    assert held == before
    assert new["cal"] == [] and new["cv"] == 4


def test_delta_against_another_version_is_refused() -> None:
    frames = codec.encode_config_delta(CFG, with_(cv=4, fb=600))
    with pytest.raises(codec.CodecError) as info:
        codec.apply_config_delta(codec.check_config(with_(cv=2)), frames)
    assert info.value.reason == "base_mismatch"
    with pytest.raises(codec.CodecError, match="base_mismatch"):
        codec.apply_config_delta(None, frames)


def test_delta_base_compares_the_low_sixteen_bits_of_the_version() -> None:
    old = with_(cv=65536 + 3)
    frames = codec.encode_config_delta(old, with_(cv=65536 + 4, fb=600))
    assert codec.apply_config_delta(codec.check_config(old), frames)["cv"] == 65536 + 4


def test_fragments_must_arrive_complete_and_in_order() -> None:
    frames = codec.encode_config_delta(None, CFG)
    assert len(frames) >= 2
    for bad in (frames[::-1], frames[:-1], frames[1:], [frames[0], frames[0], *frames[1:]]):
        with pytest.raises(codec.CodecError, match="bad_frame"):
            codec.apply_config_delta(None, bad)


def test_fragments_of_two_deltas_do_not_mix() -> None:
    a = codec.encode_config_delta(None, CFG)
    b = codec.encode_config_delta(None, with_(cv=9))
    with pytest.raises(codec.CodecError, match="bad_frame"):
        codec.apply_config_delta(None, [a[0], *b[1:]])


def test_delta_that_breaks_the_config_is_refused() -> None:
    # Remove profile 1 while the calendar still names it.
    frame = bytes([0x90, 0x00]) + (3).to_bytes(2, "big") + (4).to_bytes(4, "big") + bytes([0x11, 0])
    with pytest.raises(codec.CodecError, match="bad_payload"):
        codec.apply_config_delta(codec.check_config(CFG), [frame])


def test_encoders_accept_tuples_and_write_lists() -> None:
    as_tuples = with_(loc=(-4.54678, 136.88712), prof=tuple(tuple(tuple(s) for s in p) for p in CFG["prof"]))
    assert codec.encode_config(as_tuples) == codec.encode_config(CFG)


def test_config_command_and_outcome_name_the_version() -> None:
    cmd = codec.decode_cmd(codec.encode_cmd({"id": 5, "op": "config", "exp": NOW + 60, "cv": 4}))
    assert cmd["cv"] == 4
    ev = codec.decode_event(codec.cmd_outcome(5, "base_mismatch", NOW))
    assert (ev["id"], ev["res"]) == (5, "base_mismatch")
