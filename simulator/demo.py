"""``terang demo``: a whole Terang installation on one machine, fed by a simulated Mimika fleet.

The server runs in this process on its own thread and event loop (``server.runtime.serve``, which
starts embedded PostgreSQL and a local broker unless ``TERANG_DATABASE_URL`` / ``TERANG_MQTT_URL``
name real ones). The simulator runs on the main thread, so Ctrl-C lands there first: the simulator
drains and saves its state, then the server is cancelled and stops what it started. Everything
lives under ``settings.data_dir``, so a second run finds the same database, broker persistence and
lamp counters.

The fault engine judges silence against the wall clock, and while the night replays every lamp's
newest reading is hours old: it would declare every feeder out, and for minutes after catching up
the LoRa lamps' backlog would still look like silence. So the demo holds the engine back and starts
it once the run is live (``simulator.runner.Live``; ``AlertWatch``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from simulator.registry import api_base

if TYPE_CHECKING:
    from server.runtime import Running
    from server.settings import Settings
    from simulator.runner import Progress

# The fleet starts a little before the last sunset, so the demo opens with the lamps switching on
# and replays the night since at the demo's speed before running in real time.
BEFORE_SUNSET_S = 15 * 60
START_TIMEOUT_S = 300.0  # the first run initialises a PostgreSQL cluster
SERVER_STOP_TIMEOUT_S = 30.0
# How often the progress line's count of open alerts is refreshed.
ALERT_POLL_S = 5.0


class DemoError(Exception):
    pass


@dataclass
class ServerThread:
    """``server.runtime.serve(settings)`` on a daemon thread with its own event loop.

    With ``hold_faults`` the fault engine waits for ``start_faults`` (whatever the settings say).
    """

    settings: Settings
    hold_faults: bool = False
    error: BaseException | None = None
    running: Running | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _task: asyncio.Task[None] | None = None
    _faults: Future[None] | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self, timeout_s: float = START_TIMEOUT_S) -> Running:
        """Starts the server and waits until its API answers; raises DemoError if it cannot start."""
        self._thread = threading.Thread(target=self._main, name="terang-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise DemoError(f"the server did not start within {timeout_s:.0f} s")
        if self.running is None:
            raise DemoError(f"the server stopped while starting: {self.error!r}")
        return self.running

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start_faults(self) -> None:
        """Starts the held-back fault engine on the server's loop; once."""
        from server.faults.service import FaultService

        loop, running = self._loop, self.running
        if not self.hold_faults or loop is None or running is None or self._faults is not None:
            return
        service = FaultService(self.settings, database_url=running.database_url)
        self._faults = asyncio.run_coroutine_threadsafe(service.run(), loop)

    @property
    def faults_started(self) -> bool:
        return self._faults is not None

    def stop(self, timeout_s: float = SERVER_STOP_TIMEOUT_S) -> None:
        if self._faults is not None:
            self._faults.cancel()  # before the services it uses go
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop finished on its own meanwhile
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _main(self) -> None:
        from server.runtime import serve

        async def main() -> None:
            loop = asyncio.get_running_loop()
            self._loop = loop
            self._task = asyncio.current_task()
            ready: asyncio.Future[Running] = loop.create_future()

            def on_ready(fut: asyncio.Future[Running]) -> None:
                if not fut.cancelled():
                    self.running = fut.result()
                self._ready.set()

            ready.add_done_callback(on_ready)
            settings = self.settings
            if self.hold_faults:
                settings = settings.model_copy(update={"faults_enabled": False})
            await serve(settings, ready=ready)

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def wait_healthy(api_url: str, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    url = api_base(api_url) + "/health"
    while True:
        try:
            reply = httpx.get(url, timeout=2.0)
            if reply.status_code == 200:
                body: dict[str, Any] = reply.json()
                return body
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise DemoError(f"{url} did not answer within {timeout_s:.0f} s")
        time.sleep(0.25)


def demo_backfill_s(now: float) -> float:
    from simulator.districts import TIMIKA_LAT, TIMIKA_LON
    from simulator.schedule import last_sunset

    return now - last_sunset(now, TIMIKA_LAT, TIMIKA_LON) + BEFORE_SUNSET_S


def demo_settings(port: int | None) -> Settings:
    """The environment's settings, with an HTTP port that is free (8000 unless taken)."""
    from server.settings import Settings

    base = Settings()
    if port is None:
        port = base.http_port if port_is_free(base.http_host, base.http_port) else 0
    settings = base.model_copy(update={"http_port": port})
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    # Request logs would scroll the simulator's progress off the screen.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return settings


class AlertWatch:
    """The demo's view of the fault engine: starts it once the run is live, and counts the open alerts
    every ``every_s`` on its own thread (an HTTP call must not stall the simulator's progress callback)."""

    def __init__(self, server: ServerThread, api_url: str, token: str, *, every_s: float = ALERT_POLL_S) -> None:
        self.server = server
        self.open: int | None = None
        self._url = api_base(api_url) + "/alerts"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="terang-demo-alerts", daemon=True)

    def __enter__(self) -> AlertWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def progress(self, p: Progress) -> None:
        if p.live and not self.server.faults_started:
            self.server.start_faults()

    def _poll(self) -> None:
        with httpx.Client(headers=self._headers, timeout=self._every_s) as http:
            while not self._stop.is_set():
                try:
                    reply = http.get(self._url, params={"status": "open", "limit": 1})
                    if reply.status_code == 200:
                        self.open = int(reply.json()["total"])
                except (httpx.HTTPError, ValueError, KeyError):
                    pass  # the count stays as it was; the next poll tries again
                self._stop.wait(self._every_s)
