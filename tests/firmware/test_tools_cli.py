"""`terang firmware run-sim` and `terang flash` as a technician runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware.device import codec
from firmware.tools.flashing import FlashError, detect_chip
from server.cli import app
from tests.firmware.conftest import Observer


def test_run_sim_command_runs_the_firmware_until_interrupted(tmp_path: Path, mqtt_url: str, observer: Observer) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "firmware", "run-sim", "--lamp-id", "CLI1", "--mqtt", mqtt_url,
         "--site", observer.site, "--state-dir", str(tmp_path / "flash")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        observer.wait(lambda: observer.of("CLI1", codec.KIND_STATE), 30, "the lamp online")
        assert codec.decode_state(observer.of("CLI1", codec.KIND_STATE)[0])["st"] == "online"
        assert (tmp_path / "flash" / "device.json").exists()
        assert (tmp_path / "flash" / "journal.bin").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert b"terang firmware 0.1.0" in out
    # Ctrl-C takes the firmware down with the launcher: no orphaned micropython keeps publishing.
    time.sleep(0.5)
    n = len(observer.of("CLI1", codec.KIND_STATE))
    time.sleep(1.0)
    assert len(observer.of("CLI1", codec.KIND_STATE)) == n


def test_flash_explains_a_missing_port() -> None:
    result = CliRunner().invoke(app, ["flash", "--port", "/dev/ttyUSB-nothing", "--config", "device.json"])
    assert result.exit_code == 1
    assert "does not exist" in result.output and "plugged in" in result.output


def test_flash_explains_a_port_where_no_device_answers() -> None:
    # A pseudo-terminal: the port opens, but nothing on it speaks the ESP32 boot protocol.
    master, slave = os.openpty()
    try:
        with pytest.raises(FlashError) as err:
            detect_chip(os.ttyname(slave), timeout=30)
    finally:
        os.close(master)
        os.close(slave)
    assert "no ESP32 answered" in str(err.value)
    assert "hold BOOT" in str(err.value)


def test_flash_copies_the_bundle_entry_point_and_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from firmware.tools import flashing
    from firmware.tools.build import build

    b = build(tmp_path / "build", "1.0.0", "esp32")
    dev = tmp_path / "device.json"
    dev.write_text("{}")
    calls: list[list[str]] = []

    def fake_run(args: list[str], timeout: float, on_line: object = None) -> tuple[int, str]:
        calls.append(args)
        return 0, ""

    monkeypatch.setattr(flashing, "_run", fake_run)
    plan = flashing.FlashPlan(port="/dev/ttyUSB9", image=None, mpy_dir=b.mpy_dir,
                              main_py=Path(__file__).parent.parent.parent / "firmware/device/main.py",
                              device_json=dev)
    fractions: list[float] = []
    flashing.copy_files(plan, lambda step, f: fractions.append(f))
    copied = {a[k + 1]: a[k + 2] for a in calls for k in range(len(a) - 2) if a[k] == "cp"}
    assert copied[str(dev)] == ":device.json"
    assert copied[str(plan.main_py)] == ":main.py"
    assert {Path(src).name for src in copied} >= {"app.mpy", "codec.mpy", "hal_esp32.mpy", "bootsel.mpy"}
    assert all(dst.startswith(":app0/") for src, dst in copied.items() if src.endswith(".mpy"))
    assert not any(Path(src).name == "main.mpy" for src in copied)
    assert calls[-1][-1] == "reset"
    assert fractions[-1] == 1.0
