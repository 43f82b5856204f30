"""One LISTEN connection per server process, shared by every open alert stream (SSE).

A connection per browser tab would run PostgreSQL out of connections; instead each stream gets an
``asyncio.Event`` that is set on every 'terang_alerts' notification, and reads the new events itself
(through the pool, briefly). The connection opens with the first stream and closes with the last.
If it breaks, streams are woken (so they look once) and it reconnects; meanwhile streams still look
at every keep-alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import psycopg

log = logging.getLogger(__name__)

CHANNEL = "terang_alerts"
APPLICATION_NAME = "terang-alert-stream"
# A stream starts after this even when the database does not answer: it then learns of events at
# its keep-alives.
LISTEN_WAIT_S = 5.0
RECONNECT_MAX_S = 30.0


class AlertFeed:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._waiters: set[asyncio.Event] = set()
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    @property
    def subscribers(self) -> int:
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Event]:
        """An event set on every alert history row committed from the moment this returns."""
        wake = asyncio.Event()
        self._waiters.add(wake)
        try:
            if self._task is None:
                self._listening = asyncio.Event()
                self._task = asyncio.create_task(self._listen(self._listening), name="alert-feed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listening.wait(), LISTEN_WAIT_S)
            yield wake
        finally:
            self._waiters.discard(wake)
            if not self._waiters and self._task is not None:
                self._task.cancel()
                self._task = None

    def _wake_all(self) -> None:
        for wake in self._waiters:
            wake.set()

    async def _listen(self, listening: asyncio.Event) -> None:
        delay = 0.5
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.database_url, autocommit=True, application_name=APPLICATION_NAME) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    listening.set()
                    delay = 0.5
                    async for _ in conn.notifies():
                        self._wake_all()
            except (psycopg.Error, OSError) as exc:
                log.warning("alert feed: %s; reconnecting in %.1f s", exc, delay)
            self._wake_all()  # whatever was missed while the connection was down, streams look now
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)
