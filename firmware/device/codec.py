# Terang protocol v1: topics, JSON payloads and LoRa frames. docs/protocol.md is the spec; this module
# is its one implementation, imported by the firmware (MicroPython), the gateway, the simulator and the
# server (CPython).
#
# Pure: no I/O, no clock (callers pass `now`). MicroPython subset: imports only json and struct; no
# typing, dataclasses or f-strings. Annotations exist for strict mypy on the CPython side; MicroPython's
# compiler drops them, and the ones naming the aliases below are strings so CPython never evaluates them.
#
# Determinism: encoders quantise numbers to the resolution the spec states with integer arithmetic and
# write the digits themselves, in a fixed key order, so CPython and MicroPython emit identical bytes
# (their float repr and json.dumps differ). Decoders give the same CodecError.reason on both.

import json
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # mypy reads this block; at run time it never executes
    Reading = tuple[int, int, float, float, float, float, float, int, float | None, int | None, int | None]
    Obj = dict[str, object]
    Spec = tuple[tuple[str, tuple[object, ...], bool], ...]

PROTOCOL_VERSION = 1
TOPIC_ROOT = "terang/v1"

KIND_TELEMETRY = "telemetry"
KIND_EVENT = "event"
KIND_STATE = "state"
KIND_CMD = "cmd"
KIND_ACK = "ack"
KIND_CONFIG = "config"
KINDS = (KIND_TELEMETRY, KIND_EVENT, KIND_STATE, KIND_CMD, KIND_ACK, KIND_CONFIG)

DEVICE_LAMP = "lamp"
DEVICE_GW = "gw"
DEVICE_CLASSES = (DEVICE_LAMP, DEVICE_GW)

# Ranges (docs/protocol.md, "Telemetry"). seq stays below 2**53 so that every JSON parser reads it as an
# exact integer; timestamps are after 2020-01-01 and fit an unsigned 32-bit field.
SEQ_MAX = 9007199254740991
TS_MIN = 1577836800
TS_MAX = 4294967295
P_MAX = 5000.0
V_MAX = 500.0
I_MAX = 50.0
E_MAX = 4294967295.0
T_MIN = -40.0
T_MAX = 125.0
FLAGS_MAX = 0xFFFFFFFF
CV_MAX = 2147483647

READING_KEYS = ("seq", "ts", "p", "v", "i", "pf", "e", "dim", "t", "f", "cv")

# Status flags (reading "f", fault events), documented bit by bit in docs/protocol.md. Bits 0-7 ride in
# every LoRa reading, 0-11 in LoRa batch entries, 0-23 in LoRa alarms; 24-31 are JSON-only.
F_LAMP_FAILURE = 1 << 0
F_DRIVER_FAILURE = 1 << 1
F_RELAY_FAILURE = 1 << 2
F_DAY_BURNING = 1 << 3
F_CYCLING = 1 << 4
F_OVER_VOLTAGE = 1 << 5
F_UNDER_VOLTAGE = 1 << 6
F_THERMAL_DERATING = 1 << 7
F_NO_TIME = 1 << 8
F_FALLBACK = 1 << 9
F_PHOTOCELL = 1 << 10
F_OVERRIDE = 1 << 11
F_JOURNAL_OVERFLOW = 1 << 12
F_METER_FAULT = 1 << 13
F_INVALID_SCHEDULE = 1 << 14
F_SAFE_MODE = 1 << 15
F_DRIVER_COMM = 1 << 16
F_THERMAL_SHUTDOWN = 1 << 17
F_ENERGY_RESET = 1 << 18

FLAG_NAMES = (
    "lamp_failure",
    "driver_failure",
    "relay_failure",
    "day_burning",
    "cycling",
    "over_voltage",
    "under_voltage",
    "thermal_derating",
    "no_time",
    "fallback",
    "photocell",
    "override",
    "journal_overflow",
    "meter_fault",
    "invalid_schedule",
    "safe_mode",
    "driver_comm",
    "thermal_shutdown",
    "energy_reset",
)

EVENTS = ("fault", "boot", "gasp", "cmd", "drop", "sync")
OPS = ("level", "resume", "config", "reboot", "identify", "time", "ota", "ping")
RESULTS = (
    "ok",
    "running",
    "expired",
    "bad_args",
    "unsupported",
    "busy",
    "failed",
    "base_mismatch",
    "hash_mismatch",
    "bad_signature",
    "download_failed",
    "health_failed",
    "rolled_back",
)
RESET_CAUSES = (
    "power_on",
    "hard",
    "wdt",
    "soft",
    "deepsleep",
    "brownout",
    "panic",
    "ota",
    "rollback",
    "safe_mode",
    "unknown",
)
BEARERS = ("wifi", "lora", "4g", "eth")
CURVES = ("lin", "log")
ANCHOR_CLOCK = 0
ANCHOR_SUNSET = 1
ANCHOR_SUNRISE = 2

# The Last Will every controller registers on its retained state topic.
STATE_OFFLINE = b'{"st":"offline"}'

# LoRa frame types: the high nibble of byte 0. Uplinks below 8, downlinks from 8.
LORA_READING = 0x0
LORA_ALARM = 0x1
LORA_BATCH = 0x2
LORA_CMD = 0x8
LORA_CONFIG = 0x9
LORA_ACK = 0xA
LORA_MAX = 11  # bytes: AS923 with the 400 ms dwell limit at the slowest usable data rate
LORA_DELTA_MAX = 51


