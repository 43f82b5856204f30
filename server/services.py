"""Resolves the database and broker the server uses: configured URLs, else embedded defaults."""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import conninfo, sql

from server.embedded.broker import start_local_broker
from server.embedded.ports import free_port
from server.embedded.postgres import start_embedded_postgres
from server.settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_DATABASE = "terang"
DEFAULT_MQTT_PORT = 1883


@dataclass
class Services:
    database_url: str
    mqtt_url: str
    embedded: list[str] = field(default_factory=list)
    _brokers: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for broker in self._brokers:
            with contextlib.suppress(Exception):
                broker.stop()
        self._brokers.clear()


def ensure_database(server_url: str, name: str) -> str:
    """Creates database ``name`` on the server if missing; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return conninfo.make_conninfo(server_url, dbname=name)


def _port_is_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def resolve(settings: Settings) -> Services:
    embedded: list[str] = []
    brokers: list[Any] = []
    database_url = settings.database_url
    if database_url is None:
        server_url = start_embedded_postgres(settings.data_dir / "pgdata")
        database_url = ensure_database(server_url, EMBEDDED_DATABASE)
        embedded.append("postgres")
        log.info("embedded PostgreSQL in %s", settings.data_dir / "pgdata")
    mqtt_url = settings.mqtt_url
    if mqtt_url is None:
        port = DEFAULT_MQTT_PORT if _port_is_free(DEFAULT_MQTT_PORT) else free_port()
        broker = start_local_broker(settings.data_dir / "broker", port)
        brokers.append(broker)
        mqtt_url = broker.url
        embedded.append(f"broker ({type(broker).__name__})")
    return Services(database_url, mqtt_url, embedded, brokers)
