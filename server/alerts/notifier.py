"""Turns alert history into messages for the crews that subscribed, and sends them.

Every ``alert_events`` row notifies 'terang_alerts' (trigger, migration 0030); the notifier wakes,
reads the new events after its cursor (``event_cursor.py``), and for each event of an alert assigned
to a crew makes one outbox row per enabled subscription of that crew whose rule matches
(``matching.py``), with the message frozen in it. It then sends the due rows of the sites it
handles: webhook, e-mail or MQTT; each attempt's outcome moves the row to sent, failed (tried again
after an exponential, jittered wait) or dead (``retry.py``). A pass also runs every
``notify_poll_s`` and when the next retry falls due, so nothing depends on a NOTIFY arriving.

Nothing is sent twice across restarts: rows are unique per (event, subscription) and a sent row is
never sent again. A crash between a receiver's 2xx and the row being marked sent can repeat that one
delivery; receivers de-duplicate on the event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import psycopg

from server.alerts import details, mail, matching, notice, outbox, retry, subscriptions, webhook
from server.alerts.event_cursor import EventCursor
from server.alerts.facts import AlertFacts
from server.alerts.mqtt_channel import PUBLISH_TIMEOUT_S, MqttChannel, crew_alert_topic
from server.alerts.retry import Outcome
from server.background import keep_running
from server.mqtt import tls_files
from server.settings import Settings

log = logging.getLogger(__name__)

EVENT_BATCH = 500
# Sent concurrently in one pass; a slow receiver holds up at most this many others, for its timeout.
DELIVERY_BATCH = 50
# How long a hole in the event ids (a transaction that took an id and has not committed) is waited for.
GAP_GRACE_S = 60.0
# Between passes when rows are due but held by another notifier.
MIN_WAIT_S = 0.05


@dataclass
class PassReport:
    events: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    more: bool = False  # a batch was full: run again at once


class Notifier:
    def __init__(self, settings: Settings, *, database_url: str, mqtt_url: str) -> None:
        self.settings = settings
        self.database_url = database_url
        self.mqtt_url = mqtt_url
        self.client_id = f"{settings.mqtt_client_id}-notify"
        self.policy = retry.Policy(max_attempts=settings.notify_max_attempts, base_s=settings.notify_backoff_base_s,
                                   max_s=settings.notify_backoff_max_s, jitter=settings.notify_backoff_jitter)
        self.smtp = _smtp_server(settings)
        self.sites = settings.ingest_sites or None
        self.skip_channels = [] if self.smtp is not None else ["email"]
        # A claimed row is left alone by other notifiers this long: enough for the slowest channel.
        self.lease_s = 2 * max(settings.notify_webhook_timeout_s, settings.smtp_timeout_s, PUBLISH_TIMEOUT_S) + 30
        self._wake = asyncio.Event()
        self.passes = 0
        self.last_report: PassReport | None = None

    def wake(self) -> None:
        self._wake.set()

    async def collect(self, conn: psycopg.AsyncConnection[Any], cursor: EventCursor, report: PassReport) -> None:
        """Makes the outbox rows of the events after the cursor."""
        ids = await outbox.event_ids_after(conn, floor=cursor.floor, skip=cursor.handled, limit=EVENT_BATCH)
        facts = await details.load(conn, event_ids=ids)
        crews = {alert.crew_id for _, alert in facts if alert.crew_id is not None}
        subs = await subscriptions.enabled_for_crews(conn, crew_ids=crews)
        rows = []
        for event, alert in facts:
            for sub in subs.get(alert.crew_id or "", []):
                if matching.matches(sub.rule, severity=alert.severity, fault_type=alert.fault_type,
                                    action=event.action, suppressed=alert.suppressed):
                    rows.append(outbox.NewNotification(
                        event_id=event.event_id, alert_id=alert.alert_id, site_id=alert.site_id,
                        subscription_id=sub.id, channel=sub.channel, target=_target(sub, alert),
                        payload=notice.notification(event, alert, sub.effective_language)))
        before = cursor.floor
        async with conn.transaction():
            await outbox.enqueue(conn, rows=rows)
            # Called with no ids too, so that a hole's grace can run out while nothing new arrives.
            cursor.mark(ids, time.monotonic())
            if cursor.floor != before:
                await outbox.save_cursor(conn, floor=cursor.floor)
        report.events += len(ids)
        report.queued += len(rows)
        report.more = report.more or len(ids) == EVENT_BATCH

    async def deliver(self, conn: psycopg.AsyncConnection[Any], http: httpx.AsyncClient, mqtt: MqttChannel,
                      report: PassReport) -> None:
        """Sends the due rows of this notifier's sites."""
        if self.smtp is None:
            await outbox.mark_waiting(conn, sites=self.sites, channel="email", reason=mail.NO_SERVER)
        rows = await outbox.claim(conn, sites=self.sites, skip_channels=self.skip_channels, limit=DELIVERY_BATCH,
                                  lease_s=self.lease_s)
        outcomes = await asyncio.gather(*(self._send(row, http, mqtt) for row in rows))
        for row, outcome in zip(rows, outcomes, strict=True):
            step = retry.after(self.policy, outcome, row.attempts, random.random())
            await outbox.record(conn, notification_id=row.id, step=step)
            if step.status == "sent":
                report.sent += 1
            elif step.status == "failed":
                report.failed += 1
            else:
                report.dead += 1
                log.warning("notification %s (%s to %s) given up: %s", row.id, row.channel, row.target, step.error)
        report.more = report.more or len(rows) == DELIVERY_BATCH

    async def _send(self, row: outbox.Claimed, http: httpx.AsyncClient, mqtt: MqttChannel) -> Outcome:
        if not row.enabled:
            return Outcome.dead("the subscription was disabled before this could be sent")
        try:
            if row.channel == "webhook":
                return await webhook.post(http, url=row.target, secret=row.secret or "", event_id=row.event_id,
                                          body=orjson.dumps(row.payload),
                                          timeout_s=self.settings.notify_webhook_timeout_s)
            if row.channel == "email" and self.smtp is not None:
                text = row.payload["text"]
                return await mail.send(self.smtp, to=row.target, subject=text["subject"], body=text["body"],
                                       event_id=row.event_id)
            if row.channel == "mqtt":
                return await mqtt.publish(row.target, orjson.dumps(row.payload))
        except Exception as exc:  # one bad delivery must not stop the others, nor the loop
            log.exception("notification %s (%s to %s) failed", row.id, row.channel, row.target)
            return Outcome.retry(f"{type(exc).__name__}: {exc}")
        return Outcome.dead(f"channel {row.channel!r} cannot be sent by this server")

    async def run_pass(self, conn: psycopg.AsyncConnection[Any], cursor: EventCursor, http: httpx.AsyncClient,
                       mqtt: MqttChannel) -> PassReport:
        report = PassReport()
        await self.collect(conn, cursor, report)
        await self.deliver(conn, http, mqtt, report)
        return report

    async def _listen(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn:
            await conn.execute("LISTEN terang_alerts")
            async for _ in conn.notifies():
                self._wake.set()

    async def _serve(self) -> None:
        listener = asyncio.create_task(self._listen(), name="notify-listen")
        mqtt = MqttChannel(self.mqtt_url, self.client_id, tls=tls_files(self.settings))
        try:
            async with (httpx.AsyncClient(follow_redirects=False) as http,
                        await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as conn):
                cursor = EventCursor(floor=await outbox.read_cursor(conn), grace_s=GAP_GRACE_S)
                while True:
                    self._wake.clear()
                    report = await self.run_pass(conn, cursor, http, mqtt)
                    self.passes += 1
                    self.last_report = report
                    if report.queued or report.sent or report.dead:
                        log.info("notifications: %s", report)
                    if listener.done():
                        listener.result()  # the listening connection failed: reconnect everything
                    if report.more:
                        continue
                    wait = self.settings.notify_poll_s
                    due = await outbox.seconds_to_next_due(conn, sites=self.sites, skip_channels=self.skip_channels)
                    if due is not None:
                        wait = max(MIN_WAIT_S, min(wait, due))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await listener
            await mqtt.close()

    async def run(self) -> None:
        await keep_running("notifier", self._serve, (psycopg.Error, OSError))


def _target(sub: subscriptions.Subscription, alert: AlertFacts) -> str:
    if sub.channel == "mqtt":
        return crew_alert_topic(alert.site_id, sub.crew_id, sub.target)
    return sub.target or ""


def _smtp_server(settings: Settings) -> mail.SmtpServer | None:
    if not settings.smtp_host:
        return None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password is not None else None
    return mail.SmtpServer(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                           starttls=settings.smtp_starttls, user=settings.smtp_user, password=password,
                           timeout_s=settings.smtp_timeout_s)