class CodecError(ValueError):
    """A payload or value the protocol does not allow.

    reason: stable snake_case code (the dead-letter reason); detail: a message naming the field.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason + ": " + detail if detail else reason)
        self.reason = reason
        self.detail = detail or reason


# ---------------------------------------------------------------------------------------------- topics

_ID_SET = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def valid_id(s: object) -> bool:
    """Site, lamp and gateway ids: [A-Za-z0-9_-]{1,32}."""
    if type(s) is not str or not 0 < len(s) <= 32:
        return False
    for c in s:
        if c not in _ID_SET:
            return False
    return True


def _topic(site: str, cls: str, dev: str, kind: str) -> str:
    # "+" is allowed for site and device so that callers can build subscription filters.
    if not (site == "+" or valid_id(site)):
        raise CodecError("bad_topic", "site id " + _show(site) + " is not [A-Za-z0-9_-]{1,32}")
    if not (dev == "+" or valid_id(dev)):
        raise CodecError("bad_topic", cls + " id " + _show(dev) + " is not [A-Za-z0-9_-]{1,32}")
    if kind not in KINDS:
        raise CodecError("bad_topic", "unknown kind " + _show(kind))
    return TOPIC_ROOT + "/" + site + "/" + cls + "/" + dev + "/" + kind


def lamp_topic(site: str, lamp_id: str, kind: str) -> str:
    """terang/v1/<site>/lamp/<lamp_id>/<kind>; site or lamp_id "+" gives a subscription filter."""
    return _topic(site, DEVICE_LAMP, lamp_id, kind)


def gw_topic(site: str, gw_id: str, kind: str) -> str:
    """terang/v1/<site>/gw/<gw_id>/<kind>; site or gw_id "+" gives a subscription filter."""
    return _topic(site, DEVICE_GW, gw_id, kind)


def parse_topic(topic: str) -> "tuple[str, str, str, str]":
    """Returns (site, device_class, device_id, kind); CodecError("bad_topic") otherwise."""
    if type(topic) is not str:
        raise CodecError("bad_topic", "topic must be a string")
    parts = topic.split("/")
    if len(parts) != 6 or parts[0] != "terang" or parts[1] != "v1":
        raise CodecError("bad_topic", _show(topic) + " is not terang/v1/<site>/<class>/<id>/<kind>")
    site, cls, dev, kind = parts[2], parts[3], parts[4], parts[5]
    if not valid_id(site):
        raise CodecError("bad_topic", "site id " + _show(site) + " is not [A-Za-z0-9_-]{1,32}")
    if cls not in DEVICE_CLASSES:
        raise CodecError("bad_topic", "device class " + _show(cls) + " is not lamp or gw")
    if not valid_id(dev):
        raise CodecError("bad_topic", cls + " id " + _show(dev) + " is not [A-Za-z0-9_-]{1,32}")
    if kind not in KINDS:
        raise CodecError("bad_topic", "unknown kind " + _show(kind))
    return site, cls, dev, kind


def flag_names(f: "int | None") -> "list[str]":
    """Names of the set flags, lowest bit first; unnamed bits as "bit<n>"."""
    out = []
    if f:
        for b in range(32):
            if f >> b & 1:
                out.append(FLAG_NAMES[b] if b < len(FLAG_NAMES) else "bit" + str(b))
    return out


# -------------------------------------------------------------------------------- values and formatting

_POW10 = (1, 10, 100, 1000, 10000, 100000, 1000000)


def _jtype(x: object) -> str:
    if type(x) is bool:
        return "boolean"
    if type(x) is int:
        return "integer"
    if type(x) is float:
        return "number"
    if type(x) is str:
        return "string"
    if type(x) is list:
        return "array"
    if type(x) is dict:
        return "object"
    if x is None:
        return "null"
    return type(x).__name__


def _show(x: object) -> str:
    # For error details: short, and the same on both runtimes (float repr is not).
    if type(x) is float:
        if x != x:
            return "NaN"
        if x - x != 0.0:
            return "Infinity" if x > 0 else "-Infinity"
        if -1e15 < x < 1e15:
            return _fmt(x, 6)
        return "%d" % int(x)
    if type(x) is int:
        return str(x)
    if type(x) is str:
        return '"' + (x if len(x) <= 40 else x[:40] + "...") + '"'
    return _jtype(x)


def _q(x: float, d: int) -> int:
    """x in units of 10**-d, rounded half away from zero: one multiply, then integer arithmetic."""
    if type(x) is int:
        return x * _POW10[d]
    m = x * _POW10[d]
    return int(m + 0.5) if m >= 0 else -int(-m + 0.5)


def _fmt(x: float, d: int) -> str:
    """Decimal text of x at resolution 10**-d without trailing zeros: "230", "0.18", "-3.5"."""
    n = _q(x, d)
    if n < 0:
        return "-" + _dec(-n, d)
    return _dec(n, d)


_FRAC = ("", "%01d", "%02d", "%03d", "%04d", "%05d", "%06d")


def _dec(n: int, d: int) -> str:
    # n >= 0 in units of 10**-d.
    if d == 0:
        return str(n)
    q, r = divmod(n, _POW10[d])
    if r == 0:
        return str(q)
    return (str(q) + "." + _FRAC[d] % r).rstrip("0")


def _number(key: str, x: object, isint: bool, lo: float, hi: float, bad: "str | None") -> float:
    # One field's type and range. `bad` replaces the specific reasons for kinds other than telemetry.
    if type(x) is int:
        v = x  # type: float
    elif type(x) is float and not isint:
        if x - x != 0.0:
            raise CodecError(bad or "non_finite", key + ": " + _show(x) + " is not a finite number")
        v = x
    else:
        want = "an integer" if isint else "a number"
        raise CodecError(bad or "wrong_type", key + ": expected " + want + ", got " + _jtype(x))
    if v < lo:
        raise CodecError(bad or "out_of_range", key + ": " + _show(x) + " < " + _show(lo))
    if v > hi:
        raise CodecError(bad or "out_of_range", key + ": " + _show(x) + " > " + _show(hi))
    return v


def _as_number(x: object) -> object:
    # Encoders accept numeric scalars of other libraries (numpy's) and store plain int/float.
    if x is None or type(x) is bool or type(x) is int or type(x) is float:
        return x
    if isinstance(x, (str, bytes, list, tuple, dict)):
        return x
    if hasattr(x, "__index__"):
        return int(x.__index__())
    if isinstance(x, float) or hasattr(x, "__float__"):
        return float(x)  # type: ignore[arg-type, unused-ignore]  # needed on CPython's typeshed only
    return x


def _plainify(obj: object) -> object:
    # Encoders take caller values that may hold numpy scalars or tuples; this makes them JSON-shaped
    # (and is a deep copy).
    if isinstance(obj, dict):
        return {k: _plainify(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plainify(v) for v in obj]
    return _as_number(obj)


# ---------------------------------------------------------------------------------------- JSON parsing


class _NonFinite(ValueError):
    pass


def _refuse_constant(name: str) -> float:
    raise _NonFinite(name)


def _finite_float(text: str) -> float:
    x = float(text)
    if x - x != 0.0:
        raise _NonFinite(text)
    return x


# CPython's json accepts NaN/Infinity and turns 1e999 into inf; these hooks make both fail at the token,
# in document order, as the strict scanner below does. MicroPython's json has no JSONDecoder and is
# lenient ([1,], {"a"} and 01 all parse), so there every payload goes through the scanner first.
_JSONDecoder = getattr(json, "JSONDecoder", None)
_DECODE = (
    _JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float).decode
    if _JSONDecoder is not None
    else None
)

_WS = " \t\n\r"
_HEXDIGITS = "0123456789abcdefABCDEF"
_MAX_INT_DIGITS = 4300  # CPython refuses to convert longer integers; so does the scanner, for parity


def _scan_string(s: str, i: int, n: int) -> int:
    # s[i] is the opening quote; returns the index after the closing quote, or -1.
    i += 1
    while i < n:
        c = s[i]
        if c == '"':
            return i + 1
        if c == "\\":
            i += 1
            if i >= n:
                return -1
            c = s[i]
            if c == "u":
                if i + 4 >= n:
                    return -1
                for k in range(i + 1, i + 5):
                    if s[k] not in _HEXDIGITS:
                        return -1
                i += 4
            elif c not in '"\\/bfnrt':
                return -1
        elif c < " ":
            return -1
        i += 1
    return -1


def _scan_number(s: str, i: int, n: int) -> "tuple[int, bool]":
    # An RFC 8259 number at s[i]; returns (end index or -1, is an integer).
    j = i
    if s[j] == "-":
        j += 1
    if j >= n:
        return -1, True
    c = s[j]
    if c == "0":
        j += 1
    elif "1" <= c <= "9":
        while j < n and "0" <= s[j] <= "9":
            j += 1
    else:
        return -1, True
    isint = True
    if j < n and s[j] == ".":
        j += 1
        k = j
        while j < n and "0" <= s[j] <= "9":
            j += 1
        if j == k:
            return -1, True
        isint = False
    if j < n and (s[j] == "e" or s[j] == "E"):
        j += 1
        if j < n and (s[j] == "+" or s[j] == "-"):
            j += 1
        k = j
        while j < n and "0" <= s[j] <= "9":
            j += 1
        if j == k:
            return -1, True
        isint = False
    return j, isint


def _scan(s: str) -> "tuple[str, str] | None":
    """Strict RFC 8259 syntax check: None when valid, else (reason, detail) of the first problem."""
    n = len(s)
    i = 0
    stack = []  # type: list[str]
    want = 0  # 0: a value, 1: after a value, 2: a key or "}", 3: a key, 4: a value or "]"
    while True:
        while i < n and s[i] in _WS:
            i += 1
        if i >= n:
            if want == 1 and not stack:
                return None
            return "bad_json", "unexpected end of JSON at char " + str(i)
        c = s[i]
        if want == 1:
            if not stack:
                return "bad_json", "extra data at char " + str(i)
            top = stack[-1]
            if c == ",":
                i += 1
                want = 3 if top == "{" else 0
            elif (c == "]" and top == "[") or (c == "}" and top == "{"):
                stack.pop()
                i += 1
            else:
                return "bad_json", "expected ',' or a closing bracket at char " + str(i)
            continue
        if want == 2 or want == 3:
            if c == "}" and want == 2:
                stack.pop()
                i += 1
                want = 1
                continue
            if c != '"':
                return "bad_json", "expected a key at char " + str(i)
            i = _scan_string(s, i, n)
            if i < 0:
                return "bad_json", "bad string"
            while i < n and s[i] in _WS:
                i += 1
            if i >= n or s[i] != ":":
                return "bad_json", "expected ':' at char " + str(i)
            i += 1
            want = 0
            continue
        if c == "]" and want == 4:
            stack.pop()
            i += 1
            want = 1
            continue
        want = 1
        if c == "{":
            stack.append("{")
            i += 1
            want = 2
        elif c == "[":
            stack.append("[")
            i += 1
            want = 4
        elif c == '"':
            i = _scan_string(s, i, n)
            if i < 0:
                return "bad_json", "bad string"
        elif s.startswith("true", i) or s.startswith("null", i):
            i += 4
        elif s.startswith("false", i):
            i += 5
        elif s.startswith("NaN", i) or s.startswith("Infinity", i) or s.startswith("-Infinity", i):
            return "non_finite", "NaN/Infinity at char " + str(i) + " is not a JSON number"
        elif c == "-" or "0" <= c <= "9":
            j, isint = _scan_number(s, i, n)
            if j < 0:
                return "bad_json", "bad number at char " + str(i)
            if isint:
                if j - i > _MAX_INT_DIGITS:
                    return "bad_json", "integer at char " + str(i) + " is too long"
            else:
                x = float(s[i:j])
                if x - x != 0.0:
                    return "non_finite", "number at char " + str(i) + " overflows a double"
            i = j
        else:
            return "bad_json", "unexpected character at char " + str(i)


def _utf8_ok(b: bytes) -> bool:
    # Strict UTF-8 as CPython decodes it (no overlong forms, surrogates, or code points above
    # U+10FFFF); MicroPython's bytes.decode accepts all three.
    n = len(b)
    i = 0
    while i < n:
        c = b[i]
        if c < 0x80:
            i += 1
            continue
        lo = 0x80
        hi = 0xBF
        if 0xC2 <= c <= 0xDF:
            k = 1
        elif 0xE0 <= c <= 0xEF:
            k = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif 0xF0 <= c <= 0xF4:
            k = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return False
        if i + k >= n or not lo <= b[i + 1] <= hi:
            return False
        for j in range(i + 2, i + k + 1):
            if not 0x80 <= b[j] <= 0xBF:
                return False
        i += k + 1
    return True


def _text(payload: object) -> str:
    if type(payload) is str:
        return payload
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise CodecError("not_utf8", "payload must be bytes")
    b = bytes(payload)
    try:
        text = b.decode("utf-8")
    except UnicodeError:
        raise CodecError("not_utf8", "payload is not UTF-8")
    if _DECODE is None and not _utf8_ok(b):
        raise CodecError("not_utf8", "payload is not UTF-8")
    return text


def json_failure_reason(payload: bytes) -> "tuple[str, str]":
    """(reason, detail) for a payload that another JSON parser (orjson on the server) refused:
    not_utf8, non_finite (NaN, Infinity, or a number that overflows a double) or bad_json."""
    try:
        text = _text(payload)
    except CodecError as exc:
        return exc.reason, exc.detail
    return _scan(text) or ("bad_json", "invalid JSON")


def _loads(payload: object, deep_reason: str) -> object:
    text = _text(payload)
    if _DECODE is None:
        r = _scan(text)
        if r is not None:
            raise CodecError(r[0], r[1])
        return json.loads(text)
    try:
        return _DECODE(text)
    except _NonFinite as exc:
        r = _scan(text)  # for the same detail MicroPython gives
        raise CodecError("non_finite", r[1] if r else str(exc) + " is not a finite number")
    except RecursionError:
        # CPython's parser recurses; MicroPython's does not, and would parse the payload only to find
        # its shape wrong, so (when the syntax is fine) report the shape.
        r = _scan(text)
        raise CodecError(r[0], r[1]) if r else CodecError(deep_reason, "nested too deeply")
    except ValueError:
        r = _scan(text) or ("bad_json", "invalid JSON")
        raise CodecError(r[0], r[1])


# ------------------------------------------------------------------------------------------- telemetry

# name, integer?, lo, hi, decimals on the wire: the table docs/protocol.md prints.
_RSPEC = (
    ("seq", True, 0, SEQ_MAX, 0),
    ("ts", True, TS_MIN, TS_MAX, 0),
    ("p", False, 0.0, P_MAX, 1),
    ("v", False, 0.0, V_MAX, 1),
    ("i", False, 0.0, I_MAX, 3),
    ("pf", False, 0.0, 1.0, 2),
    ("e", False, 0.0, E_MAX, 1),
    ("dim", True, 0, 100, 0),
    ("t", False, T_MIN, T_MAX, 1),
    ("f", True, 0, FLAGS_MAX, 0),
    ("cv", True, 0, CV_MAX, 0),
)
_REQUIRED = 8


def _slow_reading(o: object, tmax: "float | None") -> "Reading":
    # The authority on what a reading is and the source of every rejection reason: fields in
    # READING_KEYS order, and within a field type, then finiteness, then range. The fast path in
    # _reading accepts exactly what this accepts (a property test holds them together).
    if type(o) is not dict:
        raise CodecError("wrong_shape", "a reading must be a JSON object, not " + _jtype(o))
    for k in range(_REQUIRED):
        if _RSPEC[k][0] not in o:
            raise CodecError("missing_key", _RSPEC[k][0] + ": missing")
    extra = [str(k) for k in o if k not in READING_KEYS]
    if extra:
        extra.sort()
        raise CodecError("unknown_key", _show(extra[0]) + " is not a reading key")
    out = []  # type: list[float | None]
    for name, isint, lo, hi, _dec in _RSPEC:
        if name not in o:
            out.append(None)
            continue
        x = o[name]
        if x is None:
            raise CodecError("wrong_type", name + ": null is not allowed; leave the key out")
        if name == "ts" and tmax is not None and type(x) is int and x > tmax:
            raise CodecError("future_timestamp", "ts: " + str(x) + " is further ahead than the allowed skew")
        out.append(_number(name, x, isint, lo, hi, None))
    t, f, cv = out[8], out[9], out[10]
    return (
        int(o["seq"]),
        int(o["ts"]),
        float(o["p"]),
        float(o["v"]),
        float(o["i"]),
        float(o["pf"]),
        float(o["e"]),
        int(o["dim"]),
        None if t is None else float(t),
        None if f is None else int(f),
        None if cv is None else int(cv),
    )


def _reading(o: object, tmax: float) -> "Reading":
    # The hot path of the server's ingestion (100k readings/s): literal bounds, no helper calls and no
    # exceptions for a good reading. Anything unusual falls through to _slow_reading.
    if type(o) is dict:
        try:
            seq = o["seq"]
            ts = o["ts"]
            p = o["p"]
            v = o["v"]
            i = o["i"]
            pf = o["pf"]
            e = o["e"]
            dim = o["dim"]
        except KeyError:
            return _slow_reading(o, tmax)
        tp = type(p)
        tv = type(v)
        ti = type(i)
        tpf = type(pf)
        te = type(e)
        if (
            type(seq) is int
            and type(ts) is int
            and type(dim) is int
            and (tp is float or tp is int)
            and (tv is float or tv is int)
            and (ti is float or ti is int)
            and (tpf is float or tpf is int)
            and (te is float or te is int)
            and 0 <= seq <= 9007199254740991
            and 1577836800 <= ts <= tmax
            and ts <= 4294967295
            and 0 <= dim <= 100
            and 0.0 <= p <= 5000.0
            and 0.0 <= v <= 500.0
            and 0.0 <= i <= 50.0
            and 0.0 <= pf <= 1.0
            and 0.0 <= e <= 4294967295.0
        ):
            n = len(o)
            if n == 8:
                return (seq, ts, float(p), float(v), float(i), float(pf), float(e), dim, None, None, None)
            t = o.get("t")
            f = o.get("f")
            cv = o.get("cv")
            have = 8
            if t is not None:
                tt = type(t)
                if (tt is float or tt is int) and -40.0 <= t <= 125.0:
                    t = float(t)
                    have += 1
                else:
                    have = -1
            if f is not None:
                if type(f) is int and 0 <= f <= 0xFFFFFFFF:
                    have += 1
                else:
                    have = -1
            if cv is not None:
                if type(cv) is int and 0 <= cv <= 2147483647:
                    have += 1
                else:
                    have = -1
            if have == n:
                return (seq, ts, float(p), float(v), float(i), float(pf), float(e), dim, t, f, cv)
    return _slow_reading(o, tmax)


def check_reading(obj: object, now: float, future_s: float = 86400) -> "Reading":
    """One parsed JSON object -> reading tuple in READING_KEYS order (t, f, cv None when absent)."""
    return _reading(obj, now + future_s)


def check_readings(obj: object, now: float, future_s: float = 86400, max_batch: int = 500) -> "list[Reading]":
    """A parsed telemetry payload (one object or an array of objects) -> list of reading tuples."""
    tmax = now + future_s
    if type(obj) is list:
        n = len(obj)
        if n == 0:
            raise CodecError("empty_batch", "batch has no readings")
        if n > max_batch:
            raise CodecError("batch_too_large", "batch has %d readings; the cap is %d" % (n, max_batch))
        out = []
        k = 0
        try:
            for o in obj:
                out.append(_reading(o, tmax))
                k += 1
        except CodecError as exc:
            raise CodecError(exc.reason, "[%d] %s" % (k, exc.detail))
        return out
    if type(obj) is dict:
        return [_reading(obj, tmax)]
    raise CodecError("wrong_shape", "telemetry must be a JSON object or an array of objects, not " + _jtype(obj))


def decode_readings(payload: bytes, now: float, future_s: float = 86400, max_batch: int = 500) -> "list[Reading]":
    """Telemetry payload bytes -> list of reading tuples; CodecError carries the dead-letter reason."""
    return check_readings(_loads(payload, "wrong_shape"), now, future_s, max_batch)


def _norm_reading(r: object) -> "Reading":
    if not isinstance(r, (tuple, list)) or len(r) != 11:
        raise CodecError("wrong_shape", "a reading is a tuple of 11 values in READING_KEYS order")
    d = {}
    for k in range(11):
        x = _as_number(r[k])
        if x is None:
            continue
        name, isint, _lo, _hi, dec = _RSPEC[k]
        if not isint and type(x) is float and x - x == 0.0:
            # Quantised before the range check, so that -0.02 W of meter noise goes out as 0.
            x = _q(x, dec) / _POW10[dec]
        d[name] = x
    return _slow_reading(d, None)


def _reading_text(r: "Reading") -> str:
    s = (
        '{"seq":'
        + str(r[0])
        + ',"ts":'
        + str(r[1])
        + ',"p":'
        + _fmt(r[2], 1)
        + ',"v":'
        + _fmt(r[3], 1)
        + ',"i":'
        + _fmt(r[4], 3)
        + ',"pf":'
        + _fmt(r[5], 2)
        + ',"e":'
        + _fmt(r[6], 1)
        + ',"dim":'
        + str(r[7])
    )
    if r[8] is not None:
        s += ',"t":' + _fmt(r[8], 1)
    if r[9] is not None:
        s += ',"f":' + str(r[9])
    if r[10] is not None:
        s += ',"cv":' + str(r[10])
    return s + "}"


def _fast_text(r: object) -> "str | None":
    # The common case for the simulator and benchmarks (plain ints and non-negative floats inside their
    # ranges) without building a dict; None sends the reading through _norm_reading. Must write exactly
    # what _reading_text(_norm_reading(r)) writes (a property test holds them together).
    if type(r) is not tuple or len(r) != 11:
        return None
    seq, ts, p, v, i, pf, e, dim, t, f, cv = r
    tp = type(p)
    tv = type(v)
    ti = type(i)
    tpf = type(pf)
    te = type(e)
    if not (
        type(seq) is int
        and type(ts) is int
        and type(dim) is int
        and (tp is float or tp is int)
        and (tv is float or tv is int)
        and (ti is float or ti is int)
        and (tpf is float or tpf is int)
        and (te is float or te is int)
        and 0 <= seq <= 9007199254740991
        and 1577836800 <= ts <= 4294967295
        and 0 <= dim <= 100
        and 0.0 <= p <= 5000.0
        and 0.0 <= v <= 500.0
        and 0.0 <= i <= 50.0
        and 0.0 <= pf <= 1.0
        and 0.0 <= e <= 4294967295.0
    ):
        return None
    s = (
        '{"seq":'
        + str(seq)
        + ',"ts":'
        + str(ts)
        + ',"p":'
        + _dec(int(p * 10 + 0.5), 1)
        + ',"v":'
        + _dec(int(v * 10 + 0.5), 1)
        + ',"i":'
        + _dec(int(i * 1000 + 0.5), 3)
        + ',"pf":'
        + _dec(int(pf * 100 + 0.5), 2)
        + ',"e":'
        + _dec(int(e * 10 + 0.5), 1)
        + ',"dim":'
        + str(dim)
    )
    if t is not None:
        tt = type(t)
        if not ((tt is float or tt is int) and -40.0 <= t <= 125.0):
            return None
        s += ',"t":' + _fmt(t, 1)
    if f is not None:
        if not (type(f) is int and 0 <= f <= 0xFFFFFFFF):
            return None
        s += ',"f":' + str(f)
    if cv is not None:
        if not (type(cv) is int and 0 <= cv <= 2147483647):
            return None
        s += ',"cv":' + str(cv)
    return s + "}"


def encode_reading(r: object) -> bytes:
    """One reading tuple -> compact JSON object, values quantised to the wire resolution."""
    s = _fast_text(r)
    return (s if s is not None else _reading_text(_norm_reading(r))).encode()


def encode_readings(rs: object) -> bytes:
    """A list of reading tuples -> a JSON array (a batch, even of one)."""
    if not isinstance(rs, (list, tuple)):
        raise CodecError("wrong_shape", "a batch is a list of reading tuples")
    if not rs:
        raise CodecError("empty_batch", "batch has no readings")
    parts = []
    for r in rs:
        s = _fast_text(r)
        parts.append(s if s is not None else _reading_text(_norm_reading(r)))
    return ("[" + ",".join(parts) + "]").encode()


# ------------------------------------------------------------------------------------------------- ack

ACK_MAX_RANGES = 16


def check_ack(obj: object) -> "tuple[int, list[tuple[int, int]]]":
    """A parsed ack object -> (seq, missing ranges); missing is [] when absent."""
    if type(obj) is not dict:
        raise CodecError("bad_payload", "ack must be a JSON object, not " + _jtype(obj))
    if "seq" not in obj:
        raise _bad("seq", "missing")
    for k in obj:
        if k != "seq" and k != "miss":
            raise CodecError("bad_payload", _show(str(k)) + " is not an ack key")
    seq = _int("seq", obj["seq"], 0, SEQ_MAX)
    missing = []
    if "miss" in obj:
        m = obj["miss"]
        if type(m) is not list or not 0 < len(m) <= ACK_MAX_RANGES:
            raise _bad("miss", "expected an array of 1..%d [first, last] ranges" % ACK_MAX_RANGES)
        prev = seq
        for k in range(len(m)):
            rg = m[k]
            key = "miss[%d]" % k
            if type(rg) is not list or len(rg) != 2:
                raise _bad(key, "expected [first, last]")
            a = _int(key, rg[0], 0, SEQ_MAX)
            b = _int(key, rg[1], 0, SEQ_MAX)
            if not prev < a <= b:
                raise _bad(key, "ranges must be above seq, ascending, disjoint, with first <= last")
            missing.append((a, b))
            prev = b
    return seq, missing


def encode_ack(seq: int, missing: "list[tuple[int, int]] | list[list[int]] | None" = None) -> bytes:
    """The server's watermark for one lamp: every reading with a sequence <= seq is durably stored.
    missing: ranges above seq that the server asks the device to re-send."""
    o = {"seq": seq, "miss": missing} if missing else {"seq": seq}
    seq, ms = check_ack(_plainify(o))
    s = '{"seq":' + str(seq)
    if ms:
        s += ',"miss":[' + ",".join(["[" + str(a) + "," + str(b) + "]" for a, b in ms]) + "]"
    return (s + "}").encode()


def decode_ack(payload: bytes) -> "tuple[int, list[tuple[int, int]]]":
    return check_ack(_loads(payload, "bad_payload"))


# --------------------------------------------------------------------- events, commands, state, config
#
# Field descriptors: ("i", lo, hi) integer; ("n", lo, hi, decimals) number; ("e", choices) enumeration;
# ("fw",) "major.minor.patch"; ("url",); ("x", min, max) lowercase hex of even length; ("h",) health
# map; and the config structures ("loc",), ("prof",), ("cal",), ("ovr",), ("k",). A spec is a tuple of
# (key, descriptor, required) in wire order.

_T_TS = ("i", TS_MIN, TS_MAX)
_T_SEQ = ("i", 0, SEQ_MAX)
_T_CV = ("i", 0, CV_MAX)
_T_FLAGS = ("i", 0, FLAGS_MAX)
_T_E = ("n", 0.0, E_MAX, 1)
_T_LVL = ("i", 0, 100)
_T_FW = ("fw",)

_EV_HEAD = (("ts", _T_TS, True), ("ev", ("e", EVENTS), True))  # type: Spec
_EV_SPECS = {
    "fault": (("f", _T_FLAGS, True), ("on", _T_FLAGS, True), ("off", _T_FLAGS, True)),
    "boot": (("rc", ("e", RESET_CAUSES), True), ("fw", _T_FW, True), ("cv", _T_CV, False)),
    "gasp": (("f", _T_FLAGS, True), ("e", _T_E, True)),
    "cmd": (("id", _T_SEQ, True), ("res", ("e", RESULTS), True), ("now", _T_TS, False)),
    "drop": (("from", _T_SEQ, True), ("to", _T_SEQ, True)),
    "sync": (("seq", _T_SEQ, True), ("e", _T_E, True)),
}  # type: dict[str, Spec]

_CMD_HEAD = (("id", _T_SEQ, True), ("op", ("e", OPS), True), ("exp", _T_TS, True))  # type: Spec
_CMD_SPECS = {
    "level": (("lvl", _T_LVL, True), ("until", _T_TS, True)),
    "resume": (),
    "config": (("cv", _T_CV, True),),
    "reboot": (),
    "identify": (("s", ("i", 1, 3600), True),),
    "time": (("now", _T_TS, True),),
    "ota": (
        ("url", ("url",), True),
        ("size", ("i", 1, 16777216), True),
        ("sha256", ("x", 64, 64), True),
        ("sig", ("x", 2, 512), True),
        ("ver", _T_FW, True),
    ),
    "ping": (),
}  # type: dict[str, Spec]

_STATE_SPEC = (
    ("st", ("e", ("online", "offline")), True),
    ("ts", _T_TS, False),
    ("fw", _T_FW, False),
    ("cv", _T_CV, False),
    ("bearer", ("e", BEARERS), False),
    ("h", ("h",), False),
)  # type: Spec

_CFG_SPEC = (
    ("cv", _T_CV, True),
    ("loc", ("loc",), True),
    ("tz", ("i", -720, 840), True),
    ("prof", ("prof",), True),
    ("cal", ("cal",), False),
    ("ovr", ("ovr",), False),
    ("def", _T_LVL, True),
    ("fb", ("i", 60, 2592000), True),
    ("curve", ("e", CURVES), False),
    ("min", _T_LVL, False),
    ("max", _T_LVL, False),
    ("ri", ("i", 10, 86400), False),
    ("k", ("k",), False),
)  # type: Spec
CFG_MAX_PROFILES = 16
CFG_MAX_STEPS = 10
CFG_MAX_RULES = 64
CFG_MAX_OVERRIDES = 4


def _bad(key: str, msg: str) -> CodecError:
    return CodecError("bad_payload", key + ": " + msg)


def _int(key: str, x: object, lo: int, hi: int) -> int:
    if type(x) is not int:
        raise _bad(key, "expected an integer, got " + _jtype(x))
    if not lo <= x <= hi:
        raise _bad(key, str(x) + (" < " + str(lo) if x < lo else " > " + str(hi)))
    return x


def _float(key: str, x: object, lo: float, hi: float) -> float:
    return float(_number(key, x, False, lo, hi, "bad_payload"))


def _list(key: str, x: object, lo: int, hi: int) -> "list[object]":
    if type(x) is not list:
        raise _bad(key, "expected an array, got " + _jtype(x))
    if not lo <= len(x) <= hi:
        raise _bad(key, "%d items; expected %d..%d" % (len(x), lo, hi))
    return x


def _plain(key: str, x: object, maxlen: int) -> str:
    # Protocol strings are printable ASCII without '"' or '\', so they are written without escapes.
    if type(x) is not str:
        raise _bad(key, "expected a string, got " + _jtype(x))
    if not 0 < len(x) <= maxlen:
        raise _bad(key, "length %d; expected 1..%d" % (len(x), maxlen))
    for c in x:
        if not " " <= c <= "~" or c == '"' or c == "\\":
            raise _bad(key, "only printable ASCII without quotes or backslashes")
    return x


def _fw_parts(s: object) -> "list[int] | None":
    if type(s) is not str:
        return None
    parts = s.split(".")
    if len(parts) != 3:
        return None
    out = []
    for p in parts:
        if not 0 < len(p) <= 3 or not p.isdigit() or int(p) > 255:
            return None
        out.append(int(p))
    return out


def _days(y: int, m: int, d: int) -> int:
    # Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil(z: int) -> "tuple[int, int, int]":
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if m <= 2 else 0), m, d


def _date(key: str, x: object) -> int:
    v = _int(key, x, 0, 20991231)
    if v:
        y, m, d = v // 10000, v // 100 % 100, v % 100
        if not (2020 <= y and 1 <= m <= 12 and 1 <= d and _civil(_days(y, m, d)) == (y, m, d)):
            raise _bad(key, str(v) + " is not a date YYYYMMDD in 2020..2099 (or 0)")
    return v


def _steps(key: str, x: object) -> "list[list[int]]":
    steps = []
    slist = _list(key, x, 1, CFG_MAX_STEPS)
    for j in range(len(slist)):
        sk = key + "[%d]" % j
        st = _list(sk, slist[j], 4, 4)
        anchor = _int(sk + "[0]", st[0], 0, 2)
        if anchor == ANCHOR_CLOCK:
            minutes = _int(sk + "[1]", st[1], 0, 1439)
        else:
            minutes = _int(sk + "[1]", st[1], -720, 720)
        steps.append([anchor, minutes, _int(sk + "[2]", st[2], 0, 100), _int(sk + "[3]", st[3], 0, 4095)])
    return steps


def _value(key: str, x: object, t: "tuple[object, ...]") -> object:
    k = t[0]
    if k == "i":
        return _int(key, x, int(t[1]), int(t[2]))  # type: ignore[call-overload]
    if k == "n":
        return _float(key, x, float(t[1]), float(t[2]))  # type: ignore[arg-type]
    if k == "e":
        choices = t[1]
        if type(x) is str and type(choices) is tuple and x in choices:
            return x
        raise _bad(key, _show(x) + " is not one of " + "|".join(choices))  # type: ignore[arg-type]
    if k == "fw":
        if _fw_parts(x) is None:
            raise _bad(key, _show(x) + ' is not "major.minor.patch" with parts 0..255')
        return x
    if k == "url":
        s = _plain(key, x, 256)
        if not (s.startswith("https://") or s.startswith("http://")) or " " in s:
            raise _bad(key, "expected an http(s) URL without spaces")
        return s
    if k == "x":
        lo = int(t[1])  # type: ignore[call-overload]
        hi = int(t[2])  # type: ignore[call-overload]
        if type(x) is not str or not lo <= len(x) <= hi or len(x) % 2:
            raise _bad(key, "expected %d..%d lowercase hex digits, an even count" % (lo, hi))
        for c in x:
            if c not in "0123456789abcdef":
                raise _bad(key, "expected lowercase hex digits")
        return x
    if k == "h":
        return _health(key, x)
    if k == "loc":
        lst = _list(key, x, 2, 2)
        return [_float(key + "[0]", lst[0], -90.0, 90.0), _float(key + "[1]", lst[1], -180.0, 180.0)]
    if k == "k":
        lst = _list(key, x, 3, 3)
        return [_float(key + "[%d]" % j, lst[j], 0.5, 2.0) for j in range(3)]
    if k == "prof":
        plist = _list(key, x, 1, CFG_MAX_PROFILES)
        return [_steps(key + "[%d]" % j, plist[j]) for j in range(len(plist))]
    if k == "cal":
        rules = []
        rlist = _list(key, x, 0, CFG_MAX_RULES)
        for j in range(len(rlist)):
            rk = key + "[%d]" % j
            r = _list(rk, rlist[j], 4, 4)
            prof = _int(rk + "[0]", r[0], 0, CFG_MAX_PROFILES - 1)
            mask = _int(rk + "[1]", r[1], 1, 127)
            lo = _date(rk + "[2]", r[2])
            hi = _date(rk + "[3]", r[3])
            if lo and hi and lo > hi:
                raise _bad(rk, "the date range starts after it ends")
            rules.append([prof, mask, lo, hi])
        return rules
    if k == "ovr":
        ovrs = []
        olist = _list(key, x, 0, CFG_MAX_OVERRIDES)
        for j in range(len(olist)):
            ok = key + "[%d]" % j
            ov = _list(ok, olist[j], 3, 3)
            lvl = _int(ok + "[0]", ov[0], 0, 100)
            start = _int(ok + "[1]", ov[1], TS_MIN, TS_MAX)
            until = _int(ok + "[2]", ov[2], TS_MIN, TS_MAX)
            if until <= start:
                raise _bad(ok, "the override must end after it starts")
            ovrs.append([lvl, start, until])
        return ovrs
    raise _bad(key, "unknown descriptor")  # a bug in the spec tables


def _health(key: str, x: object) -> "dict[str, object]":
    if type(x) is not dict:
        raise _bad(key, "expected an object, got " + _jtype(x))
    if len(x) > 32:
        raise _bad(key, "more than 32 entries")
    out = {}  # type: dict[str, object]
    for name in x:
        if not valid_id(name):
            raise _bad(key, _show(name) + " is not [A-Za-z0-9_-]{1,32}")
        v = x[name]
        hk = key + "." + str(name)
        if type(v) is bool:
            out[name] = v
        elif type(v) is int:
            out[name] = _int(hk, v, -SEQ_MAX, SEQ_MAX)
        elif type(v) is float:
            out[name] = _float(hk, v, -1e15, 1e15)
        elif type(v) is str:
            out[name] = _plain(hk, v, 64)
        else:
            raise _bad(hk, "expected a boolean, number or string, got " + _jtype(v))
    return out


def _check_obj(o: object, what: str, spec: "Spec") -> "Obj":
    if type(o) is not dict:
        raise CodecError("bad_payload", what + " must be a JSON object, not " + _jtype(o))
    out = {}  # type: dict[str, object]
    for key, t, req in spec:
        if key in o:
            out[key] = _value(key, o[key], t)
        elif req:
            raise _bad(key, "missing")
    if len(out) != len(o):
        extra = [str(k) for k in o if k not in out]
        extra.sort()
        raise CodecError("bad_payload", _show(extra[0]) + " is not a key of " + what)
    return out


def _enc_value(x: object, t: "tuple[object, ...]") -> str:
    k = t[0]
    if type(x) is bool:
        return "true" if x else "false"
    if type(x) is int:
        return str(x)
    if type(x) is float:
        return _fmt(x, int(t[3]) if k == "n" else 3)  # type: ignore[call-overload]
    if type(x) is str:
        return '"' + x + '"'
    if type(x) is list:
        if k == "loc":
            return "[" + ",".join([_fmt(v, 5) for v in x]) + "]"
        if k == "k":
            return "[" + ",".join([_fmt(v, 4) for v in x]) + "]"
        return "[" + ",".join([_enc_value(v, t) for v in x]) + "]"
    if type(x) is dict:
        names = [str(n) for n in x]
        names.sort()  # health maps: sorted keys, the same order on both runtimes
        return "{" + ",".join(['"' + n + '":' + _enc_value(x[n], t) for n in names]) + "}"
    raise _bad("?", "cannot encode " + _jtype(x))


def _enc_obj(o: "Obj", spec: "Spec") -> bytes:
    parts = []
    for key, t, _req in spec:
        if key in o:
            parts.append('"' + key + '":' + _enc_value(o[key], t))
    return ("{" + ",".join(parts) + "}").encode()


def _gi(o: "Obj", key: str) -> int:
    # Typed access to a field a check_* function has already validated as an integer.
    v = o[key]
    if type(v) is not int:
        raise _bad(key, "expected an integer")
    return v


def _gf(o: "Obj", key: str) -> float:
    v = o[key]
    if type(v) is not float and type(v) is not int:
        raise _bad(key, "expected a number")
    return float(v)


# Events


def _event_spec(o: object) -> "Spec":
    if type(o) is not dict:
        raise CodecError("bad_payload", "event must be a JSON object, not " + _jtype(o))
    ev = o.get("ev")
    if type(ev) is not str or ev not in _EV_SPECS:
        raise _bad("ev", _show(ev) + " is not one of " + "|".join(EVENTS))
    return _EV_HEAD + _EV_SPECS[ev]


def check_event(obj: object) -> "Obj":
    """A parsed event object -> normalised dict; CodecError("bad_payload") names the field."""
    out = _check_obj(obj, "event", _event_spec(obj))
    if out["ev"] == "fault":
        f = _gi(out, "f")
        if _gi(out, "on") & ~f or _gi(out, "off") & f or _gi(out, "on") & _gi(out, "off"):
            raise _bad("on", "raised flags must be set in f, cleared flags clear in f")
    elif out["ev"] == "drop" and _gi(out, "from") > _gi(out, "to"):
        raise _bad("from", "from must be <= to")
    return out


def encode_event(ev: object) -> bytes:
    o = _plainify(ev)
    return _enc_obj(check_event(o), _event_spec(o))


def decode_event(payload: bytes) -> "Obj":
    return check_event(_loads(payload, "bad_payload"))


def cmd_outcome(cmd_id: int, res: str, ts: int, now: "int | None" = None) -> bytes:
    """The event a device publishes for a command's outcome (now: its clock, answering ping)."""
    ev = {"ts": ts, "ev": "cmd", "id": cmd_id, "res": res}  # type: dict[str, object]
    if now is not None:
        ev["now"] = now
    return encode_event(ev)


