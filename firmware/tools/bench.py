"""``terang bench firmware``: the firmware's figures on the MicroPython unix port.

Signature check and hashing (docs/ota.md), journal write and boot-scan cost, device-side encoding,
code size, and the steady-state heap of the running firmware (budget 40 KB beyond module code,
DESIGN.md section 4), measured on simulated lamps against a private Mosquitto: one on MQTT, one on
LoRa through the simulated medium and a gateway process.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from firmware.tools import micropython

Figure = tuple[float | int | str, str]


def _mpy(code: str, timeout: float = 120) -> Any:
    return json.loads(micropython.run(code, timeout=timeout).strip().splitlines()[-1])


def signature_ms() -> dict[str, Figure]:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from firmware.tools.signing import sign_image

    out: dict[str, Figure] = {}
    for bits in (2048, 3072):
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        m = sign_image(b"x" * 1000, "1.0.0", key)
        n = format(key.public_key().public_numbers().n, "x")
        ms = _mpy(f"""
import json, time, rsaverify
n = int({n!r}, 16)
sig = bytes.fromhex({m.sig!r})
msg = rsaverify.manifest("1.0.0", 1000, {m.sha256!r})
best = 10 ** 9
for _ in range(20):
    t = time.ticks_us()
    ok = rsaverify.verify(msg, sig, n)
    best = min(best, time.ticks_diff(time.ticks_us(), t))
assert ok
print(json.dumps(best / 1000))
""")
        out[f"RSA-{bits} signature check"] = (float(ms), "ms (best of 20)")
    return out


def hashing() -> dict[str, Figure]:
    mbps = _mpy("""
import json, time, hashlib
buf = bytearray(4096)
h = hashlib.sha256()
t = time.ticks_us()
for _ in range(1024):
    h.update(buf)
print(json.dumps(4.0 / (time.ticks_diff(time.ticks_us(), t) / 1e6)))
""")
    return {"SHA-256 of a 4 MiB image": (4.0 / float(mbps) * 1000, "ms")}


def journal(tmp: Path) -> dict[str, Figure]:
    res = _mpy(f"""
import json, time, journal
p = {str(tmp / 'j.bin')!r}
j = journal.Journal(p, 4096)
t = time.ticks_us()
for k in range(4096):
    j.append(1700000000 + k, 1000, 2200, 450, 950, k, 100, 285, 0, 7)
app = time.ticks_diff(time.ticks_us(), t) / 4096
t = time.ticks_us()
j2 = journal.Journal(p, 4096)
scan = time.ticks_diff(time.ticks_us(), t) / 1000
t = time.ticks_us()
for s in range(1, 4097):
    j2.read(s)
rd = time.ticks_diff(time.ticks_us(), t) / 4096
print(json.dumps([app, scan, rd]))
""")
    return {
        "journal append (write + flush)": (float(res[0]), "µs/reading"),
        "journal boot scan, 4096 slots": (float(res[1]), "ms"),
        "journal read for replay": (float(res[2]), "µs/reading"),
    }


def encoding() -> dict[str, Figure]:
    us = _mpy("""
import json, time, codec
r = (123, 1700000000, 101.3, 220.4, 0.471, 0.97, 12345.6, 100, 31.5, 0, 7)
t = time.ticks_us()
for _ in range(500):
    codec.encode_reading(r)
a = time.ticks_diff(time.ticks_us(), t) / 500
t = time.ticks_us()
for _ in range(50):
    codec.encode_readings([r] * 16)
