"""The real server (API + ingestion + maintenance) on its own event loop in a background thread,
so synchronous and asynchronous tests alike talk to it over real HTTP and MQTT."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading

from server.runtime import Running, serve
from server.settings import Settings


class BackgroundServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop()
        self._ready: concurrent.futures.Future[Running] = concurrent.futures.Future()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name="terang-server", daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def run() -> None:
            ready: asyncio.Future[Running] = self._loop.create_future()
            ready.add_done_callback(lambda f: self._ready.set_result(f.result()))
            await serve(self.settings, ready=ready)

        self._task = self._loop.create_task(run())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # surfaced to the thread waiting in start()
            if not self._ready.done():
                self._ready.set_exception(exc)
        finally:
            self._loop.close()

    def start(self, timeout: float = 60.0) -> Running:
        self._thread.start()
        return self._ready.result(timeout)

    def stop(self) -> None:
        if self._task is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(30)
