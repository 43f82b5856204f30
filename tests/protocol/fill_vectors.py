"""Fills in the expected result of golden vectors that have none: ``python -m tests.protocol.fill_vectors``.

Write a new vector's input (``name``, ``fn``, arguments), run this, then read the ``out``/``error`` it
wrote against docs/protocol.md before committing: from then on the vector pins the bytes on both
interpreters. Existing expectations are never changed; a vector whose stored expectation no longer
matches is listed, for a human to decide.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.protocol.vector_runner import run_vector

VECTOR_DIR = Path(__file__).resolve().parent.parent / "vectors"


def fill(path: Path) -> tuple[int, list[str]]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    added = 0
    stale = []
    for v in doc["vectors"]:
        res = run_vector(v)
        if "crash" in res:
            raise SystemExit(f"{path.name}: {v['name']}: {res['crash']}")
        if "out" not in v and "error" not in v:
            v.update(res)
            added += 1
        elif {k: v[k] for k in ("out", "error") if k in v} != res:
            stale.append(v["name"])
    if added:
        path.write_text(dump(doc), encoding="utf-8")
    return added, stale


def dump(doc: dict[str, object]) -> str:
    """One vector per line, so that a review or a diff reads vector by vector."""
    vectors = doc["vectors"]
    assert isinstance(vectors, list)
    lines = [json.dumps(v, ensure_ascii=False) for v in vectors]
    head = json.dumps(doc["description"], ensure_ascii=False)
    return '{"description": ' + head + ',\n "vectors": [\n  ' + ",\n  ".join(lines) + "\n ]}\n"


def main() -> int:
    status = 0
    for path in sorted(VECTOR_DIR.glob("*.json")):
        added, stale = fill(path)
        print(f"{path.name}: {added} filled")
        for name in stale:
            print(f"  differs from its stored expectation: {name}")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
