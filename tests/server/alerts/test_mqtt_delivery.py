"""MQTT deliveries on the crew's alerts topic, read by a real subscriber."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.server.alerts.conftest import LAMP_NAME, make_crew, open_alert, subscribe, until
from tests.support.mqtt import Subscriber

pytestmark = pytest.mark.timeout(60)


async def test_mqtt_notification_reaches_a_subscriber_of_the_crew_topic(
    db: Any, mqtt_url: str, run_tag: str, notify_site: str, lamp: dict[str, Any], notify_settings: Any,
    start_notifier: Any,
) -> None:
    crew = await make_crew(db, notify_site, language="en")
    await subscribe(db, crew, "mqtt", None)
    topic = f"terang/v1/{notify_site}/crew/{crew}/alerts"
    app = Subscriber(mqtt_url, f"crew-app-{run_tag}-{crew}", [topic])
    try:
        start_notifier(notify_settings())
        alert_id, event_id = await open_alert(db, notify_site, lamp["id"], crew_id=crew)
        got = await until(app.received, what="the MQTT message")
    finally:
        app.close()
    assert got[0][0] == topic
    doc = json.loads(got[0][1])
    assert (doc["alert_id"], doc["event_id"], doc["crew_id"]) == (alert_id, event_id, crew)
    assert doc["lamp"]["name"] == LAMP_NAME and doc["text"]["language"] == "en"


async def test_mqtt_subscription_with_a_suffix_publishes_below_the_crew_topic(
    db: Any, mqtt_url: str, run_tag: str, notify_site: str, lamp: dict[str, Any], notify_settings: Any,
    start_notifier: Any,
) -> None:
    crew = await make_crew(db, notify_site)
    await subscribe(db, crew, "mqtt", "critical", min_severity="critical")
    topic = f"terang/v1/{notify_site}/crew/{crew}/alerts/critical"
    app = Subscriber(mqtt_url, f"crew-app-{run_tag}-{crew}", [topic])
    try:
        start_notifier(notify_settings())
        await open_alert(db, notify_site, lamp["id"], crew_id=crew)
        got = await until(app.received, what="the MQTT message")
    finally:
        app.close()
    assert got[0][0] == topic
