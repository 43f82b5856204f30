"""The simulator against the real server: registration through the API, telemetry through the broker,
every reading stored once and acknowledged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec
from simulator.runner import RunSummary, SimulationConfig, run

LAMPS = 12
READINGS_PER_LAMP = 10


@pytest.fixture(scope="module")
def e2e_site(site_ids: list[str]) -> str:
    return site_ids[2]


@pytest.fixture(scope="module")
def first_run(server: Any, mqtt_url: str, e2e_site: str, role_tokens: dict[str, str]) -> Iterator[RunSummary]:
    summary = run(SimulationConfig(mqtt_url=mqtt_url, api_url=server.api_url, api_token=role_tokens["technician"],
                                   site_id=e2e_site, lamps=LAMPS,
                                   interval_s=60, speed=100_000.0, duration_s=60.0 * READINGS_PER_LAMP, drain_s=30.0))
    yield summary
    _clear_retained(mqtt_url, e2e_site, summary.topology.lamps.ids)


def _clear_retained(mqtt_url: str, site: str, lamp_ids: list[str]) -> None:
    """The test broker is shared: leave no retained acks or states behind."""
    _, host, port, _, _ = brokerurl.parse(mqtt_url)
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(host, port)
    client.loop_start()
    infos = [client.publish(codec.lamp_topic(site, lamp, kind), b"", qos=1, retain=True)
             for lamp in lamp_ids for kind in (codec.KIND_ACK, codec.KIND_STATE)]
    for info in infos:
        info.wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def test_whole_topology_is_registered_through_the_api(first_run: RunSummary, api: Any, e2e_site: str) -> None:
    reply = api.get("/api/v1/lamps", params={"site_id": e2e_site, "limit": 1000}).json()
    ours = {lamp["id"] for lamp in reply["items"]} & set(first_run.topology.lamps.ids)
    assert ours == set(first_run.topology.lamps.ids)
    assert first_run.registration is not None
    assert first_run.registration.created.get("districts", 0) + first_run.registration.existing.get(
        "districts", 0) == 18


def test_every_reading_is_acknowledged(first_run: RunSummary) -> None:
    s = first_run.stats
    assert s.readings == LAMPS * READINGS_PER_LAMP
    assert s.acked == s.readings
    assert s.unacked == 0
    assert first_run.drained


def test_every_reading_is_stored_exactly_once(first_run: RunSummary, api: Any) -> None:
    for lamp_id in first_run.topology.lamps.ids:
        page = api.get(f"/api/v1/lamps/{lamp_id}/readings",
                       params={"start": _iso(first_run.sim_start - 1), "end": _iso(first_run.sim_end + 1)}).json()
        assert sorted(r["seq"] for r in page["readings"]) == list(range(1, READINGS_PER_LAMP + 1)), lamp_id


def test_each_lamps_watermark_is_its_last_sequence(first_run: RunSummary, api: Any) -> None:
    for lamp_id in first_run.topology.lamps.ids:
        state = api.get(f"/api/v1/lamps/{lamp_id}/state").json()
        assert state["ack_seq"] == READINGS_PER_LAMP, lamp_id
        assert state["latest"]["seq"] == READINGS_PER_LAMP


def test_second_run_reuses_the_registration_and_continues_sequences(
    first_run: RunSummary, server: Any, mqtt_url: str, e2e_site: str, api: Any, role_tokens: dict[str, str]
) -> None:
    again = run(SimulationConfig(mqtt_url=mqtt_url, api_url=server.api_url, api_token=role_tokens["technician"],
                                 site_id=e2e_site, lamps=LAMPS,
                                 interval_s=60, speed=100_000.0, duration_s=180.0, drain_s=30.0))
    assert again.registration is not None
    assert again.registration.created == {}
    assert again.registration.lamps_created == 0
    assert again.stats.acked == again.stats.readings == LAMPS * 3
    lamp_id = again.topology.lamps.ids[0]
    assert api.get(f"/api/v1/lamps/{lamp_id}/state").json()["ack_seq"] == READINGS_PER_LAMP + 3
