"""The firmware's own MQTT 3.1.1 client on MicroPython against real Mosquitto brokers."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl
from firmware.tools import micropython
from server.embedded.broker import MosquittoBroker
from tests.firmware.conftest import Observer

CLIENT = '''
import asyncio, sys, mqtt
c = mqtt.MQTTClient(sys.argv[1], sys.argv[2], int(sys.argv[3]), keepalive=int(sys.argv[4]))
c.will = (b"fwtest/" + sys.argv[1].encode() + b"/state", b"offline", True)
got = []
c.on_message = lambda t, p, r: got.append(p)
'''


def start(tmp: Path, body: str, *args: str) -> subprocess.Popen[bytes]:
    script = tmp / "client.py"
    script.write_text(CLIENT + body)
    env = {"MICROPYPATH": micropython.micropypath(), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen([micropython.executable(), str(script), *args], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def expect(proc: subprocess.Popen[bytes]) -> list[bytes]:
    """The next line the test script printed, skipping the client's own log lines."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line.startswith(b"mqtt:"):
            return line.split()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout):
        if pipe is not None:
            pipe.close()


def restartable_broker(data_dir: Path) -> MosquittoBroker:
    """A Mosquitto whose sessions survive a restart (MosquittoBroker keeps its persistence writable)."""
    return MosquittoBroker(data_dir).start()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = restartable_broker(tmp_path / "broker")
    yield broker
    broker.stop()


def host_port(url: str) -> tuple[str, str]:
    _tls, host, port, _u, _p = brokerurl.parse(url)
    return host, str(port)


def test_qos1_messages_round_trip_through_the_broker(tmp_path: Path, mqtt_url: str, run_tag: str) -> None:
    cid = f"fwc{run_tag}a"
    out = micropython.run(f'''
import asyncio, mqtt
got = []
async def main():
    async def subscribed(present):
        await c.subscribe("fwtest/{cid}/echo", 1)
    c.on_connect = subscribed
    asyncio.create_task(c.run())
    await c.wait_connected()
    for k in range(40):
        await c.publish("fwtest/{cid}/echo", b"m%d" % k, 1)
    for _ in range(200):
        if len(got) == 40 and not c.inflight():
            break
        await asyncio.sleep_ms(20)
    print(len(got), c.inflight(), got[0], got[-1])
c = mqtt.MQTTClient("{cid}", "{host_port(mqtt_url)[0]}", {host_port(mqtt_url)[1]}, keepalive=10)
c.on_message = lambda t, p, r: got.append(p)
asyncio.run(main())
''', timeout=30)
    assert out.split() == ["40", "0", "b'm0'", "b'm39'"]


def test_last_will_says_offline_when_the_controller_dies(tmp_path: Path, mqtt_url: str, run_tag: str) -> None:
    cid = f"fwc{run_tag}b"
    obs = Observer(mqtt_url, "unused").start()
    obs.client.subscribe(f"fwtest/{cid}/state", 1)
    host, port = host_port(mqtt_url)
    proc = start(tmp_path, '''
async def main():
    asyncio.create_task(c.run())
    await c.wait_connected()
    print("up")
    await asyncio.sleep(60)
asyncio.run(main())
''', cid, host, port, "5")
    try:
        assert expect(proc) == [b"up"]
        proc.kill()  # power cut: no DISCONNECT, the broker must publish the will
        obs.wait(lambda: [m for m in obs.messages if m[0] == f"fwtest/{cid}/state"], 15, "last will")
    finally:
        stop(proc)
        will = [p for t, p, _r in obs.messages if t == f"fwtest/{cid}/state"]
        obs.client.publish(f"fwtest/{cid}/state", b"", qos=1, retain=True).wait_for_publish(5)
        obs.stop()
    assert will == [b"offline"]


def test_unacknowledged_qos1_messages_are_resent_after_the_broker_restarts(
    tmp_path: Path, own_broker: MosquittoBroker, run_tag: str
) -> None:
    cid = f"fwc{run_tag}c"
    wanted = {b"d0", b"d1", b"d2", b"d3", b"d4"}
    # A persistent subscriber (as the server's ingestion is) sees everything once the broker is back.
    received: list[bytes] = []
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sub-{cid}", clean_session=False)
    sub.on_message = lambda _c, _u, m: received.append(bytes(m.payload))
    sub.on_connect = lambda c, *_a: c.subscribe(f"fwtest/{cid}/data", 1)
    sub.connect("127.0.0.1", own_broker.port)
    sub.loop_start()
    time.sleep(0.3)
    proc = start(tmp_path, f'''
async def main():
    asyncio.create_task(c.run())
    await c.wait_connected()
    print("up")
    sys.stdin.readline()  # the broker is down now
    for k in range(5):
        await c.publish(b"fwtest/{cid}/data", b"d%d" % k, 1)
    print("queued", c.inflight())
    while c.inflight():
        await asyncio.sleep_ms(50)
    print("delivered", c.connects)
asyncio.run(main())
''', cid, "127.0.0.1", str(own_broker.port), "2")
    try:
        assert proc.stdin is not None
        assert expect(proc) == [b"up"]
        own_broker.stop()
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        assert expect(proc) == [b"queued", b"5"]
        own_broker.start()
        line = expect(proc)
        assert line[0] == b"delivered"
        assert int(line[1]) >= 2  # it had to reconnect
        deadline = time.monotonic() + 15
        while not wanted <= set(received) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop(proc)
        sub.loop_stop()
        sub.disconnect()
    assert wanted <= set(received)


def test_keepalive_holds_an_idle_connection(mqtt_url: str, run_tag: str) -> None:
    cid = f"fwc{run_tag}d"
    host, port = host_port(mqtt_url)
    out = micropython.run(f'''
import asyncio, mqtt
c = mqtt.MQTTClient("{cid}", "{host}", {port}, keepalive=1)
async def main():
    asyncio.create_task(c.run())
    await c.wait_connected()
    await asyncio.sleep_ms(3500)  # the broker drops a silent client after 1.5 keepalives
    print(c.connected, c.connects, c.drops)
asyncio.run(main())
''', timeout=20)
    assert out.split() == ["True", "1", "0"]


def test_reconnects_back_off_instead_of_hammering(tmp_path: Path) -> None:
    out = micropython.run('''
import asyncio, mqtt, time
attempts = []
class Counting(mqtt.MQTTClient):
    async def _connect(self):
        attempts.append(time.ticks_ms())
        return await mqtt.MQTTClient._connect(self)
c = Counting("nobody", "127.0.0.1", 9, keepalive=5)
async def main():
    asyncio.create_task(c.run())
    await asyncio.sleep_ms(3000)
    gaps = [time.ticks_diff(attempts[k + 1], attempts[k]) for k in range(len(attempts) - 1)]
    print(len(attempts), gaps)
asyncio.run(main())
''', timeout=20)
    n = int(out.strip().splitlines()[-1].split()[0])
    assert 2 <= n <= 3  # after 0.5-1 s, then 1-2 s more: not hundreds of attempts
