"""Compiles and publishes each lamp's config, and re-sends what has not taken.

Any change to a site's schedule model bumps the site's generation and notifies 'terang_schedule'
(triggers, migration 0020); the pusher then re-compiles that site's lamps, gives a new version (cv)
to each lamp whose config changed, and publishes it retained at QoS 1 on the lamp's ``config`` topic,
so a lamp that is offline gets it when it returns. A version that is not reported in effect after
``schedule_resend_after_s`` (doubling per attempt) is published again together with a ``config``
command. Passes also run every ``schedule_interval_s`` for changes by the clock alone: an override
that ends, a new day. One server instance at a time does this (advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import aiomqtt
import psycopg

from firmware.device import codec
from server.background import keep_running
from server.mqtt import make_client, tls_files
from server.schedules import configs
from server.schedules.compile import digest, window_for, with_version
from server.schedules.load import load_site
from server.schedules.site_model import compile_site, local_date, tz_minutes
from server.settings import Settings

log = logging.getLogger(__name__)

# Advisory locks (class, hashtext(site)): one per site.
_LOCK_CLASS = 0x7465_0005
PUBLISH_WINDOW = 200
BUSY_RETRY_S = 1.0


@dataclass
class PassReport:
    sites_compiled: int = 0
    configs_changed: int = 0
    published: int = 0
    resent: int = 0
    busy_sites: int = 0  # another instance was doing them


async def recompile_site(
    conn: psycopg.AsyncConnection[Any], *, site_id: str, settings: Settings, now: dt.datetime
) -> tuple[int, dt.datetime]:
    """Re-compiles the site's lamps; returns (configs changed, when to re-compile by the clock)."""
    model = await load_site(conn, site_id=site_id, overrides_from=now)
    tz = tz_minutes(model.timezone, now)
    today = local_date(model.timezone, now)
    window = window_for(today, settings.schedule_horizon_days)
    have = await configs.stored(conn, site_id=site_id)
    unix = int(now.timestamp())
    rows: list[configs.NewConfig] = []
    for lamp, compiled in compile_site(model, now=unix, tz=tz, window=window, fallback_s=settings.schedule_fallback_s):
        if isinstance(compiled, ValueError):
            log.warning("lamp %s: schedule not compiled: %s", lamp.id, compiled)
            continue
        d = digest(compiled.config)
        old = have.get(lamp.key)
        in_effect = old.in_effect if old is not None else None
        if old is not None and old.digest == d and (in_effect is None or in_effect <= old.cv):
            continue
        # A lamp ignores versions at or below the one it runs, whatever the server remembers.
        cv = max(old.cv if old is not None else 0, in_effect or 0) + 1
        rows.append(configs.NewConfig(lamp.key, cv, with_version(compiled.config, cv), d, compiled.warnings))
    await configs.save(conn, rows=rows)
    zone = dt.timezone(dt.timedelta(minutes=tz))
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(), tzinfo=zone)
    ends = min((o.until for o in model.overrides if o.until > unix), default=None)
    recompile = tomorrow if ends is None else min(tomorrow, dt.datetime.fromtimestamp(ends, dt.UTC))
    return len(rows), recompile


async def _compile_if_pending(
    conn: psycopg.AsyncConnection[Any], *, site_id: str, settings: Settings, now: dt.datetime, report: PassReport
) -> None:
    row = await (await conn.execute(
        "SELECT generation FROM schedule_state WHERE site_id = %s"
        " AND (generation <> compiled_generation OR recompile_at <= %s)", (site_id, now))).fetchone()
    if row is None:
        return
    changed, recompile_at = await recompile_site(conn, site_id=site_id, settings=settings, now=now)
    await conn.execute("UPDATE schedule_state SET compiled_generation = %s, recompile_at = %s WHERE site_id = %s",
                       (row[0], recompile_at, site_id))
    report.sites_compiled += 1
    report.configs_changed += changed


