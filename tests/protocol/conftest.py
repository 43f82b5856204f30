"""One MicroPython process per test session runs every golden vector and the fuzz corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firmware.tools import micropython
from tests.protocol.corpus import fuzz_corpus

HERE = Path(__file__).resolve().parent
VECTOR_DIR = HERE.parent / "vectors"
RUNNER = HERE / "vector_runner.py"


def load_vectors() -> list[dict[str, Any]]:
    """Every golden vector, its name prefixed with its file: "readings: empty_batch"."""
    out = []
    for path in sorted(VECTOR_DIR.glob("*.json")):
        for v in json.loads(path.read_text(encoding="utf-8"))["vectors"]:
            out.append(dict(v, name=f"{path.stem}: {v['name']}"))
    return out


def expected(v: dict[str, Any]) -> dict[str, Any]:
    return {k: v[k] for k in ("out", "error") if k in v}


@pytest.fixture(scope="session")
def corpus() -> list[dict[str, Any]]:
    return fuzz_corpus()


@pytest.fixture(scope="session")
def mpy_results(corpus: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """name -> {"out"|"error"|"crash": ...}, as the codec gives them on the MicroPython unix port."""
    batch = tmp_path_factory.mktemp("vectors") / "all.json"
    batch.write_text(json.dumps(load_vectors() + corpus), encoding="utf-8")
    out = micropython.run_file(RUNNER, str(batch), heapsize="64M", timeout=240)
    results = {}
    for line in out.splitlines():
        res = json.loads(line)
        results[res.pop("name")] = res
    return results
