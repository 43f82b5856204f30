"""Runs the fault engine in the server: one tick per ``faults_interval_s`` on the wall clock.

One server instance per set of sites runs it (an advisory lock on the sites it handles, held by its
connection); the others stand by and take over when that connection goes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any

import psycopg

from server.background import keep_running
from server.faults.engine import FaultEngine, TickReport
from server.settings import Settings

log = logging.getLogger(__name__)

_LOCK_CLASS = 0x7465_0006


class FaultService:
    def __init__(self, settings: Settings, *, database_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.ticks = 0
        self.last_report: TickReport | None = None
        self.leading = False

    async def _serve(self) -> None:
        # A new connection holds no lock: lead again only once it takes it.
        self.leading = False
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            engine = FaultEngine(conn, self.settings)
            while True:
                if not self.leading:
                    sites = ",".join(sorted(self.settings.ingest_sites)) or "*"
                    cur = await conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, sites))
                    row: Any = await cur.fetchone()
                    self.leading = bool(row and row[0])
                if self.leading:
                    report = await engine.tick(dt.datetime.now(dt.UTC))
                    self.ticks += 1
                    self.last_report = report
                    if report.opened or report.resolved or report.reopened or report.escalated:
                        log.info("faults: %d opened, %d re-opened, %d resolved, %d escalated (%.0f ms)",
                                 report.opened, report.reopened, report.resolved, report.escalated, report.total_ms)
                await asyncio.sleep(self.settings.faults_interval_s)

    async def run(self) -> None:
        await keep_running("fault engine", self._serve, (psycopg.Error, OSError))
