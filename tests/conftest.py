"""Real services for the test suite.

``TERANG_TEST_DATABASE_URL`` / ``TERANG_TEST_MQTT_URL`` point at running services (CI sets both);
without them the suite starts embedded PostgreSQL and a local broker (Mosquitto when on PATH,
else amqtt). Every run creates its own database and namespaces its MQTT topics by a run tag, so
concurrent runs on one machine do not see each other.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

RUN_TAG = secrets.token_hex(3)


@pytest.fixture(scope="session")
def run_tag() -> str:
    """A short random tag; put it in site ids and client ids so parallel runs never collide."""
    return RUN_TAG


@pytest.fixture(scope="session")
def service_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"terang-test-{RUN_TAG}-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server_url(service_dir: Path) -> str:
    url = os.environ.get("TERANG_TEST_DATABASE_URL")
    if url:
        return url
    from server.embedded.postgres import start_embedded_postgres

    return start_embedded_postgres(service_dir / "pgdata")


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    """A database created for this test run, dropped at its end."""
    name = f"terang_test_{RUN_TAG}_{os.getpid()}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield conninfo.make_conninfo(postgres_server_url, dbname=name)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def mqtt_url(service_dir: Path) -> Iterator[str]:
    url = os.environ.get("TERANG_TEST_MQTT_URL")
    if url:
        yield url
        return
    from server.embedded.broker import start_local_broker

    broker = start_local_broker(service_dir / "broker")
    yield broker.url
    broker.stop()
