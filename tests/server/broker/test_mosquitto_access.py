"""A Mosquitto started with the files `terang broker config` writes: devices are held to their own
topics, only the server publishes downlinks, and a revoked device is refused after a reload."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from server.broker import accounts, mosquitto_conf
from server.embedded.broker import MosquittoBroker
from server.embedded.ports import free_port
from tests.support.factories import make_lamp, unique
from tests.support.mqtt import wait_for


@dataclass
class Net:
    broker: MosquittoBroker
    conf: mosquitto_conf.ConfOptions
    database_url: str
    site: str
    lamp_a: str
    lamp_b: str
    lamp_c: str  # behind the gateway
    gateway: str
    creds: dict[str, tuple[str, str]]  # who -> (username, password)

    def topic(self, lamp: str, kind: str) -> str:
        return f"terang/v1/{self.site}/lamp/{lamp}/{kind}"

    def write_and_reload(self) -> None:
        state = asyncio.run(_state(self.database_url))
        mosquitto_conf.write_files(state, self.conf, with_conf=False)
        self.broker.reload()


async def _state(database_url: str) -> accounts.BrokerState:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await accounts.broker_state(conn)


async def _service(database_url: str, name: str) -> accounts.DeviceCredentials:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        return await accounts.issue_service(conn, name=name, broker_url="mqtt://127.0.0.1")


def _issue(technician_api: httpx.Client, kind: str, device_id: str) -> tuple[str, str]:
    r = technician_api.post("/api/v1/mqtt-accounts", json={"kind": kind, "device_id": device_id})
    assert r.status_code == 201, r.text
    return r.json()["username"], r.json()["password"]


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    """Readable by the user Mosquitto drops to when started as root (pytest's tmp_path is not)."""
    path = Path(tempfile.mkdtemp(prefix="terang-acl-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def net(api: httpx.Client, technician_api: httpx.Client, site_id: str, database_url: str, run_tag: str,
        broker_dir: Path) -> Iterator[Net]:
    tmp_path = broker_dir
    gateway = unique("G")
    r = api.post("/api/v1/gateways", json={"id": gateway, "site_id": site_id, "name": "Gateway"})
    assert r.status_code == 201, r.text
    lamp_a, lamp_b = make_lamp(api, site_id)["id"], make_lamp(api, site_id)["id"]
    lamp_c = make_lamp(api, site_id, gateway_id=gateway, radio="lora")["id"]
    creds = {"a": _issue(technician_api, "lamp", lamp_a), "b": _issue(technician_api, "lamp", lamp_b),
             "gw": _issue(technician_api, "gw", gateway)}
    service = asyncio.run(_service(database_url, f"svc-{run_tag}"))
    creds["server"] = (service.username, service.password)
    port = free_port()
    conf = mosquitto_conf.ConfOptions(config_dir=tmp_path / "conf", data_dir=tmp_path / "data", port=port,
                                      bind="127.0.0.1", local_port=None, write_pid_file=False)
    state = asyncio.run(_state(database_url))
    written = mosquitto_conf.write_files(state, conf)
    conf.data_dir.mkdir()
    mosquitto_conf.give_to_broker(conf.data_dir, conf.broker_user)
    assert written.conf_file is not None
    broker = MosquittoBroker(tmp_path / "run", port=port, conf_text=written.conf_file.read_text()).start()
    yield Net(broker, conf, database_url, site_id, lamp_a, lamp_b, lamp_c, gateway, creds)
    broker.stop()


class Client:
    """A paho client as one account; records what it receives and how its connection went."""

    def __init__(self, port: int, username: str | None, password: str | None, client_id: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.connect_rc: Any = None
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, msg: self.received.append((msg.topic, bytes(msg.payload)))
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.reconnect_delay_set(5, 5)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()
        wait_for(self.connected.is_set, timeout=10, what="CONNACK")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, rc: Any, props: Any = None) -> None:
        self.connect_rc = rc
        self.connected.set()

    @property
    def accepted(self) -> bool:
        return not self.connect_rc.is_failure

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        wait_for(self.subscribed.is_set, timeout=10, what="SUBACK")

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def topics(self) -> list[str]:
        return [t for t, _ in self.received]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def connect(net: Net) -> Iterator[Any]:
    opened: list[Client] = []

    def make(who: str | None, password: str | None = None) -> Client:
        user, secret = net.creds[who] if who else (None, None)
        c = Client(net.broker.port, user, password or secret, f"{who}-{unique('c')}")
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


def test_lamp_publishes_its_own_telemetry(net: Net, connect: Any) -> None:
    server, lamp_a = connect("server"), connect("a")
    server.subscribe("terang/v1/+/lamp/+/telemetry")
    lamp_a.publish(net.topic(net.lamp_a, "telemetry"), b"{}")
    wait_for(lambda: net.topic(net.lamp_a, "telemetry") in server.topics(), what="lamp A's telemetry")


def test_lamp_a_cannot_publish_as_lamp_b(net: Net, connect: Any) -> None:
    server, lamp_a = connect("server"), connect("a")
    server.subscribe("terang/v1/+/lamp/+/+")
    lamp_a.publish(net.topic(net.lamp_b, "telemetry"), b"forged")
    lamp_a.publish(net.topic(net.lamp_b, "state"), b"forged")
    lamp_a.publish(net.topic(net.lamp_a, "telemetry"), b"control")
    wait_for(lambda: b"control" in [p for _, p in server.received], what="the control message")
    assert [t for t, p in server.received if p == b"forged"] == []


def test_lamp_a_cannot_read_lamp_b_commands(net: Net, connect: Any) -> None:
    server, lamp_a = connect("server"), connect("a")
    lamp_a.subscribe(net.topic(net.lamp_b, "cmd"))
    lamp_a.subscribe(net.topic(net.lamp_a, "cmd"))
    server.publish(net.topic(net.lamp_b, "cmd"), b"for B")
    server.publish(net.topic(net.lamp_a, "cmd"), b"for A")
    wait_for(lambda: b"for A" in [p for _, p in lamp_a.received], what="A's own command")
    assert b"for B" not in [p for _, p in lamp_a.received]


def test_lamp_cannot_publish_commands_config_or_acks(net: Net, connect: Any) -> None:
    server, lamp_a = connect("server"), connect("a")
    server.subscribe(net.topic(net.lamp_a, "+"))
    server.subscribe(net.topic(net.lamp_b, "+"))
    for lamp in (net.lamp_a, net.lamp_b):
        for kind in ("cmd", "config", "ack"):
            lamp_a.publish(net.topic(lamp, kind), b"forged")
    lamp_a.publish(net.topic(net.lamp_a, "event"), b"control")
    wait_for(lambda: b"control" in [p for _, p in server.received], what="the control message")
    assert [t for t, p in server.received if p == b"forged"] == []


def test_gateway_speaks_for_its_lamps_and_no_other(net: Net, connect: Any) -> None:
    server, gateway = connect("server"), connect("gw")
    server.subscribe("terang/v1/+/lamp/+/telemetry")
    gateway.publish(net.topic(net.lamp_a, "telemetry"), b"not mine")
    gateway.publish(net.topic(net.lamp_c, "telemetry"), b"mine")
    wait_for(lambda: b"mine" in [p for _, p in server.received], what="the gateway's lamp")
    assert b"not mine" not in [p for _, p in server.received]


def test_wrong_password_and_anonymous_are_refused(net: Net, connect: Any) -> None:
    assert not connect("a", password="wrong-password").accepted
    assert not connect(None).accepted


def test_revoked_device_is_refused_after_reload(net: Net, connect: Any, technician_api: httpx.Client) -> None:
    assert connect("a").accepted
    assert technician_api.delete(f"/api/v1/mqtt-accounts/{net.creds['a'][0]}").status_code == 200
    net.write_and_reload()
    deadline = time.monotonic() + 10
    while connect("a").accepted:  # the reload is asynchronous: give it a moment
        assert time.monotonic() < deadline, "the revoked account still connects after the reload"
        time.sleep(0.2)
    assert connect("b").accepted


def test_reload_disconnects_a_revoked_device_that_is_connected(net: Net, connect: Any,
                                                               technician_api: httpx.Client) -> None:
    lamp_a = connect("a")
    assert lamp_a.client.is_connected()
    assert technician_api.delete(f"/api/v1/mqtt-accounts/{net.creds['a'][0]}").status_code == 200
    net.write_and_reload()
    wait_for(lambda: not lamp_a.client.is_connected(), timeout=10, what="the revoked session dropped")


def test_rotated_credentials_replace_the_old_password(net: Net, connect: Any,
                                                      technician_api: httpx.Client) -> None:
    old_password = net.creds["b"][1]
    net.creds["b"] = _issue(technician_api, "lamp", net.lamp_b)
    net.write_and_reload()
    wait_for(lambda: not connect("b", password=old_password).accepted, timeout=10, what="old password refused")
    assert connect("b").accepted
