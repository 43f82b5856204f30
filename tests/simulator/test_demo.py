"""The demo's plumbing: the server on its own thread, health, a fleet through it, a clean stop."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psycopg
import pytest
from psycopg import conninfo, sql

from server.auth.bootstrap import ensure_demo_login
from server.settings import Settings
from simulator.demo import ServerThread, demo_backfill_s, demo_settings, wait_healthy
from simulator.districts import TIMIKA_LAT, TIMIKA_LON
from simulator.runner import SimulationConfig, run
from simulator.schedule import AllNightFullOn


@pytest.fixture
def demo_database(postgres_server_url: str, run_tag: str) -> Iterator[str]:
    """A database of its own: the demo's server must not share the test server's."""
    name = f"terang_test_{run_tag}_demo"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield conninfo.make_conninfo(postgres_server_url, dbname=name)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_demo_server_ingests_a_fleet_and_stops_when_asked(
    demo_database: str, mqtt_url: str, sim_site: str, run_tag: str, tmp_path: Path, fake_ingest
) -> None:
    settings = Settings(environment="test", data_dir=tmp_path, database_url=demo_database, mqtt_url=mqtt_url,
                        mqtt_client_id=f"terang-demo-test-{run_tag}", http_port=0, ingest_sites=[sim_site],
                        ingest_flush_ms=50, ack_min_interval_ms=100)
    server = ServerThread(settings)
    running = server.start()
    try:
        assert wait_healthy(running.api_url)["status"] == "ok"
        login = ensure_demo_login(running.database_url)
        watcher = fake_ingest(ack=False)  # only here to clear the retained acks and states afterwards
        summary = run(SimulationConfig(mqtt_url=mqtt_url, api_url=running.api_url, api_token=login.token,
                                       site_id=sim_site, lamps=5,
                                       interval_s=60, speed=100_000.0, duration_s=300.0, drain_s=30.0))
        assert summary.stats.acked == summary.stats.readings == 25
        watcher.retained_topics.update(f"terang/v1/{sim_site}/lamp/{lamp}/ack" for lamp in summary.topology.lamps.ids)
    finally:
        server.stop()
    assert not server.alive()
    assert server.error is None


def test_demo_takes_a_free_port_when_8000_is_busy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TERANG_DATA_DIR", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        monkeypatch.setenv("TERANG_HTTP_PORT", str(busy.getsockname()[1]))
        assert demo_settings(None).http_port == 0
    assert demo_settings(8123).http_port == 8123


def test_demo_opens_just_before_the_last_sunset() -> None:
    now = 1_764_000_000.0
    start = now - demo_backfill_s(now)
    sched = AllNightFullOn(np.array([TIMIKA_LON]), TIMIKA_LAT, TIMIKA_LON)
    levels = [int(sched.levels(np.array([0]), np.array([t]))[0]) for t in (start, start + 30 * 60)]
    assert levels == [0, 100]
    assert now - start < 86_400 + 3600


def test_demo_login_is_an_administrator_with_a_new_password_each_run(api: httpx.Client, database_url: str) -> None:
    first = ensure_demo_login(database_url)
    second = ensure_demo_login(database_url)
    assert first.password != second.password

    def login(password: str) -> httpx.Response:
        return api.post("/api/v1/auth/login", json={"username": "demo", "password": password}, headers={})

    assert login(first.password).status_code == 401
    r = login(second.password)
    assert r.status_code == 200 and r.json()["user"]["roles"] == ["admin"]
