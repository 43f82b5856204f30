"""``terang flash``: MicroPython image (esptool), firmware and device.json (mpremote), then wait until
the lamp says it is online.

Each step runs the tool as a subprocess of this Python (``python -m esptool`` / ``python -m mpremote``),
so the versions are the ones this project pins, and each failure becomes a ``FlashError`` whose
message tells a technician what to do next (docs/flashing.md has the same advice at more length).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from firmware.device import codec

# Where the MicroPython image starts in flash, by chip family (the ROM boot loader's layout).
IMAGE_OFFSET = {"ESP32": "0x1000", "ESP32-S2": "0x1000", "ESP32-S3": "0x0", "ESP32-C3": "0x0", "ESP32-C6": "0x0"}
_PERCENT = re.compile(r"\((\d+)\s*%\)")
_CHIP = re.compile(r"(?:Chip type|Chip is|Detecting chip type)\W+(ESP32(?:-[A-Z0-9]+)?)", re.IGNORECASE)

NO_DEVICE_HINT = (
    "no ESP32 answered on {port}. Check that the USB cable carries data (not a charge-only cable), "
    "that no other program (a serial monitor, another terang flash) holds the port, and put the "
    "controller in download mode: hold BOOT, press and release EN/RESET, release BOOT, then run the "
    "command again."
)


class FlashError(RuntimeError):
    pass


@dataclass
class FlashPlan:
    port: str
    image: Path | None  # MicroPython firmware .bin; None keeps what is on the controller
    mpy_dir: Path  # build output: .mpy files of the esp32 target
    main_py: Path  # entry point, copied as source to the root
    device_json: Path
    baud: int = 460800


Progress = Callable[[str, float], None]  # (step, fraction 0..1)


def _run(args: list[str], timeout: float, on_line: Callable[[str], None] | None = None) -> tuple[int, str]:
    out: list[str] = []
    deadline = time.monotonic() + timeout
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in _lines(proc.stdout):
            out.append(line)
            if on_line is not None:
                on_line(line)
            if time.monotonic() > deadline:
                proc.kill()
                break
        try:
            rc = proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    return rc, "".join(out)


def _lines(stream: object) -> Iterator[str]:
    # esptool rewrites its progress line with carriage returns: split on both.
    buf = ""
    while True:
        ch = stream.read(1)  # type: ignore[attr-defined]
        if not ch:
            if buf:
                yield buf
            return
        buf += ch
        if ch in "\r\n":
            yield buf
            buf = ""


def esptool(*args: str) -> list[str]:
    return [sys.executable, "-m", "esptool", *args]


def mpremote(port: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "mpremote", "connect", port, *args]


def check_port(port: str) -> None:
    if port.startswith("/dev/") and not Path(port).exists():
        raise FlashError(f"serial port {port} does not exist: is the controller plugged in? "
                         "(ls /dev/ttyUSB* /dev/ttyACM* lists the candidates)")


def detect_chip(port: str, timeout: float = 30.0) -> str:
    """The chip family (ESP32, ESP32-S3, ...); FlashError when nothing answers."""
    check_port(port)
    rc, out = _run(esptool("--port", port, "--connect-attempts", "2", "chip-id"), timeout)
    m = _CHIP.search(out)
    if rc != 0 or m is None:
        raise FlashError(NO_DEVICE_HINT.format(port=port) + "\n\nesptool said:\n" + _tail(out))
    return m.group(1).upper()


def write_image(port: str, chip: str, image: Path, baud: int, progress: Progress) -> None:
    offset = IMAGE_OFFSET.get(chip)
    if offset is None:
        raise FlashError(f"unsupported chip {chip}; supported: {', '.join(IMAGE_OFFSET)}")

    def line(s: str) -> None:
        m = _PERCENT.search(s)
        if m:
            progress("image", int(m.group(1)) / 100)

    rc, out = _run(esptool("--port", port, "--baud", str(baud), "write-flash", "-z", offset, str(image)), 600, line)
    if rc != 0:
        raise FlashError("writing the MicroPython image failed:\n" + _tail(out))
    progress("image", 1.0)


def wait_repl(port: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        rc, out = _run(mpremote(port, "exec", "import sys; print(sys.implementation.name)"), 20)
        if rc == 0 and "micropython" in out:
            return
        last = out
        time.sleep(1)
    raise FlashError(f"MicroPython did not answer on {port} after flashing:\n" + _tail(last))


def copy_files(plan: FlashPlan, progress: Progress) -> None:
    files = sorted(plan.mpy_dir.glob("*.mpy"))
    if not files:
        raise FlashError(f"no .mpy files in {plan.mpy_dir}: run terang firmware build first")
    _run(mpremote(plan.port, "fs", "mkdir", ":app0"), 30)  # fails harmlessly when it exists
    copies = [(str(f), f":app0/{f.name}") for f in files if f.stem != "main"]
    copies += [(str(plan.main_py), ":main.py"), (str(plan.device_json), ":device.json")]
    # Several copies per mpremote run ("+" chains commands on one connection), for a moving bar
    # without reconnecting for every file.
    group = 6
    for k in range(0, len(copies), group):
        args: list[str] = []
        for src, dst in copies[k : k + group]:
            args += [*(["+"] if args else []), "fs", "cp", src, dst]
        rc, out = _run(mpremote(plan.port, *args), 120)
        if rc != 0:
            raise FlashError("copying to the controller failed:\n" + _tail(out))
        progress("files", min(1.0, (k + group) / len(copies)))
    rc, out = _run(mpremote(plan.port, "reset"), 30)
    if rc != 0:
        raise FlashError("could not reset the controller:\n" + _tail(out))


def wait_online(device_json: Path, timeout: float, progress: Progress) -> dict[str, object]:
    """Subscribes to the lamp's retained state until it reads online; returns that state."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from firmware.device import brokerurl

    dev = json.loads(device_json.read_text())
    tls, host, port, user, password = brokerurl.parse(dev["broker"])
    topic = codec.lamp_topic(dev["site"], dev["lamp"], codec.KIND_STATE)
    seen: dict[str, object] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"terang-flash-{dev['lamp']}")
    if user:
        client.username_pw_set(user, password)
    if tls:
        client.tls_set()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        try:
            st = codec.decode_state(bytes(msg.payload))
        except codec.CodecError:
            return
        if st.get("st") == "online":
            seen.update(st)

    client.on_message = on_message
    client.connect(host, port)
    client.subscribe(topic, 1)
    client.loop_start()
    try:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if seen:
                progress("online", 1.0)
                return seen
            progress("online", min(0.99, (time.monotonic() - start) / timeout))
            time.sleep(0.5)
    finally:
        client.loop_stop()
        client.disconnect()
    raise FlashError(f"the lamp did not come online within {timeout:.0f} s: check the Wi-Fi/APN settings "
                     f"in {device_json} and that the broker {host}:{port} is reachable from the pole")


def flash(plan: FlashPlan, progress: Progress, online_timeout: float = 180.0) -> dict[str, object]:
    chip = detect_chip(plan.port)
    progress("detect", 1.0)
    if plan.image is not None:
        write_image(plan.port, chip, plan.image, plan.baud, progress)
    wait_repl(plan.port)
    copy_files(plan, progress)
    return wait_online(plan.device_json, online_timeout, progress)


def _tail(text: str, n: int = 12) -> str:
    lines = [s.rstrip() for s in text.replace("\r", "\n").splitlines() if s.strip()]
    return "\n".join(lines[-n:])
