"""The test broker is shared: retained messages a test run left behind are cleared at its end."""

from __future__ import annotations

import psycopg
from paho.mqtt.client import Client
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec


def clear_configs(database_url: str, mqtt_url: str) -> None:
    """Clears the retained ``config`` the server published for every lamp of this run's database."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        lamps = conn.execute(
            "SELECT l.site_id, l.id FROM lamp_configs c JOIN lamps l ON l.key = c.lamp_key"
            " WHERE c.published_at IS NOT NULL").fetchall()
    if not lamps:
        return
    _, host, port, user, password = brokerurl.parse(mqtt_url)
    client = Client(CallbackAPIVersion.VERSION2)
    if user:
        client.username_pw_set(user, password)
    client.connect(host, port)
    client.loop_start()
    try:
        infos = [client.publish(codec.lamp_topic(site, lamp, codec.KIND_CONFIG), b"", qos=1, retain=True)
                 for site, lamp in lamps]
        for info in infos:
            info.wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
