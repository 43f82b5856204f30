"""Watchdog supervision and boot-loop safe mode, on MicroPython."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.firmware.conftest import mpy_json

SUP = '''
import asyncio, json, time, supervisor
feeds = []
sup = supervisor.Supervisor(lambda: feeds.append(time.ticks_ms()))
sup.period_ms = 20
'''


def test_watchdog_is_fed_while_every_task_beats() -> None:
    out = mpy_json(SUP + '''
async def worker(h):
    while True:
        sup.beat(h)
        await asyncio.sleep_ms(10)
async def main():
    for name in ("a", "b"):
        sup.spawn(name, worker(sup.register(name, 100)))
    asyncio.create_task(sup.run())
    await asyncio.sleep_ms(300)
asyncio.run(main())
print(json.dumps([len(feeds) > 5, sup.starved, sup.dead]))
''')
    assert out == [True, "", ""]


def test_watchdog_starves_when_one_task_hangs() -> None:
    out = mpy_json(SUP + '''
async def worker(h, hang_after):
    n = 0
    while True:
        if n < hang_after:
            sup.beat(h)
        n += 1
        await asyncio.sleep_ms(10)
async def main():
    sup.spawn("ok", worker(sup.register("ok", 100), 10 ** 9))
    sup.spawn("stuck", worker(sup.register("stuck", 100), 5))
    asyncio.create_task(sup.run())
    await asyncio.sleep_ms(250)
    n = len(feeds)
    await asyncio.sleep_ms(200)
    return n
n = asyncio.run(main())
print(json.dumps([len(feeds) == n, sup.starved]))
''')
    assert out == [True, "stuck"]


def test_watchdog_starves_when_a_task_dies() -> None:
    out = mpy_json(SUP + '''
async def boom():
    await asyncio.sleep_ms(30)
    raise ValueError("sensor unplugged")
async def main():
    sup.spawn("meter", boom())
    asyncio.create_task(sup.run())
    await asyncio.sleep_ms(100)
    n = len(feeds)
    await asyncio.sleep_ms(100)
    return n
n = asyncio.run(main())
print(json.dumps([len(feeds) == n, sup.dead]))
''')
    assert out == [True, "meter"]


def boots(tmp: Path, n: int, prove_on: int = -1) -> Any:
    return mpy_json(f'''
import json, bootguard
out = []
for k in range({n}):
    g = bootguard.BootGuard({str(tmp / "boot.json")!r})
    out.append(g.safe)
    if k == {prove_on}:
        g.proved()
print(json.dumps(out))
''')


def test_repeated_failed_boots_enter_safe_mode(tmp_path: Path) -> None:
    assert boots(tmp_path, 5) == [False, False, False, True, True]


def test_a_boot_that_proves_itself_clears_the_count(tmp_path: Path) -> None:
    assert boots(tmp_path, 6, prove_on=3) == [False, False, False, True, False, False]
