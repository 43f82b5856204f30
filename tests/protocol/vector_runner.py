# Runs golden vectors through the codec. The same file runs under CPython (imported by the tests) and
# under MicroPython (as a script: `micropython vector_runner.py VECTORS.json`), so both interpreters go
# through one dispatcher and their results can be compared byte for byte.
#
# A vector: {"name", "fn", "in" (JSON value) or "in_hex" (raw bytes), other arguments, and the expected
# "out" (text, or hex for binary results) or "error" (a CodecError reason)}. MicroPython subset: no
# f-strings, no typing.

import json
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only: MicroPython never runs this import
    from typing import Any

    V = dict[str, Any]

try:
    from firmware.device import codec
except ImportError:  # MicroPython: firmware/device is on MICROPYPATH
    import codec  # type: ignore[import-not-found, no-redef, unused-ignore]


def _payload(v: "V") -> bytes:
    if "in_hex" in v:
        return bytes.fromhex(v["in_hex"])
    text = v["in"]  # type: str
    return text.encode()


def _reading(x: "list[Any]") -> "tuple[Any, ...]":
    return tuple(x)


def _text(b: bytes) -> str:
    return b.decode()


def _hexes(frames: "list[bytes]") -> str:
    return " ".join([f.hex() for f in frames])


def _ref(v: "V") -> codec.LoraRef:
    r = v.get("ref", {})
    return codec.LoraRef(
        rx=r.get("rx", 0), seq=r.get("seq", -1), e=r.get("e", -1), f=r.get("f", 0), cv=r.get("cv"),
        cmd_ids=r.get("cmd_ids"),
    )


def _decoded_uplink(kind: str, readings: "list[Any]", obj: "Any") -> str:
    if kind == codec.KIND_TELEMETRY:
        return kind + " " + _text(codec.encode_readings(readings))
    if kind == codec.KIND_STATE:
        return kind + " " + _text(codec.encode_state(obj))
    return kind + " " + _text(codec.encode_event(obj))


def _decoded_downlink(kind: str, obj: "Any") -> str:
    if kind == codec.KIND_CMD:
        return kind + " " + _text(codec.encode_cmd(obj))
    if kind == codec.KIND_ACK:
        return kind + " " + _text(codec.encode_ack(obj["seq"], obj["miss"]))
    return kind + " " + ",".join([str(obj[k]) for k in ("frag", "more", "full", "base", "cv")])


def _decode_ack(v: "V") -> str:
    seq, miss = codec.decode_ack(_payload(v))
    return _text(codec.encode_ack(seq, miss))


def _now(v: "V") -> int:
    return int(v.get("now", 1717200000))


FNS = {  # type: dict[str, Any]
    "valid_id": lambda v: "true" if codec.valid_id(v["in"]) else "false",
    "lamp_topic": lambda v: codec.lamp_topic(v["in"][0], v["in"][1], v["in"][2]),
    "gw_topic": lambda v: codec.gw_topic(v["in"][0], v["in"][1], v["in"][2]),
    "parse_topic": lambda v: ",".join(codec.parse_topic(v["in"])),
    "flag_names": lambda v: ",".join(codec.flag_names(v["in"])),
    "encode_reading": lambda v: _text(codec.encode_reading(_reading(v["in"]))),
    "encode_readings": lambda v: _text(codec.encode_readings([_reading(x) for x in v["in"]])),
    "decode_readings": lambda v: _text(
        codec.encode_readings(
            codec.decode_readings(_payload(v), _now(v), v.get("future_s", 86400), v.get("max_batch", 500))
        )
    ),
    "check_readings": lambda v: _text(
        codec.encode_readings(
            codec.check_readings(v["in"], _now(v), v.get("future_s", 86400), v.get("max_batch", 500))
        )
    ),
    "json_failure_reason": lambda v: codec.json_failure_reason(_payload(v))[0],
    "encode_ack": lambda v: _text(codec.encode_ack(v["in"]["seq"], v["in"].get("miss"))),
    "decode_ack": _decode_ack,
    "encode_event": lambda v: _text(codec.encode_event(v["in"])),
    "decode_event": lambda v: _text(codec.encode_event(codec.decode_event(_payload(v)))),
    "encode_state": lambda v: _text(codec.encode_state(v["in"])),
    "decode_state": lambda v: _text(codec.encode_state(codec.decode_state(_payload(v)))),
    "encode_cmd": lambda v: _text(codec.encode_cmd(v["in"])),
    "decode_cmd": lambda v: _text(codec.encode_cmd(codec.decode_cmd(_payload(v)))),
    "encode_config": lambda v: _text(codec.encode_config(v["in"])),
    "decode_config": lambda v: _text(codec.encode_config(codec.decode_config(_payload(v)))),
    "encode_lora_reading": lambda v: codec.encode_lora_reading(_reading(v["in"])).hex(),
    "encode_lora_batch": lambda v: _hexes(
        codec.encode_lora_batch([_reading(x) for x in v["in"]], v.get("max_len", 242))
    ),
    "encode_lora_alarm": lambda v: codec.encode_lora_alarm(v["in"]).hex(),
    "encode_lora_state": lambda v: codec.encode_lora_state(v["in"]).hex(),
    "decode_lora": lambda v: _decoded_uplink(*codec.decode_lora(_payload(v), _ref(v))),
    "encode_lora_cmd": lambda v: codec.encode_lora_cmd(v["in"], _now(v)).hex(),
    "encode_lora_ack": lambda v: codec.encode_lora_ack(v["in"]["seq"], v["in"].get("miss")).hex(),
    "decode_lora_downlink": lambda v: _decoded_downlink(
        *codec.decode_lora_downlink(_payload(v), _now(v), v.get("seq_ref", -1))
    ),
    "encode_config_delta": lambda v: _hexes(
        codec.encode_config_delta(v["in"]["old"], v["in"]["new"], v.get("max_len", 51))
    ),
    "apply_config_delta": lambda v: _text(
        codec.encode_config(
            codec.apply_config_delta(
                None if v["in"]["cfg"] is None else codec.check_config(v["in"]["cfg"]),
                [bytes.fromhex(h) for h in v["in"]["frames"]],
            )
        )
    ),
}


def run_vector(v: "V") -> "dict[str, str]":
    """{"out": text} or {"error": reason}; {"crash": ...} for anything but a CodecError (a bug)."""
    try:
        return {"out": FNS[v["fn"]](v)}
    except codec.CodecError as exc:
        return {"error": exc.reason}
    except Exception as exc:
        return {"crash": type(exc).__name__ + ": " + str(exc)}


def main(paths: "list[str]") -> None:
    for path in paths:
        with open(path) as fh:
            vectors = json.loads(fh.read())
        for v in vectors:
            res = run_vector(v)
            res["name"] = v["name"]
            print(json.dumps(res))


if __name__ == "__main__":
    main(sys.argv[1:])
