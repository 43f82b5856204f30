"""A background service keeps running through outages and through its own bugs."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from server import background


async def test_a_service_that_fails_is_run_again_whatever_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "FIRST_DELAY_S", 0.001)
    calls: list[int] = []
    finished = asyncio.Event()

    async def serve() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("broker away")
        if len(calls) == 2:
            raise KeyError("a bug")
        finished.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(background.keep_running("test service", serve, (OSError,)))
    await asyncio.wait_for(finished.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert len(calls) == 3
