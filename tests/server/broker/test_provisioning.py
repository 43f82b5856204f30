"""The call provisioning tools make: credentials for a registered device, ready for its config."""

from __future__ import annotations

import httpx
import pytest

from server.auth.errors import NotFound
from server.broker.accounts import provision_device
from tests.support.factories import make_lamp


def test_provisioning_function_issues_credentials_for_a_registered_lamp(
    api: httpx.Client, site_id: str, database_url: str
) -> None:
    lamp = make_lamp(api, site_id)["id"]
    creds = provision_device(database_url, kind="lamp", device_id=lamp, broker_url="mqtts://mqtt.example.org")
    assert creds.client_id == f"{site_id}.{lamp}"
    assert creds.mqtt_url == f"mqtts://lamp.{site_id}.{lamp}:{creds.password}@mqtt.example.org:8883"


def test_provisioning_an_unregistered_lamp_names_the_field(database_url: str, server: object) -> None:
    with pytest.raises(NotFound) as refused:
        provision_device(database_url, kind="lamp", device_id="not-registered", broker_url="mqtt://h")
    assert refused.value.field == "device_id"
