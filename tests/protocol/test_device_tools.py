"""The host helpers every firmware test relies on: running code on the MicroPython unix port,
compiling with mpy-cross, and type-checking device modules against MicroPython's stubs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from firmware.tools import micropython, typecheck

CODEC = micropython.DEVICE_DIR / "codec.py"


def test_run_returns_stdout_with_device_modules_importable() -> None:
    assert micropython.run("import codec\nprint(codec.PROTOCOL_VERSION)").strip() == "1"


def test_run_executes_on_micropython_not_cpython() -> None:
    assert micropython.run("import sys\nprint(sys.implementation.name)").strip() == "micropython"


def test_run_raises_with_the_traceback_on_failure() -> None:
    with pytest.raises(micropython.MicroPythonError) as info:
        micropython.run("print('before')\nraise ValueError('boom')")
    assert info.value.returncode == 1
    assert "ValueError: boom" in str(info.value)
    assert "before" in info.value.stdout


def test_run_stops_a_script_that_runs_too_long() -> None:
    with pytest.raises(micropython.MicroPythonError, match="timed out"):
        micropython.run("while True:\n    pass", timeout=1)


def test_run_is_not_shadowed_by_files_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "codec.py").write_text("PROTOCOL_VERSION = 'shadow'\n")
    monkeypatch.chdir(tmp_path)
    assert micropython.run("import codec\nprint(codec.PROTOCOL_VERSION)").strip() == "1"


def test_run_adds_extra_paths_after_the_device_code(tmp_path: Path) -> None:
    (tmp_path / "helper.py").write_text("X = 42\n")
    assert micropython.run("import helper\nprint(helper.X)", path=[tmp_path]).strip() == "42"


def test_run_file_passes_arguments_and_stdin(tmp_path: Path) -> None:
    script = tmp_path / "echo.py"
    script.write_text("import sys\nprint(sys.argv[1:], sys.stdin.read())\n")
    assert micropython.run_file(script, "a", "b", stdin=b"in").strip() == "['a', 'b'] in"


def test_executable_prefers_the_one_next_to_this_python() -> None:
    assert Path(micropython.executable()).parent == Path(sys.executable).parent


def test_mpy_cross_compiles_the_codec(tmp_path: Path) -> None:
    out = tmp_path / "codec.mpy"
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    subprocess.run([str(mpy_cross), "-o", str(out), str(CODEC)], check=True, capture_output=True)
    assert out.stat().st_size > 0


def test_compiled_codec_runs_on_micropython(tmp_path: Path) -> None:
    mpy_cross = Path(sys.executable).parent / "mpy-cross"
    subprocess.run([str(mpy_cross), "-o", str(tmp_path / "codec.mpy"), str(CODEC)], check=True)
    out = micropython.run_file(_write(tmp_path / "main.py", "import codec\nprint(codec.__file__)\n"))
    assert out.strip().endswith("codec.mpy")


def test_typecheck_passes_on_the_codec() -> None:
    assert typecheck.main(["codec"]) == 0


def test_typecheck_sees_micropython_stubs_and_reports_errors(tmp_path: Path) -> None:
    good = "import machine\nimport time\n\nmachine.Pin(2, machine.Pin.OUT).value(1)\nt = time.ticks_ms()\n"
    _write(tmp_path / "good.py", good)
    _write(tmp_path / "bad.py", "import machine\n\nmachine.no_such_thing()\n")
    assert typecheck.main(["--device-dir", str(tmp_path), "good"]) == 0
    assert typecheck.main(["--device-dir", str(tmp_path), "bad"]) == 1


def test_typecheck_refuses_device_modules_that_shadow_stubs(tmp_path: Path) -> None:
    _write(tmp_path / "machine.py", "X = 1\n")
    assert typecheck.main(["--device-dir", str(tmp_path)]) == 2


def test_typecheck_lists_every_device_module() -> None:
    assert "codec" in typecheck.device_modules()
    assert all("/" not in m and not m.endswith(".py") for m in typecheck.device_modules())


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
