"""TLS end to end: a device publishes over mqtts:// to a Mosquitto configured by `terang broker
config` with certificates from `terang tls issue`; the server ingests over mqtts:// and serves its
API over HTTPS; both are verified against the private CA, and a client that does not trust it fails."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from server.broker import accounts, mosquitto_conf
from server.certificates import Issued, issue_server_certificate
from server.embedded.broker import MosquittoBroker
from server.embedded.ports import free_port
from server.runtime import Running
from server.settings import Settings
from tests.conftest import RUN_TAG
from tests.support.background_server import BackgroundServer
from tests.support.factories import make_lamp
from tests.support.mqtt import wait_for


@dataclass
class Secured:
    certs: Issued
    broker: MosquittoBroker
    server: Running
    lamp_id: str
    lamp_credentials: tuple[str, str]
    site: str


Creds = accounts.DeviceCredentials


async def _setup_accounts(database_url: str, lamp_id: str) -> tuple[Creds, Creds, accounts.BrokerState]:
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        lamp = await accounts.issue(conn, kind="lamp", device_id=lamp_id, broker_url="mqtts://localhost")
        service = await accounts.issue_service(conn, name=f"svc-tls-{RUN_TAG}", broker_url="mqtts://localhost")
        return lamp, service, await accounts.broker_state(conn)


@pytest.fixture
def secured(api: httpx.Client, site_ids: list[str], database_url: str) -> Iterator[Secured]:
    site = site_ids[1]
    from tests.support.factories import ensure_site

    ensure_site(api, site)
    lamp_id = make_lamp(api, site)["id"]
    root = Path(tempfile.mkdtemp(prefix="terang-tls-"))
    root.chmod(0o755)  # Mosquitto, dropped to its own user, reads from here
    certs = issue_server_certificate(root / "certs", names=["localhost", "127.0.0.1"])
    (root / "certs").chmod(0o755)
    mosquitto_conf.give_to_broker(certs.key, "mosquitto")
    lamp, service, state = asyncio.run(_setup_accounts(database_url, lamp_id))
    port = free_port()
    opts = mosquitto_conf.ConfOptions(
        config_dir=root / "conf", data_dir=root / "data", port=port, bind="127.0.0.1",
        tls=mosquitto_conf.ListenerTls(certs.ca_cert, certs.cert, certs.key), local_port=None,
        write_pid_file=False)
    written = mosquitto_conf.write_files(state, opts)
    assert written.conf_file is not None
    broker = MosquittoBroker(root / "run", port=port, conf_text=written.conf_file.read_text()).start()
    settings = Settings(environment="test", data_dir=root / "server", database_url=database_url,
                        mqtt_url=f"mqtts://{service.username}:{service.password}@localhost:{port}",
                        mqtt_ca_file=certs.ca_cert, mqtt_client_id=f"terang-tls-{RUN_TAG}", http_port=0,
                        ingest_sites=[site], ingest_flush_ms=50, https_cert_file=certs.cert,
                        https_key_file=certs.key)
    background = BackgroundServer(settings)
    try:
        running = background.start()
        yield Secured(certs, broker, running, lamp_id, (lamp.username, lamp.password), site)
    finally:
        background.stop()
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


def _device(port: int, creds: tuple[str, str], ca: Path | None) -> tuple[mqtt.Client, list[object]]:
    results: list[object] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tls-dev-{time.monotonic_ns()}")
    client.username_pw_set(*creds)
    client.tls_set(ca_certs=str(ca) if ca else None)
    client.on_connect = lambda c, u, f, rc, p=None: results.append(rc)
    client.connect("localhost", port)
    client.loop_start()
    return client, results


def test_api_is_served_over_https_and_verified_with_the_ca(secured: Secured) -> None:
    assert secured.server.api_url.startswith("https://")
    trust = ssl.create_default_context(cafile=str(secured.certs.ca_cert))
    health = httpx.get(secured.server.api_url + "/api/v1/health", verify=trust).json()
    assert health["mqtt"] == "connected"  # the server's own mqtts:// connection, verified against the CA


def test_https_client_without_the_ca_refuses_the_server(secured: Secured) -> None:
    with pytest.raises(httpx.ConnectError):
        httpx.get(secured.server.api_url + "/api/v1/health")


def test_device_telemetry_over_mqtts_is_stored(secured: Secured, api: httpx.Client) -> None:
    client, results = _device(secured.broker.port, secured.lamp_credentials, secured.certs.ca_cert)
    try:
        wait_for(lambda: results, what="CONNACK over TLS")
        reading = {"seq": 1, "ts": int(time.time()) - 60, "p": 40.5, "v": 229.8, "i": 0.18, "pf": 0.98,
                   "e": 10.0, "dim": 40}
        client.publish(f"terang/v1/{secured.site}/lamp/{secured.lamp_id}/telemetry", json.dumps(reading),
                       qos=1).wait_for_publish(10)
        wait_for(lambda: api.get(f"/api/v1/lamps/{secured.lamp_id}/state").json()["ack_seq"] == 1,
                 what="the reading stored")
    finally:
        client.loop_stop()
        client.disconnect()


def test_device_that_does_not_trust_the_ca_cannot_connect(secured: Secured) -> None:
    system_trust = ssl.create_default_context()  # does not hold the private CA
    with socket.create_connection(("localhost", secured.broker.port), timeout=10) as raw, \
            pytest.raises(ssl.SSLCertVerificationError):
        system_trust.wrap_socket(raw, server_hostname="localhost")


def test_broker_refuses_plain_mqtt_on_its_tls_port(secured: Secured) -> None:
    accepted: list[bool] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"tls-plain-{RUN_TAG}")
    client.username_pw_set(*secured.lamp_credentials)
    client.on_connect = lambda c, u, f, rc, p=None: accepted.append(not rc.is_failure)
    try:
        client.connect("localhost", secured.broker.port, keepalive=5)
        for _ in range(15):  # long enough for a CONNACK, had the broker taken plain MQTT
            if client.loop(0.2) != mqtt.MQTT_ERR_SUCCESS:
                break
    except OSError:
        pass
    finally:
        sock = client.socket()
        if sock is not None:
            sock.close()
    assert True not in accepted


async def test_gateway_connects_upstream_over_mqtts_with_the_ca(secured: Secured) -> None:
    from gateway import mqttclient

    user, password = secured.lamp_credentials
    client = mqttclient.make_client(f"mqtts://localhost:{secured.broker.port}", f"gw-tls-{RUN_TAG}",
                                    username=user, password=password, ca_file=secured.certs.ca_cert,
                                    manual_ack=False)
    async with client:
        await client.publish(f"terang/v1/{secured.site}/lamp/{secured.lamp_id}/event", b"{}", qos=1)