b = time.ticks_diff(time.ticks_us(), t) / 50
print(json.dumps([a, b, len(codec.encode_reading(r)), len(codec.encode_readings([r] * 16))]))
""")
    return {
        "encode one reading (JSON)": (float(us[0]), f"µs, {us[2]} B"),
        "encode a replay batch of 16": (float(us[1]), f"µs, {us[3]} B"),
    }


def steady_state(tmp: Path, seconds: float = 15.0) -> dict[str, Figure]:
    """Two lamps from the sim bundle at once, against a private Mosquitto: one on MQTT, one on LoRa
    through the simulated medium and a ``terang gateway`` process."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from firmware.device import codec
    from firmware.tools.build import build
    from firmware.tools.simrun import DeviceConfig, SimLamp, prepare
    from gateway.medium import MediumSettings, MediumThread
    from gateway.process import GatewayProcess
    from server.embedded.broker import MosquittoBroker

    b = build(tmp / "build", "0.1.0", "sim")
    broker = MosquittoBroker(tmp / "broker").start()
    medium = MediumThread(MediumSettings(speed=20)).start()
    out: dict[str, Figure] = {
        "bundle (sim target)": (b.bundle_bytes, "bytes"),
        "compiled code, esp32 target": (sum(m.mpy_bytes for m in build(tmp / "esp", "0.1.0", "esp32").modules),
                                        "bytes of .mpy"),
    }
    status: dict[str, dict[str, Any]] = {}
    gw = GatewayProcess("benchgw", "bench", broker.url, ("127.0.0.1", medium.port), tmp / "gateway")
    try:
        gw.start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-cfg")
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        cfg = {"cv": 1, "loc": [-4.55, 136.88], "tz": 540, "prof": [[[1, 0, 100, 0], [2, 0, 0, 0]]],
               "def": 100, "fb": 3600, "ri": 10}
        for lamp in ("L1", "R1"):
            pub.publish(codec.lamp_topic("bench", lamp, codec.KIND_CONFIG), codec.encode_config(cfg), qos=1,
                        retain=True).wait_for_publish(10)
        now = time.time()
        # The LoRa lamp's world stays behind real time: the gateway dates 11-byte frames by its clock.
        lamps = {
            "mqtt": ("L1", {}, now - 86400),
            "lora": ("R1", {"bearer": "lora", "lora": {"medium": f"127.0.0.1:{medium.port}", "sf": 7}}, now - 2400),
        }
        running: list[tuple[str, SimLamp]] = []
        for kind, (lamp_id, extra, world) in lamps.items():
            state = tmp / lamp_id
            prepare(state, DeviceConfig(lamp=lamp_id, site="bench", broker=broker.url,
                                        extra={"heap_ms": 1000, **extra}),
                    control={"speed": 20, "t0": int(world), "anchor": now})
            running.append((kind, SimLamp(state, b.mpy_dir).start()))
        time.sleep(seconds)
        for kind, sim in running:
            status[kind] = sim.status()
            sim.stop()
        pub.loop_stop()
        pub.disconnect()
    finally:
        gw.stop()
        medium.stop()
        broker.stop()
    for kind, label in (("mqtt", "MQTT"), ("lora", "LoRa")):
        st = status.get(kind, {})
        heap, code = int(st.get("heap", 0)), int(st.get("heap_code", 0))
        out[f"{label} lamp: heap after gc, steady state"] = (heap, "bytes (unix port, 64-bit)")
        out[f"  of which module code ({label})"] = (code, "bytes")
        out[f"  of which data ({label}, budget 40 KB)"] = (heap - code, "bytes")
        out[f"  readings taken ({label})"] = (int(st.get("next_seq", 1)) - 1, f"in {seconds:.0f} s at speed 20")
        if kind == "lora":
            out["  LoRa uplinks / downlinks / refused by the air"] = (
                f"{st.get('lora_up', 0)} / {st.get('lora_down', 0)} / {st.get('lora_refused', 0)}",
                f"journal pending {st.get('jp', '?')}, watermark {st.get('wm', '?')}")
    return out


def run_bench() -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    with tempfile.TemporaryDirectory(prefix="terang-bench-") as tmp:
        for part in (signature_ms(), hashing(), journal(Path(tmp)), encoding(), steady_state(Path(tmp))):
            figures.update(part)
    return figures
