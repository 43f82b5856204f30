"""Runs the whole server in one event loop: migrations, API, ingestion and maintenance."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import uvicorn
from psycopg_pool import AsyncConnectionPool

from server import maintenance, services
from server.alerts.notifier import Notifier
from server.api.main import create_app
from server.db.migrate import migrate
from server.faults.service import FaultService
from server.ingest.worker import IngestWorker
from server.schedules.pusher import SchedulePusher
from server.settings import Settings

log = logging.getLogger(__name__)

# Open alert streams (SSE) never end by themselves; at shutdown they are cut after this.
SHUTDOWN_GRACE_S = 5


@dataclass
class Running:
    """What ``serve`` exposes to whoever started it (demo, tests) once it is ready."""

    database_url: str
    mqtt_url: str
    api_url: str
    storage_mode: str
    ingest: IngestWorker | None


async def serve(settings: Settings, *, ready: asyncio.Future[Running] | None = None) -> None:
    """Runs until cancelled. ``ready`` receives the resolved URLs once the API answers."""
    resolved = await asyncio.to_thread(services.resolve, settings)
    try:
        mode, applied = await asyncio.to_thread(migrate, resolved.database_url, storage_mode=settings.storage_mode)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        pool = AsyncConnectionPool(resolved.database_url, min_size=1, max_size=10, open=False,
                                   kwargs={"autocommit": True})
        await pool.open(wait=True)
        try:
            await _run(settings, resolved, mode, pool, ready)
        finally:
            await pool.close()
    finally:
        resolved.stop()


async def _run(
    settings: Settings,
    resolved: services.Services,
    mode: str,
    pool: AsyncConnectionPool,
    ready: asyncio.Future[Running] | None,
) -> None:
    app = create_app(settings, database_url=resolved.database_url, pool=pool)
    worker = None
    if settings.ingest_enabled:
        worker = IngestWorker(settings, database_url=resolved.database_url, mqtt_url=resolved.mqtt_url)
    app.state.ingest = worker
    pusher = None
    if settings.schedule_enabled:
        pusher = SchedulePusher(settings, database_url=resolved.database_url, mqtt_url=resolved.mqtt_url)
    app.state.schedules = pusher
    faults = FaultService(settings, database_url=resolved.database_url) if settings.faults_enabled else None
    app.state.faults = faults
    notifier = None
    if settings.notify_enabled:
        notifier = Notifier(settings, database_url=resolved.database_url, mqtt_url=resolved.mqtt_url)
    app.state.notifier = notifier
    https = settings.https_cert_file is not None
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="warning",
                            lifespan="on", access_log=False, timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
                            ssl_certfile=str(settings.https_cert_file) if https else None,
                            ssl_keyfile=str(settings.https_key_file) if https else None)
    server = uvicorn.Server(config)
    tasks: list[asyncio.Task[None]] = []
    try:
        tasks.append(asyncio.create_task(server.serve(), name="api"))
        if worker is not None:
            tasks.append(asyncio.create_task(worker.run(), name="ingest"))
        tasks.append(asyncio.create_task(maintenance.run_forever(resolved.database_url, settings),
                                         name="maintenance"))
        if pusher is not None:
            tasks.append(asyncio.create_task(pusher.run(), name="schedules"))
        if faults is not None:
            tasks.append(asyncio.create_task(faults.run(), name="faults"))
        if notifier is not None:
            tasks.append(asyncio.create_task(notifier.run(), name="notify"))
        while not server.started:
            if tasks[0].done():
                tasks[0].result()  # the API failed to start (port taken...): raise it
            await asyncio.sleep(0.05)
        if worker is not None:
            await worker.ready.wait()
        port = settings.http_port
        if port == 0:
            port = server.servers[0].sockets[0].getsockname()[1]
        api_url = f"{'https' if https else 'http'}://{settings.http_host}:{port}"
        log.info("Terang API on %s (storage: %s)", api_url, mode)
        if ready is not None and not ready.done():
            ready.set_result(Running(resolved.database_url, resolved.mqtt_url, api_url, mode, worker))
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        server.should_exit = True
        for task in tasks[1:]:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
