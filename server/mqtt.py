"""aiomqtt clients for the server, built from the broker URL in settings."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from firmware.device import brokerurl

if TYPE_CHECKING:
    from server.settings import Settings

# Sessions of server clients outlive restarts: the broker keeps queueing QoS 1 messages for them.
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass(frozen=True)
class TlsFiles:
    """What an mqtts:// connection trusts and presents. No CA file: the system's trust store."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def tls_files(settings: Settings) -> TlsFiles:
    return TlsFiles(settings.mqtt_ca_file, settings.mqtt_client_cert_file, settings.mqtt_client_key_file)


def tls_context(files: TlsFiles | None) -> ssl.SSLContext:
    """Verifies the broker's certificate and host name (TLS 1.2 or later); never turned off."""
    files = files or TlsFiles()
    context = ssl.create_default_context(cafile=str(files.ca_file) if files.ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if files.cert_file is not None:
        context.load_cert_chain(str(files.cert_file), str(files.key_file) if files.key_file else None)
    return context


def make_client(
    url: str,
    client_id: str,
    *,
    persistent: bool = True,
    mqtt5: bool = False,
    keepalive: int = 30,
    tls: TlsFiles | None = None,
    **kwargs: Any,
) -> aiomqtt.Client:
    """``tls`` applies to mqtts:// URLs (see ``tls_files(settings)``)."""
    use_tls, host, port, user, password = brokerurl.parse(url)
    tls_context_ = tls_context(tls) if use_tls else None
    if mqtt5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if persistent:
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        return aiomqtt.Client(
            host, port, identifier=client_id, username=user, password=password,
            protocol=aiomqtt.ProtocolVersion.V5, clean_start=not persistent, properties=props,
            keepalive=keepalive, tls_context=tls_context_, **kwargs,
        )
    return aiomqtt.Client(
        host, port, identifier=client_id, username=user, password=password,
        protocol=aiomqtt.ProtocolVersion.V311, clean_session=not persistent,
        keepalive=keepalive, tls_context=tls_context_, **kwargs,
    )
