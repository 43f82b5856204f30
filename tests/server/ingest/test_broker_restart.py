"""Ingestion survives a broker restart mid-stream and loses nothing published with QoS 1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from server.embedded.broker import MosquittoBroker
from server.runtime import Running
from server.settings import Settings
from tests.conftest import RUN_TAG
from tests.support.background_server import BackgroundServer
from tests.support.factories import make_lamps
from tests.support.mqtt import Publisher, wait_for

LAMPS = 5
PER_LAMP = 80


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = MosquittoBroker(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def server_on_own_broker(
    own_broker: MosquittoBroker, database_url: str, site_ids: list[str], tmp_path: Path
) -> Iterator[Running]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=database_url,
                        mqtt_url=own_broker.url, mqtt_client_id=f"terang-restart-{RUN_TAG}", http_port=0,
                        ingest_sites=site_ids, ingest_flush_ms=50, ack_min_interval_ms=100)
    background = BackgroundServer(settings)
    yield background.start()
    background.stop()


def _reading(seq: int) -> bytes:
    return json.dumps({"seq": seq, "ts": int(time.time()) - 3600 + seq, "p": 60.0, "v": 220.0, "i": 0.28,
                       "pf": 0.97, "e": 100.0 + seq, "dim": 80}).encode()


def test_broker_restart_mid_stream_loses_no_reading(
    own_broker: MosquittoBroker, server_on_own_broker: Running, site_id: str, api: httpx.Client,
    database_url: str,
) -> None:
    lamps = make_lamps(api, site_id, LAMPS)
    publisher = Publisher(own_broker.url, f"restart-pub-{RUN_TAG}")
    messages = [(f"terang/v1/{site_id}/lamp/{lamp}/telemetry", _reading(seq))
                for seq in range(1, PER_LAMP + 1) for lamp in lamps]
    restarted = threading.Event()

    def restart_when_half_sent() -> None:
        wait_for(lambda: sent[0] >= len(messages) // 2, what="half the stream")
        own_broker.restart()
        restarted.set()

    sent = [0]
    restarter = threading.Thread(target=restart_when_half_sent)
    restarter.start()
    mids: list[int] = []
    for topic, payload in messages:
        mids.append(publisher.publish(topic, payload))
        sent[0] += 1
        time.sleep(0.002)
    restarter.join()
    assert restarted.is_set()
    publisher.wait_acked(mids)
    publisher.close()

    def stored() -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM readings r JOIN lamps l ON l.key = r.lamp_key WHERE l.id = ANY(%s)", (lamps,)
            ).fetchone()
            return int(row[0]) if row else 0

    wait_for(lambda: stored() == LAMPS * PER_LAMP, timeout=60, what=f"{LAMPS * PER_LAMP} stored readings")
    for lamp in lamps:
        state = api.get(f"/api/v1/lamps/{lamp}/state").json()
        assert state["ack_seq"] == PER_LAMP
