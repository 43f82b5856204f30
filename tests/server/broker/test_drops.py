"""The broker's drop counter ($SYS) becomes a warning and a counter in the ingestion statistics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from server.broker.drops import DropWatch
from server.embedded.broker import MosquittoBroker
from server.runtime import Running
from server.settings import Settings
from tests.conftest import RUN_TAG
from tests.support.background_server import BackgroundServer
from tests.support.mqtt import Publisher, wait_for


@pytest.mark.parametrize(("values", "new"), [
    ([b"7"], [0]),  # the first value is a baseline
    ([b"7", b"7", b"10"], [0, 0, 3]),
    ([b"7", b"2"], [0, 2]),  # the counter went down: the broker restarted and dropped 2 since
    ([b"7", b"junk", b"9"], [0, 0, 2]),
    ([b"-1", b"4", b"5"], [0, 0, 1]),
])
def test_drop_watch_turns_the_counter_into_increments(values: list[bytes], new: list[int]) -> None:
    watch = DropWatch()
    assert [watch.offer(v) for v in values] == new


@pytest.fixture
def tight_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A broker that queues at most 5 messages per client and publishes $SYS every second."""
    broker = MosquittoBroker(tmp_path / "broker", extra_conf="max_queued_messages 5\nsys_interval 1\n").start()
    yield broker
    broker.stop()


@pytest.fixture
def server_on_tight_broker(tight_broker: MosquittoBroker, database_url: str, tmp_path: Path) -> Iterator[Running]:
    settings = Settings(environment="test", data_dir=tmp_path / "data", database_url=database_url,
                        mqtt_url=tight_broker.url, mqtt_client_id=f"terang-drops-{RUN_TAG}", http_port=0,
                        ingest_sites=[f"drops{RUN_TAG}"], ingest_flush_ms=50)
    background = BackgroundServer(settings)
    yield background.start()
    background.stop()


def test_ingestion_reports_messages_the_broker_dropped(
    tight_broker: MosquittoBroker, server_on_tight_broker: Running, api: httpx.Client
) -> None:
    before = api.get("/api/v1/stats/ingest").json()["broker_dropped"]
    # An absent subscriber with a persistent session: its queue overflows at the sixth message.
    absent = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"absent-{RUN_TAG}", clean_session=False)
    absent.connect("127.0.0.1", tight_broker.port)
    absent.subscribe("slow/#", qos=1)
    absent.loop(1.0)
    absent.disconnect()
    time.sleep(1.5)  # a first $SYS value as the worker's baseline
    publisher = Publisher(tight_broker.url, f"flood-{RUN_TAG}")
    try:
        publisher.publish_all([("slow/x", b"%d" % n) for n in range(20)])
    finally:
        publisher.close()
    dropped = wait_for(lambda: api.get("/api/v1/stats/ingest").json()["broker_dropped"] - before >= 15,
                       timeout=20, what="the broker's drops in /stats/ingest")
    assert dropped
    worker = server_on_tight_broker.ingest
    assert worker is not None and worker.stats.broker_dropped >= 15
