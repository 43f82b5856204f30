"""aiomqtt clients for the gateway's two brokers, with persistent sessions and manual acknowledgement.

Manual acknowledgement is what makes "stored before acknowledged" true: paho sends the PUBACK for a
QoS 1 message only when we call :func:`ack`, after the SQLite commit, so a message that was in the
gateway's memory when it died is redelivered by the broker. aiomqtt 2 does not expose paho's switch
yet (aiomqtt issue #345 / PR #346), so we reach the paho client underneath.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import aiomqtt

from firmware.device import brokerurl

# Generous: a slow broker under a replay burst must not look like a dead link. Pass it to publish().
PUBLISH_TIMEOUT_S = 60.0
# A connection attempt the network swallows (a 4G link that accepts TCP and then goes silent) must
# not hold up the next attempt for long; aiomqtt uses the client's timeout for the CONNACK wait.
CONNECT_TIMEOUT_S = 10.0


def make_client(url: str, client_id: str, *, username: str | None = None, password: str | None = None,
                keepalive: int = 30, will: aiomqtt.Will | None = None, manual_ack: bool = True,
                max_inflight: int = 100, connect_timeout: float = CONNECT_TIMEOUT_S,
                ca_file: Path | None = None) -> aiomqtt.Client:
    """``ca_file``: for mqtts://, the CA to verify the broker against (default: the system's)."""
    tls, host, port, url_user, url_password = brokerurl.parse(url)
    client = aiomqtt.Client(
        host, port,
        identifier=client_id,
        username=username if username is not None else url_user,
        password=password if password is not None else url_password,
        clean_session=False,
        keepalive=keepalive,
        will=will,
        tls_context=ssl.create_default_context(cafile=str(ca_file) if ca_file else None) if tls else None,
        max_inflight_messages=max_inflight,
        timeout=connect_timeout,
    )
    if manual_ack:
        client._client.manual_ack_set(True)
    # Many publishes in flight at once is the point of batching and pipelining, not a leak.
    client.pending_calls_threshold = 1_000_000
    return client


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Sends the PUBACK for a message received with manual acknowledgement on."""
    if message.qos > 0:
        client._client.ack(message.mid, message.qos)