# Commands


def _cmd_spec(o: object) -> "Spec":
    if type(o) is not dict:
        raise CodecError("bad_payload", "cmd must be a JSON object, not " + _jtype(o))
    op = o.get("op")
    if type(op) is not str or op not in _CMD_SPECS:
        raise _bad("op", _show(op) + " is not one of " + "|".join(OPS))
    return _CMD_HEAD + _CMD_SPECS[op]


def check_cmd(obj: object) -> "Obj":
    """A parsed command object -> normalised dict."""
    return _check_obj(obj, "cmd", _cmd_spec(obj))


def encode_cmd(cmd: object) -> bytes:
    o = _plainify(cmd)
    return _enc_obj(check_cmd(o), _cmd_spec(o))


def decode_cmd(payload: bytes) -> "Obj":
    return check_cmd(_loads(payload, "bad_payload"))


# State


def check_state(obj: object) -> "Obj":
    """A parsed state object (lamp or gateway) -> normalised dict."""
    return _check_obj(obj, "state", _STATE_SPEC)


def encode_state(st: object) -> bytes:
    return _enc_obj(check_state(_plainify(st)), _STATE_SPEC)


def decode_state(payload: bytes) -> "Obj":
    return check_state(_loads(payload, "bad_payload"))


# Config


def check_config(obj: object) -> "Obj":
    """A parsed config object -> normalised dict with every optional key filled with its default."""
    out = _check_obj(obj, "config", _CFG_SPEC)
    for key, default in (("curve", "lin"), ("min", 0), ("max", 100), ("ri", 300)):
        if key not in out:
            out[key] = default
    for key in ("cal", "ovr"):
        if key not in out:
            out[key] = []
    if "k" not in out:
        out["k"] = [1.0, 1.0, 1.0]
    if _gi(out, "min") > _gi(out, "max"):
        raise _bad("min", "min must be <= max")
    nprof = len(_cfg_profiles(out))
    rules = _cfg_rules(out)
    for j in range(len(rules)):
        if rules[j][0] >= nprof:
            raise _bad("cal[%d][0]" % j, "profile %d does not exist" % rules[j][0])
    return out