async def publish_due(
    conn: psycopg.AsyncConnection[Any], client: aiomqtt.Client, *, site_id: str, settings: Settings,
    now: dt.datetime, report: PassReport,
) -> None:
    due = await configs.due(conn, sites=[site_id], now=now, resend_after_s=settings.schedule_resend_after_s,
                            resend_max_s=settings.schedule_resend_max_s)
    for start in range(0, len(due), PUBLISH_WINDOW):
        chunk = due[start : start + PUBLISH_WINDOW]
        ids: list[int] = []
        if any(d.resend for d in chunk):
            cur = await conn.execute("SELECT nextval('control_command_ids') FROM generate_series(1, %s)",
                                     (sum(d.resend for d in chunk),))
            ids = [int(r[0]) for r in await cur.fetchall()]
        jobs = []
        for item in chunk:
            cmd_id = ids.pop() if item.resend else None
            jobs.append(_publish(client, item, cmd_id, int(now.timestamp()) + int(settings.schedule_resend_after_s)))
        await asyncio.gather(*jobs)
        await configs.mark_published(conn, sent=[(d.lamp_key, d.cv) for d in chunk], at=now)
        report.published += len(chunk)
        report.resent += sum(d.resend for d in chunk)


async def _publish(client: aiomqtt.Client, item: configs.DueConfig, cmd_id: int | None, exp: int) -> None:
    topic = codec.lamp_topic(item.site_id, item.lamp_id, codec.KIND_CONFIG)
    await client.publish(topic, codec.encode_config(item.config), qos=1, retain=True)
    if cmd_id is not None:
        # Asks the lamp to re-read its retained config; over LoRa the gateway sends the delta.
        cmd = codec.encode_cmd({"id": cmd_id, "op": "config", "exp": exp, "cv": item.cv})
        await client.publish(codec.lamp_topic(item.site_id, item.lamp_id, codec.KIND_CMD), cmd, qos=1)


async def run_pass(
    conn: psycopg.AsyncConnection[Any], client: aiomqtt.Client, settings: Settings, *, now: dt.datetime | None = None
) -> PassReport:
    """One pass over the sites this instance handles. Each site is done under its own advisory lock,
    so instances that split the sites never wait for each other, and of two that share a site one
    does it (the other counts it in ``busy_sites`` and comes back soon)."""
    now = now or dt.datetime.now(dt.UTC)
    report = PassReport()
    cur = await conn.execute("SELECT site_id FROM schedule_state WHERE %(sites)s::text[] IS NULL"
                             " OR site_id = ANY(%(sites)s) ORDER BY site_id", {"sites": settings.ingest_sites or None})
    for (site_id,) in await cur.fetchall():
        got = await (await conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))",
                                        (_LOCK_CLASS, site_id))).fetchone()
        if not got or not got[0]:
            report.busy_sites += 1
            continue
        try:
            await _compile_if_pending(conn, site_id=site_id, settings=settings, now=now, report=report)
            await publish_due(conn, client, site_id=site_id, settings=settings, now=now, report=report)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (_LOCK_CLASS, site_id))
    return report


class SchedulePusher:
    def __init__(self, settings: Settings, *, database_url: str, mqtt_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.mqtt_url = mqtt_url
        self.client_id = f"{settings.mqtt_client_id}-control"
        self._wake = asyncio.Event()
        self.passes = 0
        self.last_report: PassReport | None = None

    def wake(self) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            await conn.execute("LISTEN terang_schedule")
            async for _ in conn.notifies():
                self._wake.set()

    async def _serve(self) -> None:
        listener = asyncio.create_task(self._listen(), name="schedule-listen")
        try:
            client = make_client(self.mqtt_url, self.client_id, persistent=False, tls=tls_files(self.settings))
            # Configs go out PUBLISH_WINDOW at a time on purpose; do not warn about the pending ones.
            client.pending_calls_threshold = PUBLISH_WINDOW + 10
            async with client, await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
                while True:
                    self._wake.clear()
                    started = time.monotonic()
                    report = await run_pass(conn, client, self.settings)
                    self.passes += 1
                    self.last_report = report
                    if report.configs_changed or report.published:
                        log.info("schedules: %s", report)
                    if listener.done():
                        listener.result()  # the listening connection failed: reconnect everything
                    # A site another instance was busy with may have changed since: look again soon.
                    wait = min(self.settings.schedule_interval_s, BUSY_RETRY_S if report.busy_sites else math.inf)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
                    # Bursts of changes (a bulk import) coalesce into one pass.
                    await asyncio.sleep(max(0.0, 0.2 - (time.monotonic() - started)))
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener

    async def run(self) -> None:
        await keep_running("schedule pusher", self._serve, (aiomqtt.MqttError, psycopg.Error, OSError))
