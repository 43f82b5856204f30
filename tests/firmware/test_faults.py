"""Local fault detection on MicroPython, as a table: windows of meter samples in, fault bits out."""

from __future__ import annotations

import pytest

from tests.firmware.conftest import mpy_json

HARNESS = '''
import json, faults
f = faults.Faults()
f.rated_dw = 1000
def run(n, dv=2200, ma=480, dw=1050, out=10000, relay=True, day=False, ovr=False, temp=300, ok=True):
    for _ in range(n):
        for _ in range(faults.WINDOW):
            f.sample(ok, dv, ma, dw, out, relay)
        f.evaluate(day, ovr, temp)
    return [faults.NAMES[k] for k in range(faults.COUNT) if f.active & (1 << k)]
'''

# name, samples (keyword arguments of run), expected faults after 5 windows
CASES = [
    ("healthy at full power", {}, []),
    ("dead LED string: standby draw only", {"dw": 5, "ma": 20}, ["lamp"]),
    ("relay stuck open: nothing flows", {"dw": 0, "ma": 0}, ["relay"]),
    ("relay welded: power with the relay open", {"relay": False, "out": 0}, ["relay"]),
    ("driver ignores dimming", {"out": 1000, "dw": 1050}, ["driver"]),
    ("driver delivers a fraction", {"out": 10000, "dw": 400}, ["driver"]),
    ("lit in daylight", {"day": True}, ["day_burning"]),
    ("lit in daylight on an operator override", {"day": True, "ovr": True}, []),
    ("mains above the band", {"dv": 2500}, ["over_v"]),
    ("mains below the band", {"dv": 1900}, ["under_v"]),
    ("power cut is not a lamp fault", {"dv": 0, "ma": 0, "dw": 0}, []),
    ("meter silent", {"ok": False}, ["meter"]),
    ("controller overheating", {"temp": 900}, ["thermal"]),
]


@pytest.mark.parametrize(("name", "kw", "expected"), CASES, ids=[c[0] for c in CASES])
def test_fault_table(name: str, kw: dict[str, object], expected: list[str]) -> None:
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    assert mpy_json(HARNESS + f"print(json.dumps(run(5, {args})))") == expected


def test_a_single_bad_window_raises_nothing() -> None:
    assert mpy_json(HARNESS + "run(2)\nrun(1, dw=5, ma=20)\nprint(json.dumps(run(1)))") == []


def test_fault_clears_after_healthy_windows() -> None:
    out = mpy_json(HARNESS + "a = run(5, dw=5, ma=20)\nb = run(4)\nprint(json.dumps([a, b, f.changed]))")
    assert out[0] == ["lamp"]
    assert out[1] == []


def test_windows_with_a_changed_command_are_not_judged() -> None:
    # Every window the command changes (a fade, a schedule step): no verdict, no false alarm.
    out = mpy_json(HARNESS + "for k in range(6):\n    run(1, out=5000 + k, dw=5, ma=20)\nprint(json.dumps(run(0)))")
    assert out == []


def test_lamp_dropping_out_and_recovering_is_cycling() -> None:
    code = HARNESS + "for _ in range(6):\n    run(2)\n    run(1, dw=5, ma=20)\nprint(json.dumps(run(0)))"
    assert "cycling" in mpy_json(code)
