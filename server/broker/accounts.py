"""MQTT accounts: data access, and the provisioning call the firmware tools use.

Each lamp controller and gateway gets its own username and a random password at provisioning;
the password is returned once and stored only as a Mosquitto hash. Revoking marks the account;
the next ``terang broker config`` leaves it out of the password file and the broker refuses it
after its reload.

For ``terang firmware provision`` (and anything else that writes a device config)::

    from server.broker.accounts import provision_device
    creds = provision_device(database_url, kind="lamp", device_id="mimika-L00042",
                             broker_url="mqtts://mqtt.example.org:8883")
    creds.mqtt_url   # mqtts://lamp.mimika.mimika-L00042:<password>@mqtt.example.org:8883
    creds.client_id  # <site>.<lamp_id>, as docs/protocol.md section 1 asks

Calling it again rotates the password (the old one stops working at the next reload).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from firmware.device import brokerurl
from server.auth.errors import InvalidValue, NotFound
from server.broker import mosquitto_hash
from server.broker.acl import Account

KINDS = ("lamp", "gw")
_TABLE = {"lamp": "lamps", "gw": "gateways"}


@dataclass(frozen=True)
class DeviceCredentials:
    username: str
    password: str
    client_id: str
    site_id: str | None
    device_id: str | None
    mqtt_url: str  # the broker URL with the credentials in it, ready for a device config


@dataclass(frozen=True)
class AccountInfo:
    username: str
    kind: str
    site_id: str | None
    device_id: str | None
    created_at: datetime
    revoked_at: datetime | None


def username_for(kind: str, site_id: str, device_id: str) -> str:
    return f"{kind}.{site_id}.{device_id}"


def new_password() -> str:
    return secrets.token_urlsafe(24)  # URL-safe: goes into mqtt(s):// URLs unescaped


def url_with_credentials(broker_url: str, username: str, password: str) -> str:
    tls, host, port, _, _ = brokerurl.parse(broker_url)
    shown_host = f"[{host}]" if ":" in host else host
    return f"{'mqtts' if tls else 'mqtt'}://{username}:{password}@{shown_host}:{port}"


async def _upsert(conn: psycopg.AsyncConnection[Any], *, username: str, kind: str, site_id: str | None,
                  device_id: str | None, password: str) -> None:
    await conn.execute(
        "INSERT INTO mqtt_accounts (username, kind, site_id, device_id, password_hash) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, revoked_at = NULL,"
        " created_at = now()",
        (username, kind, site_id, device_id, mosquitto_hash.hash_password(password)))


async def issue(
    conn: psycopg.AsyncConnection[Any], *, kind: str, device_id: str, broker_url: str
) -> DeviceCredentials:
    """New credentials for a registered lamp or gateway (rotating any earlier ones)."""
    if kind not in KINDS:
        raise InvalidValue(f"kind: one of {', '.join(KINDS)}", field="kind")
    cur = await conn.execute(f"SELECT site_id FROM {_TABLE[kind]} WHERE id = %s", (device_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"{'lamp' if kind == 'lamp' else 'gateway'} {device_id!r} is not registered",
                       field="device_id")
    site_id = str(row[0])
    username = username_for(kind, site_id, device_id)
    password = new_password()
    await _upsert(conn, username=username, kind=kind, site_id=site_id, device_id=device_id, password=password)
    return DeviceCredentials(username, password, f"{site_id}.{device_id}", site_id, device_id,
                             url_with_credentials(broker_url, username, password))


async def issue_service(conn: psycopg.AsyncConnection[Any], *, name: str, broker_url: str) -> DeviceCredentials:
    """An account for a server process (publishes cmd/config/ack, reads everything)."""
    password = new_password()
    await _upsert(conn, username=name, kind="service", site_id=None, device_id=None, password=password)
    return DeviceCredentials(name, password, name, None, None, url_with_credentials(broker_url, name, password))


async def revoke(conn: psycopg.AsyncConnection[Any], *, username: str) -> AccountInfo:
    cur = await conn.execute("UPDATE mqtt_accounts SET revoked_at = coalesce(revoked_at, now()) WHERE username = %s",
                             (username,))
    if cur.rowcount == 0:
        raise NotFound(f"MQTT account {username!r} not found", field="username")
    return await get(conn, username=username)


async def get(conn: psycopg.AsyncConnection[Any], *, username: str) -> AccountInfo:
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT username, kind, site_id, device_id, created_at, revoked_at FROM mqtt_accounts WHERE username = %s",
        (username,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"MQTT account {username!r} not found", field="username")
    return AccountInfo(**row)


async def list_accounts(
    conn: psycopg.AsyncConnection[Any], *, site_id: str | None, limit: int, offset: int
) -> tuple[list[AccountInfo], int]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT username, kind, site_id, device_id, created_at, revoked_at, count(*) OVER () AS _total"
        " FROM mqtt_accounts WHERE (%(site)s::text IS NULL OR site_id = %(site)s)"
        " ORDER BY username LIMIT %(limit)s OFFSET %(offset)s", {"site": site_id, "limit": limit, "offset": offset})
    rows = await cur.fetchall()
    total = int(rows[0].pop("_total")) if rows else 0
    for r in rows:
        r.pop("_total", None)
    return [AccountInfo(**r) for r in rows], total


@dataclass(frozen=True)
class BrokerState:
    """Everything the password and ACL files are written from."""

    accounts: list[Account]
    hashes: list[tuple[str, str]]
    gateway_lamps: dict[tuple[str, str], list[str]]


async def broker_state(conn: psycopg.AsyncConnection[Any]) -> BrokerState:
    cur = await conn.execute("SELECT username, kind, site_id, device_id, password_hash FROM mqtt_accounts"
                             " WHERE revoked_at IS NULL ORDER BY username")
    rows = await cur.fetchall()
    accounts = [Account(r[0], r[1], r[2], r[3]) for r in rows]
    cur = await conn.execute("SELECT site_id, gateway_id, id FROM lamps WHERE gateway_id IS NOT NULL ORDER BY id")
    gateway_lamps: dict[tuple[str, str], list[str]] = {}
    for site_id, gw_id, lamp_id in await cur.fetchall():
        gateway_lamps.setdefault((site_id, gw_id), []).append(lamp_id)
    return BrokerState(accounts, [(r[0], r[4]) for r in rows], gateway_lamps)


def provision_device(database_url: str, *, kind: str, device_id: str, broker_url: str) -> DeviceCredentials:
    """Synchronous entry point for tools (``terang firmware provision``): issues credentials for a
    registered lamp (``kind="lamp"``) or gateway (``kind="gw"``). ``broker_url`` is the address the
    device will reach (settings.device_mqtt_url); the result's ``mqtt_url`` carries the credentials."""

    async def run() -> DeviceCredentials:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            return await issue(conn, kind=kind, device_id=device_id, broker_url=broker_url)

    return asyncio.run(run())