def _cfg_profiles(cfg: "Obj") -> "list[list[list[int]]]":
    return cfg["prof"]  # type: ignore[return-value]  # shaped by _value("prof")


def _cfg_rules(cfg: "Obj") -> "list[list[int]]":
    return cfg["cal"]  # type: ignore[return-value]  # shaped by _value("cal")


def _cfg_overrides(cfg: "Obj") -> "list[list[int]]":
    return cfg["ovr"]  # type: ignore[return-value]  # shaped by _value("ovr")


def encode_config(cfg: object) -> bytes:
    """The full config, every key present, in the spec's key order."""
    return _enc_obj(check_config(_plainify(cfg)), _CFG_SPEC)


def decode_config(payload: bytes) -> "Obj":
    return check_config(_loads(payload, "bad_payload"))


# ------------------------------------------------------------------------------------------------ LoRa
#
# Bit-packed big-endian frames (docs/protocol.md, "LoRa frames"). Sequence, time and energy travel as
# their low bits; the receiver rebuilds full values from what it knows (LoraRef) within stated windows.


class LoraRef:
    """What a LoRa receiver knows about one device, to rebuild the bits a frame leaves out.

    rx: receive time of the frame being decoded (Unix s, receiver's clock). seq: highest full sequence
    known (from readings, a sync alarm or the server's ack), -1 when unknown. e: the energy counter in
    Wh at that sequence, -1 when unknown. f: last full flags. cv: config version last reported.
    cmd_ids: full ids of commands sent to the device, newest last (outcomes carry the low 16 bits).
    """

    def __init__(
        self,
        rx: int = 0,
        seq: int = -1,
        e: int = -1,
        f: int = 0,
        cv: "int | None" = None,
        cmd_ids: "list[int] | None" = None,
    ) -> None:
        self.rx = rx
        self.seq = seq
        self.e = e
        self.f = f
        self.cv = cv
        self.cmd_ids = cmd_ids if cmd_ids is not None else []

    def update(self, kind: str, readings: "list[Reading]", obj: "Obj | None") -> None:
        """Learn from a decoded frame (decode_lora's return value, unpacked)."""
        for r in readings:
            if r[0] > self.seq:
                self.seq = r[0]
                self.e = int(r[6])
                if r[9] is not None:
                    self.f = r[9]
        if obj is None:
            return
        if kind == KIND_STATE:
            if "cv" in obj:
                self.cv = _gi(obj, "cv")
            return
        ev = obj.get("ev")
        if ev == "sync":
            self.seq = _gi(obj, "seq")
            self.e = int(_gf(obj, "e"))
        elif ev == "fault":
            self.f = _gi(obj, "f")
        elif ev == "gasp":
            self.f = _gi(obj, "f")
            self.e = int(_gf(obj, "e"))
        elif ev == "boot" and "cv" in obj:
            self.cv = _gi(obj, "cv")

    def note_ack(self, seq: int) -> None:
        """The server's watermark is a full sequence: learn it when the device is that far."""
        if seq > self.seq:
            self.seq = seq


