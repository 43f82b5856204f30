"""Periodic storage jobs, run by exactly one server instance at a time (advisory lock).

Plain-PostgreSQL mode: create partitions ahead, recompute dirty hourly rollups, drop partitions
past retention. TimescaleDB mode: keep the retention policy in step with the setting (TimescaleDB's
own background jobs do compression, retention and aggregate refresh).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import psycopg

from server.auth import housekeeping
from server.db import partitions, retention, rollup
from server.db.migrate import storage_mode_of
from server.settings import Settings

log = logging.getLogger(__name__)

_LOCK_ID = 0x7465_7261_6E67_0002
RETENTION_EVERY_S = 3600.0


def run_once(database_url: str, settings: Settings, *, with_retention: bool) -> dict[str, int | str] | None:
    """One pass; returns what it did, or None when another instance holds the lock."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        got = conn.execute("SELECT pg_try_advisory_lock(%s)", (_LOCK_ID,)).fetchone()
        if not got or not got[0]:
            return None
        try:
            mode = storage_mode_of(conn)
            report: dict[str, int | str] = {"mode": mode}
            today = datetime.now(UTC).date()
            if mode == "postgres":
                report["partitions_created"] = partitions.ensure_ahead(
                    conn, today=today, ahead_days=settings.partitions_ahead_days
                )
                report["rollup_hours"] = rollup.refresh_dirty_hours(conn)
            if with_retention:
                report["retention"] = retention.apply_retention(
                    conn, mode=mode, retention_days=settings.retention_days, today=today
                )
                report["access_rows_purged"] = housekeeping.purge(conn, login_window_s=settings.login_window_s)
            return report
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))


async def run_forever(database_url: str, settings: Settings) -> None:
    last_retention = 0.0
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        with_retention = now - last_retention >= RETENTION_EVERY_S
        try:
            report = await asyncio.to_thread(run_once, database_url, settings, with_retention=with_retention)
            if report is not None and with_retention:
                last_retention = now
            log.debug("maintenance: %s", report)
        except psycopg.Error as exc:
            log.warning("maintenance pass failed: %s", exc)
        await asyncio.sleep(settings.maintenance_interval_s)
