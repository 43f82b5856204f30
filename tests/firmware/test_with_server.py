"""The real firmware against the real server (API + ingestion + ack watermarks) on a real broker:
readings stored exactly once, journals trimmed by the server's acknowledgement."""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from firmware.device import brokerurl
from firmware.tools.simrun import SimLamp
from tests.firmware.conftest import Observer, timika, world_control
from tests.firmware.tcpproxy import CuttableProxy
from tests.support.factories import make_lamp as register_lamp
from tests.support.topology_api import bearer as _bearer_of


@pytest.fixture
def server_site(site_id: str, mqtt_url: str) -> Iterator[tuple[str, Observer]]:
    obs = Observer(mqtt_url, site_id).start()
    yield site_id, obs
    obs.clear_retained()
    obs.stop()


def stored(api: httpx.Client, lamp: str) -> list[int]:
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10)).isoformat()
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    r = api.get(f"/api/v1/lamps/{lamp}/readings", params={"start": start, "end": end, "limit": 100000})
    r.raise_for_status()
    return [int(x["seq"]) for x in r.json()["readings"]]


def server_lamp(make_lamp: Callable[..., SimLamp], api: httpx.Client, site: str, obs: Observer,
                broker: str | None = None, speed: int = 20) -> tuple[str, SimLamp]:
    # The server compiles and publishes the lamp's config itself (retained); a reading every 10 s.
    lamp_id = register_lamp(api, site, report_interval_s=10)["id"]
    lamp = make_lamp(lamp_id, broker=broker, site=site, control=world_control(timika(1, 20), speed))
    return lamp_id, lamp


def wait_stored(api: httpx.Client, lamp: str, pred: Callable[[list[int]], bool], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    seqs: list[int] = []
    while time.monotonic() < deadline:
        seqs = stored(api, lamp)
        if pred(seqs):
            return seqs
        time.sleep(0.3)
    raise AssertionError(f"server holds seqs {seqs[:5]}...{seqs[-5:]} ({len(seqs)})")


def test_firmware_readings_are_stored_by_the_server(
    make_lamp: Callable[..., SimLamp], api: httpx.Client, server_site: tuple[str, Observer]
) -> None:
    site, obs = server_site
    lamp_id, lamp = server_lamp(make_lamp, api, site, obs)
    seqs = wait_stored(api, lamp_id, lambda s: len(s) >= 5, 30)
    assert sorted(seqs) == list(range(1, len(seqs) + 1))
    st = lamp.wait_status(lambda s: s.get("wm", 0) >= 5, 20)  # the server's watermark reached the lamp
    assert st["jp"] <= 2
    state = api.get(f"/api/v1/lamps/{lamp_id}/state").json()
    assert state["ack_seq"] >= 5 and state["latest"]["dim"] == 100
    assert state["latest"]["cv"] == lamp.status()["cv"] is not None  # the server's config is in effect


def test_broker_unreachable_readings_arrive_exactly_once_and_the_journal_is_trimmed(
    make_lamp: Callable[..., SimLamp], api: httpx.Client, server_site: tuple[str, Observer], mqtt_url: str
) -> None:
    site, obs = server_site
    _tls, host, port, _u, _p = brokerurl.parse(mqtt_url)
    proxy = CuttableProxy(host, port)
    try:
        lamp_id, lamp = server_lamp(make_lamp, api, site, obs, broker=proxy.url, speed=40)
        wait_stored(api, lamp_id, lambda s: len(s) >= 3, 30)
        proxy.cut()
        during = lamp.wait_status(lambda s: not s["connected"] and s["jp"] >= 6, 30)
        assert during["level"] == 100  # still on schedule
        held = len(stored(api, lamp_id))
        proxy.restore()
        end = lamp.wait_status(lambda s: s["connected"] and s["jp"] == 0 and s["wm"] >= during["next_seq"], 60)
        seqs = wait_stored(api, lamp_id, lambda s: len(s) >= end["wm"], 30)
        assert len(seqs) == len(set(seqs))  # stored exactly once
        assert sorted(seqs)[: end["wm"]] == list(range(1, end["wm"] + 1))  # nothing lost
        assert held < end["wm"]
    finally:
        proxy.close()


def test_killed_mid_journal_nothing_lost_or_duplicated_in_storage(
    make_lamp: Callable[..., SimLamp], api: httpx.Client, server_site: tuple[str, Observer]
) -> None:
    site, obs = server_site
    lamp_id, lamp = server_lamp(make_lamp, api, site, obs, speed=40)
    rng = random.Random(11)
    wait_stored(api, lamp_id, lambda s: len(s) >= 2, 30)
    for _ in range(3):
        time.sleep(rng.uniform(0.3, 0.8))
        lamp.kill()
    end = lamp.wait_status(lambda s: s.get("connected") and s["jp"] == 0 and s["next_seq"] > 10, 40)
    seqs = wait_stored(api, lamp_id, lambda s: len(s) >= end["wm"], 30)
    assert len(seqs) == len(set(seqs))
    assert sorted(seqs)[: end["wm"]] == list(range(1, end["wm"] + 1))
    r: Any = obs  # the readings the server stored are the ones the lamp sent, value for value
    sent = {x[0]: x for x in r.readings(lamp_id)}
    latest = api.get(f"/api/v1/lamps/{lamp_id}/state").json()["latest"]
    assert sent[latest["seq"]][7] == latest["dim"]


def test_provision_registers_the_lamp_with_the_server(api: httpx.Client, site_id: str, tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from server.cli import app

    lamp_id = f"P{int(time.time() * 1000) % 10**9}"

    def provision(rated_w: str) -> Any:
        return CliRunner().invoke(app, [
            "firmware", "provision", "--lamp", lamp_id, "--site", site_id, "--broker", "mqtt://127.0.0.1",
            "--lat", "-4.5461", "--lon", "136.8837", "--rated-w", rated_w, "--out", str(tmp_path),
            "--api", str(api.base_url), "--token", _token(api)])

    result = provision("120")
    assert result.exit_code == 0, result.output
    lamp = api.get(f"/api/v1/lamps/{lamp_id}").json()
    assert lamp["site_id"] == site_id and lamp["rated_w"] == 120
    again = provision("90")  # a re-provisioned pole: the registry follows
    assert again.exit_code == 0, again.output
    assert "updated" in again.output
    assert api.get(f"/api/v1/lamps/{lamp_id}").json()["rated_w"] == 90


def test_provision_writes_the_lamps_own_mqtt_credentials(technician_api: httpx.Client, site_id: str,
                                                         tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from server.cli import app

    lamp_id = f"Q{int(time.time() * 1000) % 10**9}"
    result = CliRunner().invoke(app, [
        "firmware", "provision", "--lamp", lamp_id, "--site", site_id, "--broker", "mqtts://mqtt.example.org:8883",
        "--lat", "-4.5461", "--lon", "136.8837", "--out", str(tmp_path), "--api", str(technician_api.base_url),
        "--token", _token(technician_api), "--issue-credentials"])
    assert result.exit_code == 0, result.output
    broker = json.loads((tmp_path / "device.json").read_text())["broker"]
    assert broker.startswith(f"mqtts://lamp.{site_id}.{lamp_id}:") and broker.endswith("@mqtt.example.org:8883")


def _token(client: httpx.Client) -> str:
    token = _bearer_of(client)
    assert token is not None
    return token
