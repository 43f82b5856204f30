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
from typing import Any

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


@pytest.fixture(scope="session")
def site_ids(run_tag: str) -> list[str]:
    """Sites the test server ingests for; tests must publish under one of these."""
    return [f"s{run_tag}", f"s{run_tag}b", f"s{run_tag}c"]


@pytest.fixture(scope="session")
def server(database_url: str, mqtt_url: str, run_tag: str, site_ids: list[str], service_dir: Path) -> Iterator[Any]:
    """The real server (API, ingestion, maintenance) for this test run: ``server.api_url`` etc."""
    from server.settings import Settings
    from tests.support.background_server import BackgroundServer

    settings = Settings(
        environment="test",
        data_dir=service_dir / "server-data",
        database_url=database_url,
        mqtt_url=mqtt_url,
        mqtt_client_id=f"terang-test-{run_tag}",
        http_host="127.0.0.1",
        http_port=0,
        ingest_sites=site_ids,
        ingest_flush_ms=50,
        ack_min_interval_ms=100,
        maintenance_interval_s=5.0,
        faults_interval_s=1.0,
        # Every test logs in from 127.0.0.1 (the fuzzer with random passwords too): only the
        # per-username limit is exercised through the API; the per-client one has unit tests.
        login_max_failures_per_client=100_000,
    )
    background = BackgroundServer(settings)
    running = background.start()
    yield running
    background.stop()
    from tests.support.retained import clear_configs

    clear_configs(database_url, mqtt_url)


ROLES = ("admin", "operator", "technician", "crew", "viewer")
TEST_CREW = "crew-test"


@pytest.fixture(scope="session")
def role_tokens(server: Any, database_url: str, run_tag: str) -> dict[str, str]:
    """A user per role (``<role>-<run_tag>``; the crew user in crew ``crew-test``) and a token for each."""
    from tests.support.auth import create_token, create_user

    tokens = {}
    for role in ROLES:
        username = f"{role}-{run_tag}"
        create_user(database_url, username, [role], crew_id=TEST_CREW if role == "crew" else None)
        tokens[role] = create_token(database_url, username, name=f"{role} test client")
    return tokens


@pytest.fixture
def role_client(server: Any, role_tokens: dict[str, str]) -> Iterator[Any]:
    """``role_client("viewer")``: an HTTP client acting as that role; ``role_client(None)``: anonymous."""
    from tests.support.auth import client

    opened: list[Any] = []

    def make(role: str | None) -> Any:
        c = client(server.api_url, role_tokens[role] if role else None)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
def api(role_client: Any) -> Any:
    """An HTTP client for the running test server, authenticated as an administrator."""
    return role_client("admin")


@pytest.fixture
def anonymous_api(role_client: Any) -> Any:
    return role_client(None)


@pytest.fixture
def operator_api(role_client: Any) -> Any:
    return role_client("operator")


@pytest.fixture
def technician_api(role_client: Any) -> Any:
    return role_client("technician")


@pytest.fixture
def crew_api(role_client: Any) -> Any:
    return role_client("crew")


@pytest.fixture
def viewer_api(role_client: Any) -> Any:
    return role_client("viewer")


@pytest.fixture
def site_id(api: Any, site_ids: list[str]) -> str:
    """The run's main site, registered through the API."""
    from tests.support.factories import ensure_site

    ensure_site(api, site_ids[0])
    return site_ids[0]
