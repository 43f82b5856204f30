"""Webhook deliveries to a real HTTP server: signed, retried after 5xx, given up after a 404, never
sent twice across a restart."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

import pytest

from server.alerts.event_cursor import EventCursor
from server.alerts.notifier import Notifier, PassReport
from tests.server.alerts.conftest import (
    CABINET_NAME,
    DISTRICT_NAME,
    LAMP_NAME,
    LAT,
    LON,
    SECRET,
    make_crew,
    notifications_of,
    open_alert,
    subscribe,
    until,
)

pytestmark = pytest.mark.timeout(60)


async def test_webhook_delivery_carries_a_valid_hmac_signature(
    db: Any, notify_site: str, lamp: dict[str, Any], notify_settings: Any, start_notifier: Any, webhook_receiver: Any
) -> None:
    receiver = webhook_receiver()
    crew = await make_crew(db, notify_site, language="en")
    await subscribe(db, crew, "webhook", receiver.url, secret=SECRET)
    alert_id, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
    start_notifier(notify_settings())

    got = (await until(receiver.received, what="the webhook"))[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), got.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got.headers["x-terang-signature"], expected)
    assert got.headers["x-terang-event-id"] == str(event_id)
    assert got.headers["content-type"] == "application/json"
    doc = json.loads(got.body)
    assert (doc["alert_id"], doc["event_id"], doc["action"], doc["fault_type"], doc["severity"]) == (
        alert_id, event_id, "opened", "lamp_failure", "critical")
    assert (doc["lamp"]["name"], doc["district"]["name"], doc["cabinet"]["name"]) == (
        LAMP_NAME, DISTRICT_NAME, CABINET_NAME)
    assert (doc["location"]["lat"], doc["location"]["lon"]) == (LAT, LON)
    assert doc["text"]["language"] == "en" and doc["text"]["subject"].startswith("[CRITICAL] Lamp failure")
    rows = await until(lambda: _sent(db, event_id), what="the row marked sent")
    assert rows[0]["attempts"] == 1


async def _sent(db: Any, event_id: int) -> list[dict[str, Any]]:
    return [r for r in await notifications_of(db, event_id=event_id) if r["status"] == "sent"]


async def test_webhook_is_retried_with_backoff_after_server_errors(
    db: Any, notify_site: str, lamp: dict[str, Any], notify_settings: Any, start_notifier: Any, webhook_receiver: Any
) -> None:
    receiver = webhook_receiver([500, 503])
    crew = await make_crew(db, notify_site)
    await subscribe(db, crew, "webhook", receiver.url, secret=SECRET)
    _, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
    start_notifier(notify_settings(notify_backoff_base_s=0.3, notify_backoff_max_s=2.0))

    rows = await until(lambda: _sent(db, event_id), what="delivery after two failures")
    got = receiver.received()
    assert len(got) == 3 and {r.headers["x-terang-event-id"] for r in got} == {str(event_id)}
    assert len({r.body for r in got}) == 1  # the same message each time
    assert rows[0]["attempts"] == 3
    first_wait, second_wait = (got[1].at - got[0].at), (got[2].at - got[1].at)
    assert 0.25 <= first_wait < second_wait  # 0.3 s, then 0.6 s


async def test_webhook_answering_404_is_dead_and_never_retried(
    db: Any, notify_site: str, lamp: dict[str, Any], notify_settings: Any, start_notifier: Any, webhook_receiver: Any
) -> None:
    receiver = webhook_receiver([404, 404, 404])
    crew = await make_crew(db, notify_site)
    await subscribe(db, crew, "webhook", receiver.url, secret=SECRET)
    _, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
    start_notifier(notify_settings())

    async def dead() -> list[dict[str, Any]]:
        return [r for r in await notifications_of(db, event_id=event_id) if r["status"] == "dead"]

    rows = await until(dead, what="the row given up")
    await asyncio.sleep(1.0)  # several backoff periods of these settings
    assert len(receiver.received()) == 1
    assert rows[0]["attempts"] == 1 and "HTTP 404" in rows[0]["last_error"]


async def test_a_restarted_notifier_sends_nothing_twice(
    db: Any, database_url: str, mqtt_url: str, notify_site: str, lamp: dict[str, Any], notify_settings: Any,
    start_notifier: Any, webhook_receiver: Any,
) -> None:
    receiver = webhook_receiver()
    crew = await make_crew(db, notify_site)
    await subscribe(db, crew, "webhook", receiver.url, secret=SECRET)
    _, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
    settings = notify_settings()
    first = start_notifier(settings)
    await until(lambda: _sent(db, event_id), what="the first delivery")
    await first.stop()

    # A notifier that died before it saved its cursor reads the same events again when it restarts.
    report = PassReport()
    await Notifier(settings, database_url=database_url, mqtt_url=mqtt_url).collect(
        db, EventCursor(floor=event_id - 1), report)
    assert report.queued == 1
    second = start_notifier(settings)
    await until(lambda: second.notifier.passes >= 5, what="passes of the restarted notifier")
    assert len(receiver.received()) == 1
    assert [r["status"] for r in await notifications_of(db, event_id=event_id)] == ["sent"]