def _near(low: int, bits: int, ref: int, behind: int) -> int:
    # The value congruent to `low` modulo 2**bits in the window (ref - behind, ref - behind + 2**bits].
    m = 1 << bits
    top = ref - behind + m
    return top - ((top - low) % m)


def _seq_from(low: int, bits: int, ref: "LoraRef") -> int:
    # 12-bit: window (ref - 1024, ref + 3072]; 32-bit: (ref - 2**31, ref + 2**31], or as sent when
    # nothing is known (a device does not reach 2**32 readings).
    if ref.seq < 0:
        if bits >= 32:
            return low
        raise CodecError("no_reference", "no full sequence known for this device; ask it to sync")
    s = _near(low, bits, ref.seq, 1 << (bits - 2) if bits < 32 else 1 << 31)
    while s < 0:
        s += 1 << bits
    return s


def _lora_norm(r: object) -> "tuple[Reading, float, float, float, float]":
    # The validated reading, and p, v, pf, e as given: LoRa codes are rounded once from the measured
    # values, not from values already rounded to the JSON resolution.
    x = _norm_reading(r)
    raw = [_as_number(r[k]) for k in (2, 3, 5, 6)]  # type: ignore[index]
    p, v, pf, e = [max(float(c), 0.0) if type(c) is float or type(c) is int else 0.0 for c in raw]
    return x, p, v, pf, e


