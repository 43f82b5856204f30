"""The gateway's world for end-to-end tests: its own central broker (restartable, persistent), the
real server ingesting from that broker into the run's database, and a local broker for Wi-Fi lamps.

The central broker is ours rather than the shared one because tests restart it; the server is a second
instance of the real one (same database, its own site), so "stored exactly once" is counted in
PostgreSQL exactly as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.embedded.broker import MosquittoBroker
from server.embedded.ports import free_port


@pytest.fixture(scope="session")
def gw_site(run_tag: str) -> str:
    return f"g{run_tag}"


@pytest.fixture(scope="session")
def central_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path_factory.mktemp("central-broker")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def local_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path_factory.mktemp("local-broker")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def centre(database_url: str, central_broker: MosquittoBroker, gw_site: str, run_tag: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real server, ingesting the gateway tests' site from the central broker."""
    from server.settings import Settings
    from tests.support.background_server import BackgroundServer

    settings = Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("gw-centre"),
        database_url=database_url,
        mqtt_url=central_broker.url,
        mqtt_client_id=f"terang-gwtest-{run_tag}",
        http_host="127.0.0.1",
        http_port=free_port(),
        ingest_sites=[gw_site],
        ingest_flush_ms=50,
        ack_min_interval_ms=100,
        maintenance_interval_s=5.0,
        # These tests publish the commands and configs they send through the gateway themselves.
        schedule_enabled=False,
    )
    background = BackgroundServer(settings)
    running = background.start()
    yield running
    background.stop()


@pytest.fixture(scope="session")
def centre_api(centre: Any, gw_site: str, role_tokens: dict[str, str]) -> Iterator[httpx.Client]:
    """An administrator's client for the centre (same database as the test server, so same users)."""
    from tests.support.auth import bearer
    from tests.support.factories import ensure_site

    with httpx.Client(base_url=centre.api_url, timeout=30, headers=bearer(role_tokens["admin"])) as client:
        ensure_site(client, gw_site)
        yield client


@pytest.fixture
def register_lamps(centre_api: httpx.Client, gw_site: str) -> Any:
    from tests.support.factories import make_lamps

    def make(n: int, radio: str = "wifi") -> list[str]:
        return make_lamps(centre_api, gw_site, n, radio=radio)

    return make


@pytest.fixture
def gw_dir(tmp_path: Path) -> Path:
    return tmp_path
