"""aiomqtt clients for the server, built from the broker URL in settings."""

from __future__ import annotations

import ssl
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.device import brokerurl

# Sessions of server clients outlive restarts: the broker keeps queueing QoS 1 messages for them.
SESSION_EXPIRY_S = 7 * 24 * 3600


def make_client(
    url: str,
    client_id: str,
    *,
    persistent: bool = True,
    mqtt5: bool = False,
    keepalive: int = 30,
    **kwargs: Any,
) -> aiomqtt.Client:
    tls, host, port, user, password = brokerurl.parse(url)
    tls_context = ssl.create_default_context() if tls else None
    if mqtt5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        return aiomqtt.Client(
            host, port, identifier=client_id, username=user, password=password,
            protocol=aiomqtt.ProtocolVersion.V5, clean_start=not persistent, properties=props,
            keepalive=keepalive, tls_context=tls_context, **kwargs,
        )
    return aiomqtt.Client(
        host, port, identifier=client_id, username=user, password=password,
        protocol=aiomqtt.ProtocolVersion.V311, clean_session=not persistent,
        keepalive=keepalive, tls_context=tls_context, **kwargs,
    )
