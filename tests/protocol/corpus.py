"""A deterministic corpus of damaged payloads and frames, run through the codec on CPython and on
MicroPython: the two must agree on every result (the same reason, or the same re-encoded value).

Seeds are valid messages of every kind; mutations are the ways payloads break in the field (truncation,
flipped bytes, stray tokens, lost or doubled pieces) plus outright noise.
"""

from __future__ import annotations

import json
import random
from typing import Any

NOW = 1717200000

_READING = {"seq": 1234, "ts": NOW, "p": 41.5, "v": 229.8, "i": 0.183, "pf": 0.98, "e": 12345.6, "dim": 40}
_CONFIG = {
    "cv": 3, "loc": [-4.54678, 136.88712], "tz": 540,
    "prof": [[[1, 0, 100, 0], [0, 1380, 50, 60], [2, -15, 0, 0]]],
    "cal": [[0, 31, 20250101, 20251231]], "ovr": [[100, NOW, NOW + 3600]], "def": 100, "fb": 86400,
}

_JSON_SEEDS: list[tuple[str, Any]] = [
    ("decode_readings", _READING),
    ("decode_readings", dict(_READING, t=-3.5, f=513, cv=7)),
    ("decode_readings", [_READING, dict(_READING, seq=1235)]),
    ("decode_readings", [[_READING], 7]),  # near misses: wrong shapes, a stray key
    ("decode_readings", dict(_READING, lamp="L1")),
    ("decode_event", {"ts": NOW, "ev": "fault", "f": 9, "on": 8, "off": 2}),
    ("decode_event", {"ts": NOW, "ev": "cmd", "id": 77, "res": "ok", "now": NOW}),
    ("decode_cmd", {"id": 77, "op": "level", "exp": NOW, "lvl": 50, "until": NOW + 60}),
    ("decode_cmd", {"id": 83, "op": "ota", "exp": NOW, "url": "https://x/fw.bin", "size": 9,
                    "sha256": "ab" * 32, "sig": "cd" * 8, "ver": "1.3.0"}),
    ("decode_state", {"st": "online", "ts": NOW, "fw": "1.2.3", "h": {"q": 3, "up": True, "rssi": -97.5}}),
    ("decode_ack", {"seq": 5, "miss": [[7, 9], [12, 12]]}),
    ("decode_config", _CONFIG),
    ("json_failure_reason", [1, {"a": "b"}, 2.5, None, True]),
]

_FRAME_SEEDS: list[tuple[str, str]] = [
    ("decode_lora", "04d248050000a6e662303a"),
    ("decode_lora", "1064800001010000030000"),
    ("decode_lora", "1164800201020300000003"),
    ("decode_lora", "1664800000000301020301"),
    ("decode_lora", "2002000004d2665a64800000303a0000500000a6e6620000012c500000a4e6620003"),
    ("decode_lora_downlink", "81004d320078"),
    ("decode_lora_downlink", "a0000004d2000004d8000b"),
    ("decode_lora_downlink", "908100030000000433000a"),
]

_TOKENS = [b",", b"]", b"}", b"[", b"{", b":", b'"', b"\\", b"NaN", b"-Infinity", b"1e999", b"-", b"0",
           b".5", b"01", b"true", b"null", b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b" ", b"1.0", b"9" * 30]


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    op = rng.randrange(6)
    pos = rng.randrange(len(b) + 1)
    if op == 0 and b:  # flip a byte
        b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncate
        del b[pos:]
    elif op == 2:  # stray token
        b[pos:pos] = rng.choice(_TOKENS)
    elif op == 3 and b:  # lose a piece
        del b[pos : pos + rng.randrange(1, 8)]
    elif op == 4:  # double a piece
        b[pos:pos] = b[pos : pos + rng.randrange(1, 12)]
    else:  # replace a piece by a token
        b[pos : pos + rng.randrange(1, 6)] = rng.choice(_TOKENS)
    return bytes(b)


def fuzz_corpus(count: int = 600, seed: int = 20240601) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    ref = {"rx": NOW + 10, "seq": 1200, "e": 12000, "f": 0, "cv": 3}
    for k in range(count):
        kind = rng.randrange(10)
        v: dict[str, Any] = {"name": f"fuzz {k}"}
        if kind < 6:
            fn, seed_obj = rng.choice(_JSON_SEEDS)
            data = json.dumps(seed_obj, separators=(",", ":")).encode()
            for _ in range(rng.randrange(1, 4)):
                data = _mutate(rng, data)
            v.update(fn=fn, in_hex=data.hex(), now=NOW)
        elif kind < 9:
            fn, frame = rng.choice(_FRAME_SEEDS)
            data = bytes.fromhex(frame)
            for _ in range(rng.randrange(1, 3)):
                data = _mutate(rng, data)
            v.update(fn=fn, in_hex=data.hex(), ref=ref, now=NOW, seq_ref=1300)
        else:
            fn = rng.choice(["decode_readings", "decode_config", "decode_lora", "json_failure_reason"])
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 24)))
            v.update(fn=fn, in_hex=data.hex(), ref=ref, now=NOW)
        out.append(v)
    return out
