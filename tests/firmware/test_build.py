"""Every device file compiles with mpy-cross; the firmware runs from the compiled bundle within its
memory budget; the build, signing and provisioning tools."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware.device import bundle, codec
from firmware.tools.build import DEVICE_DIR, Build, build, check_all_compile
from firmware.tools.simrun import SimLamp
from server.cli import app
from tests.firmware.conftest import Observer, config, timika, world_control

HEAP_BUDGET = 40 * 1024  # steady-state heap beyond the loaded code (DESIGN.md section 4)


@pytest.fixture(scope="module")
def sim_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    return build(tmp_path_factory.mktemp("fw"), "0.1.0", "sim")


def test_every_device_file_compiles_with_mpy_cross() -> None:
    assert sorted(DEVICE_DIR.glob("*.py"))
    assert check_all_compile() == []


def test_bundle_holds_every_module_of_its_target(sim_build: Build, tmp_path: Path) -> None:
    with sim_build.bundle_path.open("rb") as f:
        names = {name for name, _size, _off in bundle.entries(f)}
    assert {"app.mpy", "codec.mpy", "journal.mpy", "mqtt.mpy", "hal_sim.mpy", "version.mpy"} <= names
    assert "hal_esp32.mpy" not in names and "main.mpy" not in names
    esp = build(tmp_path, "0.1.0", "esp32")
    with esp.bundle_path.open("rb") as f:
        esp_names = {name for name, _size, _off in bundle.entries(f)}
    assert "hal_esp32.mpy" in esp_names and "hal_sim.mpy" not in esp_names


def test_firmware_runs_from_mpy_within_the_heap_budget(
    sim_build: Build, make_lamp: Callable[..., SimLamp], observer: Observer
) -> None:
    observer.publish("L1", codec.KIND_CONFIG, config(1), retain=True)
    # The heap is capped at what the loaded code takes plus the budget, as on a small controller,
    # plus 8 KB for the simulation's own bookkeeping (status file, electrical model) that shares it.
    lamp = make_lamp("L1", image=sim_build.mpy_dir, heap=f"{(140 * 1024 + HEAP_BUDGET + 8192) // 1024}K",
                     control=world_control(timika(2, 20), 20), extra={"heap_ms": 500})
    try:
        observer.wait(lambda: len(observer.readings("L1")) >= 5, 30, "five readings")
    except AssertionError:
        raise AssertionError(f"no readings; {lamp.status()}; console:\n{lamp.console_tail()}") from None
    st = lamp.wait_status(lambda s: s.get("heap") and s.get("next_seq", 0) > 5)
    assert lamp.exits == [], lamp.console_tail()
    data = st["heap"] - st["heap_code"]
    print(f"steady-state heap: {st['heap']} B total, {st['heap_code']} B module code, {data} B data")
    assert data < HEAP_BUDGET


def test_build_rejects_a_version_the_protocol_cannot_carry(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["firmware", "build", "--version", "1.0-beta", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "major.minor.patch" in result.output


def test_build_command_prints_sizes_and_writes_the_bundle(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["firmware", "build", "--version", "1.2.3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "terang-fw-1.2.3-esp32.bundle").stat().st_size > 10000
    assert "codec" in result.output and "total" in result.output


def test_keygen_and_sign_produce_a_manifest_the_device_accepts(tmp_path: Path) -> None:
    from firmware.device import rsaverify

    runner = CliRunner()
    key = tmp_path / "fleet.pem"
    assert runner.invoke(app, ["firmware", "keygen", "--key", str(key)]).exit_code == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    image = tmp_path / "fw.bundle"
    image.write_bytes(b"TRB1\x00\x00")
    result = runner.invoke(app, ["firmware", "sign", str(image), "--key", str(key), "--version", "1.2.3"])
    assert result.exit_code == 0, result.output
    m = json.loads((tmp_path / "fw.bundle.manifest.json").read_text())
    n = int((tmp_path / "fleet.pub").read_text(), 16)
    assert rsaverify.verify(rsaverify.manifest("1.2.3", m["size"], m["sha256"]), bytes.fromhex(m["sig"]), n)
    assert runner.invoke(app, ["firmware", "keygen", "--key", str(key)]).exit_code == 1  # never overwrite


def test_provision_writes_a_device_config(tmp_path: Path) -> None:
    pub = tmp_path / "fleet.pub"
    pub.write_text(format((1 << 2047) + 12345, "x"))
    result = CliRunner().invoke(app, [
        "firmware", "provision", "--lamp", "MB-0042", "--site", "timika", "--broker", "mqtt://dev:pw@10.0.0.2",
        "--lat", "-4.5461", "--lon", "136.8837", "--wifi-ssid", "PJU-Mimika", "--wifi-password", "rahasia",
        "--cal-p", "0.98", "--ota-key-file", str(pub), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    dev = json.loads((tmp_path / "device.json").read_text())
    assert dev["lamp"] == "MB-0042" and dev["tz"] == 540 and dev["cal"] == {"v": 1.0, "i": 1.0, "p": 0.98}
    assert dev["wifi_ssid"] == "PJU-Mimika" and int(dev["ota_key"], 16) == (1 << 2047) + 12345


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lamp", "bad id!"], "lamp id"),
        (["--broker", "http://x"], "scheme"),
        (["--lat", "-95"], "latitude"),
        (["--cal-p", "3"], "calibration"),
    ],
)
def test_provision_refuses_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    base = {"--lamp": "L1", "--site": "s1", "--broker": "mqtt://h", "--lat": "-4.5", "--lon": "136.8"}
    for k in range(0, len(args), 2):
        base[args[k]] = args[k + 1]
    argv = ["firmware", "provision", "--out", str(tmp_path)] + [x for kv in base.items() for x in kv]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 1
    assert message in result.output