def _lora_codes(p: float, v: float, pf: float) -> "tuple[int, int, int]":
    # Saturating: a value above the LoRa range is sent as the top code (the spec says "at least").
    return min(_q(p * 2, 0), 4095), min(_q(v * 2, 0), 1023), min(_q(pf, 2), 100)


def _derive_i(p: float, v: float, pf: float) -> float:
    # i is not sent over LoRa: apparent power is p / pf, so i = p / (v * pf).
    if v <= 0.0 or pf <= 0.0:
        return 0.0
    return min(_q(p / (v * pf), 3) / 1000, I_MAX)


def encode_lora_reading(r: object) -> bytes:
    """A reading -> the 11-byte LoRa core frame (type 0)."""
    x, p, v, pf, e = _lora_norm(r)
    p2, v2, pf100 = _lora_codes(p, v, pf)
    acc = LORA_READING
    acc = (acc << 12) | (x[0] & 0xFFF)
    acc = (acc << 12) | (x[1] & 0xFFF)
    acc = (acc << 7) | x[7]
    acc = (acc << 8) | ((x[9] or 0) & 0xFF)
    acc = (acc << 12) | p2
    acc = (acc << 10) | v2
    acc = (acc << 7) | pf100
    acc = (acc << 16) | (_q(e, 0) & 0xFFFF)
    return acc.to_bytes(11, "big")


