"""Keeps a background service of the server (schedule pusher, fault engine, notifier) running."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

FIRST_DELAY_S = 0.5
MAX_DELAY_S = 30.0
# A service that ran this long before failing was healthy: its next retry starts from the first delay.
HEALTHY_S = 60.0


async def keep_running(name: str, serve: Callable[[], Awaitable[None]],
                       outages: tuple[type[BaseException], ...]) -> None:
    """Runs ``serve`` for ever. An outage of what it depends on (``outages``: the database, the broker)
    is retried with backoff; any other error is a bug, logged with its traceback and retried the same
    way, because one service's bug must not stop the server's others (ingestion above all)."""
    delay = FIRST_DELAY_S
    while True:
        started = time.monotonic()
        try:
            await serve()
        except outages as exc:
            log.warning("%s: %s; retrying in %.1f s", name, exc, delay)
        except Exception:
            log.exception("%s failed; retrying in %.1f s", name, delay)
        if time.monotonic() - started > HEALTHY_S:
            delay = FIRST_DELAY_S
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY_S)
