"""The LoRa path end to end: the real server ingesting from its own central broker, the simulated
radio medium, and ``terang gateway`` as a process between them. Lamps (the real firmware on the
MicroPython unix port, or the simulator's fleet) reach the server only through the air and the gateway.

The central broker is a private one: tests cut the gateway's backhaul and restart gateways, and the
server instance is a second one of the real server (same database, a site of its own).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from firmware.device import brokerurl
from gateway.medium import MediumSettings, MediumThread
from gateway.process import GatewayProcess
from server.embedded.broker import MosquittoBroker
from server.embedded.ports import free_port
from tests.firmware.tcpproxy import CuttableProxy

# Time on the medium runs this much faster than real time, and so does the firmware's world, so a
# lamp's 1 % duty cycle and its receive windows are the medium's.
SPEED = 20

_gateways = itertools.count(1)


@pytest.fixture(scope="session")
def lora_site(run_tag: str) -> str:
    return f"lo{run_tag}"


@pytest.fixture(scope="session")
def lora_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path_factory.mktemp("lora-central")).start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def lora_centre(database_url: str, lora_broker: MosquittoBroker, lora_site: str, run_tag: str,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real server with its schedule pusher: it compiles and publishes each lamp's config."""
    from server.settings import Settings
    from tests.support.background_server import BackgroundServer

    settings = Settings(
        environment="test",
        data_dir=tmp_path_factory.mktemp("lora-centre"),
        database_url=database_url,
        mqtt_url=lora_broker.url,
        mqtt_client_id=f"terang-loratest-{run_tag}",
        http_host="127.0.0.1",
        http_port=free_port(),
        ingest_sites=[lora_site],
        ingest_flush_ms=50,
        ack_min_interval_ms=100,
        maintenance_interval_s=5.0,
    )
    background = BackgroundServer(settings)
    running = background.start()
    yield running
    background.stop()


@pytest.fixture(scope="session")
def lora_api(lora_centre: Any, lora_site: str, role_tokens: dict[str, str]) -> Iterator[httpx.Client]:
    """An administrator's client for the LoRa centre (same database as the test server, so same users)."""
    from tests.support.auth import bearer
    from tests.support.factories import ensure_site

    with httpx.Client(base_url=lora_centre.api_url, timeout=30, headers=bearer(role_tokens["admin"])) as client:
        ensure_site(client, lora_site)
        yield client


@dataclass
class Air:
    """One gateway's radio world: the medium, the gateway process, and its cuttable backhaul."""

    medium: MediumThread
    gateway: GatewayProcess
    backhaul: CuttableProxy

    @property
    def medium_address(self) -> str:
        return f"127.0.0.1:{self.medium.port}"


@pytest.fixture
def air(lora_broker: MosquittoBroker, lora_site: str, lora_centre: Any, run_tag: str,
        tmp_path: Path) -> Iterator[Air]:
    _tls, host, port, _u, _p = brokerurl.parse(lora_broker.url)
    backhaul = CuttableProxy(host, port)
    medium = MediumThread(MediumSettings(speed=SPEED, seed=7)).start()
    gw = GatewayProcess(f"gw{run_tag}x{next(_gateways)}", lora_site, backhaul.url,
                        ("127.0.0.1", medium.port), tmp_path / "gateway", health_interval_s=1.0)
    try:
        gw.start()
        yield Air(medium, gw, backhaul)
    finally:
        gw.stop()
        medium.stop()
        backhaul.close()


def stored_seqs(database_url: str, lamp: str) -> list[int]:
    """Every stored reading's seq for the lamp, duplicates included, in order."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT r.seq FROM readings r JOIN lamps l ON l.key = r.lamp_key WHERE l.id = %s ORDER BY r.seq",
            (lamp,)).fetchall()
    return [int(s) for (s,) in rows]