def encode_lora_batch(rs: object, max_len: int = 242) -> "list[bytes]":
    """Readings -> LoRa batch frames (type 2) of at most max_len bytes, for faster data rates.
    A new frame starts where sequences are not consecutive or a delta does not fit its field."""
    if max_len < 24:
        raise CodecError("bad_payload", "max_len must allow one entry (24 bytes)")
    if not isinstance(rs, (list, tuple)) or not rs:
        raise CodecError("empty_batch", "batch has no readings")
    per = min((max_len - 14) // 10, 255)
    groups = []
    cur = []  # type: list[tuple[Reading, int, int, int, int]]
    for r in rs:
        x, p, v, pf, e = _lora_norm(r)
        p2, v2, pf100 = _lora_codes(p, v, pf)
        item = (x, p2, v2, pf100, _q(e, 0))
        if cur:
            last = cur[-1]
            dts = x[1] - last[0][1]
            de = item[4] - last[4]
            if x[0] != last[0][0] + 1 or not -32768 <= dts <= 32767 or not 0 <= de <= 65535 or len(cur) >= per:
                groups.append(cur)
                cur = []
        cur.append(item)
    groups.append(cur)
    frames = []
    for g in groups:
        first = g[0]
        out = bytes([LORA_BATCH << 4, len(g)]) + struct.pack(">III", first[0][0] & 0xFFFFFFFF, first[0][1], first[4])
        prev = first
        for item in g:
            x = item[0]
            acc = (x[1] - prev[0][1]) & 0xFFFF
            acc = (acc << 7) | x[7]
            acc = (acc << 12) | ((x[9] or 0) & 0xFFF)
            acc = (acc << 12) | item[1]
            acc = (acc << 10) | item[2]
            acc = (acc << 7) | item[3]
            acc = (acc << 16) | (item[4] - prev[4])
            out += acc.to_bytes(10, "big")
            prev = item
        frames.append(out)
    return frames


def _fw3(s: object) -> bytes:
    return bytes(_fw_parts(s) or [0, 0, 0])


_LORA_STATE_EV = 6


def encode_lora_alarm(ev: object) -> bytes:
    """An event -> the 11-byte LoRa alarm frame (type 1): [type|event][ts low 16][8-byte body]."""
    o = check_event(_plainify(ev))
    name = str(o["ev"])
    if name == "fault":
        changed = (_gi(o, "on") | _gi(o, "off")) & 0xFFFFFF
        body = (_gi(o, "f") & 0xFFFFFF).to_bytes(3, "big") + changed.to_bytes(3, "big") + b"\0\0"
    elif name == "boot":
        cv = _gi(o, "cv") if "cv" in o else 0xFFFFFFFF
        body = bytes([RESET_CAUSES.index(str(o["rc"]))]) + _fw3(o["fw"]) + struct.pack(">I", cv)
    elif name == "gasp":
        body = (_gi(o, "f") & 0xFFFFFF).to_bytes(3, "big") + struct.pack(">I", _q(_gf(o, "e"), 0)) + b"\0"
    elif name == "cmd":
        now = _gi(o, "now") if "now" in o else 0
        body = struct.pack(">HBI", _gi(o, "id") & 0xFFFF, RESULTS.index(str(o["res"])), now) + b"\0"
    elif name == "drop":
        body = struct.pack(">II", _gi(o, "from") & 0xFFFFFFFF, _gi(o, "to") & 0xFFFFFFFF)
    else:
        body = struct.pack(">II", _gi(o, "seq") & 0xFFFFFFFF, _q(_gf(o, "e"), 0))
    return bytes([LORA_ALARM << 4 | EVENTS.index(name)]) + struct.pack(">H", _gi(o, "ts") & 0xFFFF) + body


def encode_lora_state(st: object) -> bytes:
    """A device's online state (fw, cv, bearer; ts required) -> 11-byte alarm frame, event code 6."""
    o = check_state(_plainify(st))
    if o["st"] != "online" or "ts" not in o:
        raise _bad("st", "only an online state with ts travels over LoRa")
    cv = _gi(o, "cv") if "cv" in o else 0xFFFFFFFF
    fw = _fw3(o["fw"]) if "fw" in o else b"\0\0\0"
    bearer = BEARERS.index(str(o["bearer"])) if "bearer" in o else 0xFF
    head = bytes([LORA_ALARM << 4 | _LORA_STATE_EV]) + struct.pack(">H", _gi(o, "ts") & 0xFFFF)
    return head + struct.pack(">I", cv) + fw + bytes([bearer])


def _lora_reading(
    seq: int, ts: int, dim: int, f: int, p2: int, v2: int, pf100: int, e: int, ref: "LoraRef"
) -> "Reading":
    if dim > 100 or pf100 > 100:
        raise CodecError("bad_frame", "dim or pf code above 100")
    if not TS_MIN <= ts <= TS_MAX or not 0 <= e <= E_MAX:
        raise CodecError("bad_frame", "timestamp or energy out of range")
    p = p2 / 2
    v = v2 / 2
    pf = pf100 / 100
    return (seq, ts, p, v, _derive_i(p, v, pf), pf, float(e), dim, None, f, ref.cv)


def _frame_event(ev: "Obj") -> "Obj":
    # A frame whose fields decode but break a rule is a bad frame, not a bad payload.
    try:
        return check_event(ev)
    except CodecError as exc:
        raise CodecError("bad_frame", exc.detail)


def _frame_state(st: "Obj") -> "Obj":
    try:
        return check_state(st)
    except CodecError as exc:
        raise CodecError("bad_frame", exc.detail)


def decode_lora(frame: bytes, ref: "LoraRef") -> "tuple[str, list[Reading], Obj | None]":
    """An uplink LoRa frame -> (kind, readings, obj): (KIND_TELEMETRY, readings, None),
    (KIND_EVENT, [], event) or (KIND_STATE, [], state). CodecError("bad_frame") for bytes that are not
    a frame; CodecError("no_reference") when ref lacks the sequence or energy a reading is rebuilt from
    (ask the device to sync: any command makes it send a sync alarm)."""
    if not isinstance(frame, (bytes, bytearray, memoryview)):
        raise CodecError("bad_frame", "a frame is bytes")
    b = bytes(frame)
    n = len(b)
    if n == 0:
        raise CodecError("bad_frame", "empty frame")
    ftype = b[0] >> 4
    if ftype == LORA_READING:
        if n != 11:
            raise CodecError("bad_frame", "a reading frame is 11 bytes, not %d" % n)
        x = int.from_bytes(b, "big")
        if ref.e < 0:
            raise CodecError("no_reference", "no energy counter known for this device; ask it to sync")
        seq = _seq_from(x >> 72 & 0xFFF, 12, ref)
        # A reading leaves the device at most ~64 min after it was taken; the device clock may run up
        # to 256 s ahead of the receiver's.
        ts = _near(x >> 60 & 0xFFF, 12, ref.rx + 256, 4096)
        e = _near(x & 0xFFFF, 16, ref.e, 4096)
        while e < 0:
            e += 65536
        f = (ref.f & ~0xFF) | (x >> 45 & 0xFF)
        r = _lora_reading(seq, ts, x >> 53 & 0x7F, f, x >> 33 & 0xFFF, x >> 23 & 0x3FF, x >> 16 & 0x7F, e, ref)
        return KIND_TELEMETRY, [r], None
    if ftype == LORA_BATCH:
        if b[0] & 0xF or n < 24 or (n - 14) % 10 or b[1] != (n - 14) // 10:
            raise CodecError("bad_frame", "batch frame of %d bytes does not match its count" % n)
        seq0, ts, e = struct.unpack(">III", b[2:14])
        seq = _seq_from(seq0, 32, ref)
        out = []
        for k in range(b[1]):
            x = int.from_bytes(b[14 + 10 * k : 24 + 10 * k], "big")
            dts = x >> 64 & 0xFFFF
            de = x & 0xFFFF
            if k == 0 and (dts or de):
                raise CodecError("bad_frame", "the first batch entry carries no deltas")
            ts += dts - 65536 if dts >= 32768 else dts
            e += de
            f = (ref.f & ~0xFFF) | (x >> 45 & 0xFFF)
            out.append(
                _lora_reading(seq + k, ts, x >> 57 & 0x7F, f, x >> 33 & 0xFFF, x >> 23 & 0x3FF, x >> 16 & 0x7F, e, ref)
            )
        return KIND_TELEMETRY, out, None
    if ftype == LORA_ALARM:
        if n != 11:
            raise CodecError("bad_frame", "an alarm frame is 11 bytes, not %d" % n)
        code = b[0] & 0xF
        # Alarms may wait out a duty-cycle backlog; the device clock may run up to 600 s ahead.
        ts = _near(struct.unpack(">H", b[1:3])[0], 16, ref.rx + 600, 65536)
        body = b[3:]
        if code == _LORA_STATE_EV:
            st = {"st": "online", "ts": ts}  # type: dict[str, object]
            cv = struct.unpack(">I", body[0:4])[0]
            if cv != 0xFFFFFFFF:
                st["cv"] = cv
            if body[4:7] != b"\0\0\0":
                st["fw"] = "%d.%d.%d" % (body[4], body[5], body[6])
            if body[7] != 0xFF:
                if body[7] >= len(BEARERS):
                    raise CodecError("bad_frame", "unknown bearer code %d" % body[7])
                st["bearer"] = BEARERS[body[7]]
            return KIND_STATE, [], _frame_state(st)
        if code >= len(EVENTS):
            raise CodecError("bad_frame", "unknown alarm code %d" % code)
        name = EVENTS[code]
        ev = {"ts": ts, "ev": name}  # type: dict[str, object]
        if name == "fault":
            f = int.from_bytes(body[0:3], "big")
            changed = int.from_bytes(body[3:6], "big")
            ev["f"] = (ref.f & ~0xFFFFFF) | f
            ev["on"] = changed & f
            ev["off"] = changed & ~f
        elif name == "boot":
            if body[0] >= len(RESET_CAUSES):
                raise CodecError("bad_frame", "unknown reset cause code %d" % body[0])
            ev["rc"] = RESET_CAUSES[body[0]]
            ev["fw"] = "%d.%d.%d" % (body[1], body[2], body[3])
            cv = struct.unpack(">I", body[4:8])[0]
            if cv != 0xFFFFFFFF:
                ev["cv"] = cv
        elif name == "gasp":
            ev["f"] = (ref.f & ~0xFFFFFF) | int.from_bytes(body[0:3], "big")
            ev["e"] = float(struct.unpack(">I", body[3:7])[0])
        elif name == "cmd":
            cid, res, now = struct.unpack(">HBI", body[0:7])
            if res >= len(RESULTS):
                raise CodecError("bad_frame", "unknown result code %d" % res)
            for full in reversed(ref.cmd_ids):
                if full & 0xFFFF == cid:
                    cid = full
                    break
            ev["id"] = cid
            ev["res"] = RESULTS[res]
            if now:
                ev["now"] = now
        elif name == "drop":
            a, z = struct.unpack(">II", body)
            ev["from"] = _seq_from(a, 32, ref)
            ev["to"] = _seq_from(z, 32, ref)
        else:
            s, e = struct.unpack(">II", body)
            ev["seq"] = s  # a sync is the authority on the sequence, not rebuilt
            ev["e"] = float(e)
        return KIND_EVENT, [], _frame_event(ev)
    raise CodecError("bad_frame", "frame type %d is not an uplink" % ftype)


# Downlinks

_LORA_OPS = ("level", "resume", "config", "reboot", "identify", "time", "ping")
_LORA_CMD_LEN = {"level": 6, "config": 7, "identify": 5, "time": 7}


def encode_lora_cmd(cmd: object, now: int) -> bytes:
    """A command -> LoRa downlink (type 8): [type|op][id low 16][args]. `now` is the gateway's transmit
    time: a level override's end goes as minutes from it. ota does not travel over LoRa."""
    o = check_cmd(_plainify(cmd))
    op = str(o["op"])
    if op not in _LORA_OPS:
        raise _bad("op", op + " is not available over LoRa")
    out = bytes([LORA_CMD << 4 | (_LORA_OPS.index(op) + 1)]) + struct.pack(">H", _gi(o, "id") & 0xFFFF)
    if op == "level":
        left = _gi(o, "until") - now
        if left <= 0:
            raise _bad("until", "the override has already ended")
        out += bytes([_gi(o, "lvl")]) + struct.pack(">H", min((left + 59) // 60, 65535))
    elif op == "config":
        out += struct.pack(">I", _gi(o, "cv"))
    elif op == "identify":
        out += struct.pack(">H", _gi(o, "s"))
    elif op == "time":
        out += struct.pack(">I", _gi(o, "now"))
    return out


def encode_lora_ack(seq: int, missing: "list[tuple[int, int]] | list[list[int]] | None" = None) -> bytes:
    """The watermark as a LoRa downlink (type 10): [0xA0][seq low 32], plus, when the server asks for a
    re-send, the first missing range as [first low 32][count u16] (11 bytes)."""
    seq, ms = check_ack(_plainify({"seq": seq, "miss": missing} if missing else {"seq": seq}))
    out = bytes([LORA_ACK << 4]) + struct.pack(">I", seq & 0xFFFFFFFF)
    if ms:
        a, z = ms[0]
        out += struct.pack(">IH", a & 0xFFFFFFFF, min(z - a + 1, 65535))
    return out


def decode_lora_downlink(frame: bytes, now: int, seq_ref: int) -> "tuple[str, Obj]":
    """A downlink frame, on the device -> (KIND_CMD, cmd), (KIND_ACK, {"seq", "miss"}) or (KIND_CONFIG,
    the delta's header {"frag", "more", "full", "base", "cv"}; collect the fragments for
    apply_config_delta). seq_ref: the device's newest sequence, to rebuild 32-bit sequences. Commands
    get exp = now + 60: LoRa delivers them fresh or not at all."""
    if not isinstance(frame, (bytes, bytearray, memoryview)) or not len(frame):
        raise CodecError("bad_frame", "empty frame")
    b = bytes(frame)
    ftype = b[0] >> 4
    if ftype == LORA_CMD:
        code = b[0] & 0xF
        if not 1 <= code <= len(_LORA_OPS):
            raise CodecError("bad_frame", "unknown command code %d" % code)
        op = _LORA_OPS[code - 1]
        want = _LORA_CMD_LEN.get(op, 3)
        if len(b) != want:
            raise CodecError("bad_frame", "a %s command is %d bytes, not %d" % (op, want, len(b)))
        cmd = {"id": struct.unpack(">H", b[1:3])[0], "op": op, "exp": now + 60}  # type: dict[str, object]
        if op == "level":
            cmd["lvl"] = b[3]
            cmd["until"] = now + 60 * struct.unpack(">H", b[4:6])[0]
        elif op == "config":
            cmd["cv"] = struct.unpack(">I", b[3:7])[0]
        elif op == "identify":
            cmd["s"] = struct.unpack(">H", b[3:5])[0]
        elif op == "time":
            cmd["now"] = struct.unpack(">I", b[3:7])[0]
        try:
            return KIND_CMD, check_cmd(cmd)
        except CodecError as exc:
            raise CodecError("bad_frame", exc.detail)
    if ftype == LORA_ACK:
        if b[0] & 0xF or (len(b) != 5 and len(b) != 11):
            raise CodecError("bad_frame", "an ack frame is 5 or 11 bytes")
        ref = LoraRef(seq=seq_ref)
        ack = {"seq": _seq_from(struct.unpack(">I", b[1:5])[0], 32, ref)}  # type: dict[str, object]
        if len(b) == 11:
            a, count = struct.unpack(">IH", b[5:11])
            a = _seq_from(a, 32, ref)
            ack["miss"] = [[a, a + count - 1]]
        try:
            s, ms = check_ack(ack)
        except CodecError as exc:
            raise CodecError("bad_frame", exc.detail)
        return KIND_ACK, {"seq": s, "miss": [[a, z] for a, z in ms]}
    if ftype == LORA_CONFIG:
        frag, more, full, base, cv = _delta_header(b)
        return KIND_CONFIG, {"frag": frag, "more": more, "full": full, "base": base, "cv": cv}
    raise CodecError("bad_frame", "frame type %d is not a downlink" % ftype)


# Config deltas: [0x90][flags: 0x80 more fragments follow, 0x40 full (no base), fragment index in the
# low 6 bits][base cv low 16][new cv u32], then operations. A change too big for one frame is split into
# fragments that the device applies together or not at all.

_DELTA_HEAD = 8
_SCALARS = (
    ("def", ">B"),
    ("fb", ">I"),
    ("curve", ">B"),
    ("min", ">B"),
    ("max", ">B"),
    ("ri", ">I"),
    ("tz", ">h"),
    ("loc", ">ii"),
    ("k", ">HHH"),
)
_DAY0 = 18261  # _days(2020, 1, 1) - 1: a LoRa date is days since 2019-12-31, 0 meaning "open"


def _delta_header(b: bytes) -> "tuple[int, bool, bool, int, int]":
    if len(b) < _DELTA_HEAD or b[0] != LORA_CONFIG << 4:
        raise CodecError("bad_frame", "not a config delta frame")
    base, cv = struct.unpack(">HI", b[2:8])
    if cv > CV_MAX:
        raise CodecError("bad_frame", "config version out of range")
    return b[1] & 0x3F, bool(b[1] & 0x80), bool(b[1] & 0x40), base, cv


def _date_code(x: int) -> int:
    return _days(x // 10000, x // 100 % 100, x % 100) - _DAY0 if x else 0


def _date_from(code: int) -> int:
    if not code:
        return 0
    y, m, d = _civil(code + _DAY0)
    return y * 10000 + m * 100 + d


def _scalar_op(k: int, cfg: "Obj") -> bytes:
    key, fmt = _SCALARS[k]
    v = cfg[key]
    if key == "curve":
        vals = [CURVES.index(str(v))]
    elif type(v) is list:  # loc and k
        vals = [_q(float(c), 5 if key == "loc" else 4) for c in v]
    else:
        vals = [_gi(cfg, key)]
    return bytes([0x30 | k]) + struct.pack(fmt, *vals)


def encode_config_delta(old: object, new: object, max_len: int = LORA_DELTA_MAX) -> "list[bytes]":
    """The change from config `old` (None: the device has nothing usable) to `new`, as LoRa downlink
    fragments of at most max_len bytes; send them in order, the device applies all of them or none."""
    if max_len < LORA_DELTA_MAX:
        raise CodecError("bad_payload", "max_len must be at least %d" % LORA_DELTA_MAX)
    nw = check_config(_plainify(new))
    od = None if old is None else check_config(_plainify(old))
    room = max_len - _DELTA_HEAD
    ops = []
    pn = _cfg_profiles(nw)
    po = [] if od is None else _cfg_profiles(od)
    for j in range(len(pn)):
        if j >= len(po) or po[j] != pn[j]:
            op = bytes([0x10 | j, len(pn[j])])
            for a, m, lvl, fade in pn[j]:
                # Clock minutes 0..1439 as they are; sun offsets -720..720 biased by 1024.
                op += struct.pack(">I", a << 30 | (m if a == ANCHOR_CLOCK else m + 1024) << 19 | lvl << 12 | fade)
            ops.append(op)
    if len(pn) < len(po):
        ops.append(bytes([0x10 | len(pn), 0]))
    # Calendar rules are packed last-minute, so that they fill whatever room a fragment has left.
    cn = _cfg_rules(nw)
    co = [] if od is None else _cfg_rules(od)
    start = 0
    while start < len(cn) and start < len(co) and cn[start] == co[start]:
        start += 1
    rules = []
    for j in range(start, len(cn)):
        prof, mask, lo, hi = cn[j]
        rules.append(struct.pack(">HHH", prof << 7 | mask, _date_code(lo), _date_code(hi)))
    if not rules and len(co) > len(cn):
        ops.append(bytes([0x20, start, 0]))  # only truncate
    for k in range(len(_SCALARS)):
        key = _SCALARS[k][0]
        if od is None or od[key] != nw[key]:
            ops.append(_scalar_op(k, nw))
    ovr = _cfg_overrides(nw)
    if (od is None and ovr) or (od is not None and _cfg_overrides(od) != ovr):
        op = bytes([0x40, len(ovr)])
        for lvl, t0, t1 in ovr:
            op += struct.pack(">BII", lvl, t0, t1)
        ops.append(op)
    bodies = [b""]
    for op in ops:
        if len(bodies[-1]) + len(op) > room:
            bodies.append(b"")
        bodies[-1] += op
    j = 0
    while j < len(rules):
        if len(bodies[-1]) + 9 > room:
            bodies.append(b"")
        n = min((room - len(bodies[-1]) - 3) // 6, len(rules) - j)
        bodies[-1] += bytes([0x20, start + j, n]) + b"".join(rules[j : j + n])
        j += n
    if len(bodies) > 64:
        raise CodecError("bad_payload", "the config change needs more than 64 LoRa fragments")
    base = 0 if od is None else _gi(od, "cv") & 0xFFFF
    frames = []
    for j in range(len(bodies)):
        flags = j | (0x80 if j < len(bodies) - 1 else 0) | (0x40 if od is None else 0)
        frames.append(bytes([LORA_CONFIG << 4, flags]) + struct.pack(">HI", base, _gi(nw, "cv")) + bodies[j])
    return frames


def _need(b: bytes, i: int, k: int) -> None:
    if i + k > len(b):
        raise CodecError("bad_frame", "config delta ends inside an operation")


def _apply_ops(w: "dict[str, object]", b: bytes) -> None:
    i = _DELTA_HEAD
    n = len(b)
    while i < n:
        op = b[i]
        i += 1
        hi = op >> 4
        lo = op & 0xF
        if hi == 1:
            _need(b, i, 1)
            count = b[i]
            i += 1
            _need(b, i, 4 * count)
            prof = _cfg_profiles(w)
            if lo > len(prof):
                raise CodecError("bad_frame", "profile %d would leave a gap" % lo)
            if count == 0:
                w["prof"] = prof[:lo]
                continue
            steps = []
            for _ in range(count):
                u = struct.unpack(">I", b[i : i + 4])[0]
                a = u >> 30
                m = u >> 19 & 0x7FF
                steps.append([a, m if a == ANCHOR_CLOCK else m - 1024, u >> 12 & 0x7F, u & 0xFFF])
                i += 4
            if lo == len(prof):
                prof.append(steps)
            else:
                prof[lo] = steps
        elif op == 0x20:
            _need(b, i, 2)
            start = b[i]
            count = b[i + 1]
            i += 2
            _need(b, i, 6 * count)
            cal = _cfg_rules(w)
            if start > len(cal):
                raise CodecError("bad_frame", "calendar rule %d would leave a gap" % start)
            rules = []
            for _ in range(count):
                pm, a, z = struct.unpack(">HHH", b[i : i + 6])
                rules.append([pm >> 7, pm & 0x7F, _date_from(a), _date_from(z)])
                i += 6
            w["cal"] = cal[:start] + rules
        elif hi == 3 and lo < len(_SCALARS):
            key, fmt = _SCALARS[lo]
            size = struct.calcsize(fmt)
            _need(b, i, size)
            vals = struct.unpack(fmt, b[i : i + size])
            i += size
            if key == "curve":
                if vals[0] >= len(CURVES):
                    raise CodecError("bad_frame", "unknown curve code %d" % vals[0])
                w[key] = CURVES[vals[0]]
            elif key == "loc":
                w[key] = [vals[0] / 100000, vals[1] / 100000]
            elif key == "k":
                w[key] = [c / 10000 for c in vals]
            else:
                w[key] = vals[0]
        elif op == 0x40:
            _need(b, i, 1)
            count = b[i]
            i += 1
            _need(b, i, 9 * count)
            ovr = []
            for _ in range(count):
                ovr.append(list(struct.unpack(">BII", b[i : i + 9])))
                i += 9
            w["ovr"] = ovr
        else:
            raise CodecError("bad_frame", "unknown config delta operation 0x%02x" % op)


def apply_config_delta(cfg: "Obj | None", frames: "list[bytes]") -> "Obj":
    """Apply every fragment of one config delta to `cfg` (normalised, as check_config returns it) and
    return the new normalised config; `cfg` itself is left as it was. CodecError reasons:
    "base_mismatch" when cfg is not the version the delta was made from (report it; the server then
    sends a full config), "bad_frame" for malformed, missing or mixed fragments, "bad_payload" when
    the result is not a valid config."""
    if not frames:
        raise CodecError("bad_frame", "no fragments")
    heads = [_delta_header(bytes(fr)) for fr in frames]
    full, base, cv = heads[0][2], heads[0][3], heads[0][4]
    for j in range(len(heads)):
        frag, more, fl, bs, c = heads[j]
        if frag != j or more != (j < len(heads) - 1) or fl != full or bs != base or c != cv:
            raise CodecError("bad_frame", "fragments out of order, missing, or from different deltas")
    if full:
        w = {"prof": [], "cal": [], "ovr": []}  # type: dict[str, object]
    else:
        if cfg is None or _gi(cfg, "cv") & 0xFFFF != base:
            raise CodecError("base_mismatch", "the delta applies to config version %d (low 16 bits)" % base)
        copy = _plainify(cfg)
        w = copy if type(copy) is dict else {}
    for fr in frames:
        _apply_ops(w, bytes(fr))
    w["cv"] = cv
    return check_config(w)
