"""Strict mypy over the device code, against MicroPython's own stubs: ``python -m firmware.tools.typecheck``.

The device modules run flat on the controller (``import codec``, not ``firmware.device.codec``), so
they are checked as top-level modules with ``firmware/device`` on ``MYPYPATH``. The
``micropython-esp32-stubs`` wheel installs bare ``.pyi`` files into site-packages, which mypy ignores
(they are not a package with ``py.typed``); a copy of them in a temporary directory on ``MYPYPATH``
makes ``machine``, ``esp32``, ``micropython`` and MicroPython's ``time`` visible. Errors inside the stubs
themselves (some signatures are narrower than the real API) are silenced; errors in device code are not.

Exit status is mypy's. Module names restrict the check (``... typecheck codec``); other arguments go
to mypy (``--no-incremental``, say).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

DEVICE_DIR = Path(__file__).resolve().parent.parent / "device"
REPO = DEVICE_DIR.parent.parent
CACHE_DIR = REPO / ".mypy_cache" / "device"  # apart from the main run: same module names, other stubs

# The esp32 stubs import helper modules that live in micropython-stdlib-stubs.
STUB_DISTRIBUTIONS = ("micropython-esp32-stubs", "micropython-stdlib-stubs")
# Packages of micropython-stdlib-stubs' typeshed that replace CPython's: the firmware's asyncio is
# MicroPython's (sleep_ms, wait_for_ms, StreamReader.readinto), which CPython's typeshed lacks.
MICROPYTHON_STDLIB = {("stdlib", "asyncio")}


def device_modules(device_dir: Path = DEVICE_DIR) -> list[str]:
    """Top-level module names of every device file (packages by their directory name)."""
    mods = sorted(p.stem for p in device_dir.glob("*.py") if p.stem != "__init__")
    mods += sorted(p.parent.name for p in device_dir.glob("*/__init__.py"))
    return mods


def copy_stubs(dest: Path) -> list[str]:
    """Copies the stub files (.pyi, packages of .pyi) into dest; returns their module names."""
    modules: set[str] = set()
    for name in STUB_DISTRIBUTIONS:
        try:
            dist = distribution(name)
        except PackageNotFoundError as exc:
            raise SystemExit(f"{name} is not installed: pip install -e '.[dev]'") from exc
        for f in dist.files or ():
            rel = Path(str(f))
            if rel.suffix == ".pyi" and rel.parts[:2] in MICROPYTHON_STDLIB:
                rel = Path(*rel.parts[1:])  # MicroPython's own asyncio (sleep_ms, readinto...)
            elif rel.suffix != ".pyi" or rel.parts[0].endswith((".dist-info", "stdlib")):
                continue  # stdlib/ is a whole custom typeshed; the CPython one stays in charge
            src = Path(str(dist.locate_file(f)))
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            modules.add(rel.parts[0].removesuffix(".pyi"))
    return sorted(modules)


def mypy_config(stub_modules: list[str]) -> str:
    patterns = ",".join(sorted(set(stub_modules) | {f"{m}.*" for m in stub_modules}))
    return "\n".join(
        [
            "[mypy]",
            "python_version = 3.11",
            "strict = True",
            "warn_unreachable = True",
            "namespace_packages = False",
            "",
            f"[mypy-{patterns}]",
            "ignore_errors = True",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m firmware.tools.typecheck",
        description="strict mypy over the device modules, with MicroPython's stubs",
    )
    parser.add_argument("modules", nargs="*", help="check only these device modules (default: all)")
    parser.add_argument("--device-dir", type=Path, default=DEVICE_DIR, help=argparse.SUPPRESS)
    args, mypy_args = parser.parse_known_args(argv)
    device_dir = args.device_dir.resolve()
    modules = args.modules or device_modules(device_dir)
    if not modules:
        print("no device modules found in", device_dir)
        return 0
    with tempfile.TemporaryDirectory(prefix="terang-stubs-") as tmp:
        stubs = Path(tmp) / "stubs"
        stub_modules = copy_stubs(stubs)
        overlap = sorted(set(device_modules(device_dir)) & set(stub_modules))
        if overlap:
            print("device modules shadow MicroPython stub modules:", ", ".join(overlap))
            return 2
        config = Path(tmp) / "mypy.ini"
        config.write_text(mypy_config(stub_modules), encoding="utf-8")
        env = dict(os.environ, MYPYPATH=os.pathsep.join([str(device_dir), str(stubs)]))
        cache = CACHE_DIR if device_dir == DEVICE_DIR else Path(tmp) / "cache"
        cmd = [sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(cache)]
        for mod in modules:
            cmd += ["-m", mod]
        proc = subprocess.run([*cmd, *mypy_args], env=env, cwd=device_dir, check=False)
        return proc.returncode


if __name__ == "__main__":
    raise SystemExit(main())
