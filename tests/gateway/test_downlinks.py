"""Downlinks: local lamps get them at once; LoRa lamps in their class A window, within the gateway's
duty cycle; expired ones are dropped; every outcome is counted, and reported to the server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec, lorawire
from gateway.medium import MediumSettings, MediumThread
from tests.gateway.support import GatewayThread, LoraLamp, gateway_config, lora_channel
from tests.support.mqtt import wait_for

SPEED = 20.0


def central_publish(url: str, topic: str, payload: bytes, retain: bool = False) -> None:
    _, host, port, _, _ = brokerurl.parse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"srv-{time.monotonic_ns()}")
    c.connect(host, port)
    c.loop_start()
    c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    c.loop_stop()
    c.disconnect()


def cmd(cmd_id: int, op: str = "level", exp_in: int = 600, **args: Any) -> bytes:
    now = int(time.time())
    body: dict[str, Any] = {"id": cmd_id, "op": op, "exp": now + exp_in}
    if op == "level":
        body |= {"lvl": 40, "until": now + 3600}
    return codec.encode_cmd(body | args)


def outcome_events(database_url: str, lamp: str) -> list[dict[str, Any]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT e.body FROM lamp_events e JOIN lamps l ON l.key = e.lamp_key "
            "WHERE l.id = %s AND e.body->>'ev' = 'cmd' ORDER BY e.id", (lamp,)).fetchall()
    return [r[0] for r in rows]


def counters(gw: GatewayThread) -> dict[str, int]:
    return dict(gw.call(gw.gateway.outbox.counters))


@pytest.fixture
def lora_gateway(gw_dir, gw_site, central_broker, centre, run_tag, request) -> Iterator[tuple[GatewayThread, Any]]:
    with MediumThread(MediumSettings(speed=SPEED, seed=11)) as medium:
        cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}{request.node.name[-6:].replace('_', '')}", site=gw_site,
                             central=central_broker.url, medium=("127.0.0.1", medium.port))
        with GatewayThread(cfg) as gw:
            yield gw, medium


def lora_lamp(medium: MediumThread, lamp: str, devaddr: int, index: int = 0, sf: int = 7,
              answer_commands: bool = True) -> LoraLamp:
    radio = lorawire.UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, lamp)
    node = LoraLamp(radio, lamp, devaddr, lora_channel(index), sf=sf, confirm_every=1_000_000,
                    answer_commands=answer_commands)
    node.hello()
    node.sync()
    return node


def test_local_lamp_gets_its_command_at_once(gw_dir, gw_site, central_broker, local_broker, centre, run_tag):
    cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}dlloc", site=gw_site, central=central_broker.url,
                         local=local_broker.url)
    lamp = f"W{run_tag}"
    _, host, port, _, _ = brokerurl.parse(local_broker.url)
    got: list[bytes] = []
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"lamp-{run_tag}-dl")
    sub.on_message = lambda _c, _u, m: got.append(bytes(m.payload))
    sub.connect(host, port)
    sub.subscribe(codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), qos=1)
    sub.loop_start()
    try:
        with GatewayThread(cfg) as gw:
            body = cmd(41)
            central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), body)
            wait_for(lambda: got == [body], timeout=10, what="the command on the local broker")
            wait_for(lambda: counters(gw).get("downlink_sent") == 1, timeout=5, what="outcome counted")
            assert gw.call(gw.gateway.downlinks.depth) == 0
    finally:
        sub.loop_stop()
        sub.disconnect()


def test_lora_command_waits_for_the_lamps_uplink_and_goes_in_its_receive_window(
        lora_gateway, gw_site, central_broker, register_lamps):
    gw, medium = lora_gateway
    (lamp,) = register_lamps(1, radio="lora")
    node = lora_lamp(medium, lamp, 0x2603_0001)
    central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), cmd(4242))
    wait_for(lambda: gw.call(gw.gateway.downlinks.depth) == 1, timeout=10, what="command queued")
    time.sleep(0.5)
    assert gw.call(gw.gateway.downlinks.depth) == 1  # class A: nothing goes until the lamp speaks
    node.downlinks.clear()
    node.report()
    kinds = [(k, o.get("op"), o.get("lvl")) for k, o in node.downlinks]
    assert kinds[0] == (codec.KIND_CMD, "level", 40)
    assert node.downlinks[0][1]["id"] == 4242 & 0xFFFF
    wait_for(lambda: counters(gw).get("downlink_sent") == 1, timeout=5, what="sent counted")
    node.radio.close()


def test_expired_command_is_dropped_and_reported_to_the_server(lora_gateway, gw_site, central_broker,
                                                               register_lamps, database_url):
    gw, medium = lora_gateway
    (lamp,) = register_lamps(1, radio="lora")
    node = lora_lamp(medium, lamp, 0x2603_0002, 1)
    central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), cmd(5151, exp_in=1))
    wait_for(lambda: gw.call(gw.gateway.downlinks.depth) == 1, timeout=10, what="command queued")
    time.sleep(1.5)
    node.downlinks.clear()
    node.report()
    assert [k for k, _ in node.downlinks] == []
    wait_for(lambda: counters(gw).get("downlink_expired") == 1, timeout=5, what="expiry counted")
    wait_for(lambda: [(e["id"], e["res"]) for e in outcome_events(database_url, lamp)] == [(5151, "expired")],
             timeout=20, what="the server told the command expired")
    node.radio.close()


def test_a_command_for_a_lamp_the_gateway_never_heard_expires_without_an_outcome(
        lora_gateway, gw_site, central_broker, register_lamps, database_url):
    # Several gateways serve one site and each takes every lamp's commands: only the one that serves
    # the lamp may speak for it.
    gw, _medium = lora_gateway
    (lamp,) = register_lamps(1, radio="lora")
    central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), cmd(5252, exp_in=1))
    wait_for(lambda: gw.call(gw.gateway.downlinks.depth) == 1, timeout=10, what="command queued")
    time.sleep(1.5)
    gw.call(lambda: gw.gateway.downlinks.expire(time.time()))
    assert counters(gw).get("downlink_expired") == 1
    time.sleep(3)  # what the gateway queues reaches the server within a fraction of this
    assert outcome_events(database_url, lamp) == []


def test_command_lora_cannot_carry_is_reported_unsupported(lora_gateway, gw_site, central_broker,
                                                          register_lamps, database_url):
    gw, medium = lora_gateway
    (lamp,) = register_lamps(1, radio="lora")
    node = lora_lamp(medium, lamp, 0x2603_0003, 2)
    ota = cmd(6161, op="ota", url="https://fw.example/terang-1.2.3.bin", size=1000, sha256="ab" * 32,
              sig="cd" * 64, ver="1.2.3")
    central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), ota)
    wait_for(lambda: gw.call(gw.gateway.downlinks.depth) == 1, timeout=10, what="command queued")
    node.report()
    wait_for(lambda: [(e["id"], e["res"]) for e in outcome_events(database_url, lamp)] == [(6161, "unsupported")],
             timeout=20, what="the server told the command cannot go over LoRa")
    assert counters(gw).get("downlink_unsupported") == 1
    node.radio.close()


def test_gateway_keeps_its_own_duty_cycle_and_defers_the_next_downlink(lora_gateway, gw_site, central_broker,
                                                                      register_lamps):
    gw, medium = lora_gateway
    a_id, b_id = register_lamps(2, radio="lora")
    # SF9: the gateway's 19-byte answer takes ~165 ms, so it must then keep silent ~16 s (0.8 s here).
    a = lora_lamp(medium, a_id, 0x2603_0004, 3, sf=9, answer_commands=False)
    b = lora_lamp(medium, b_id, 0x2603_0005, 4, sf=9, answer_commands=False)
    for lamp, n in ((a_id, 1), (b_id, 2)):
        central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CMD), cmd(7000 + n))
    wait_for(lambda: gw.call(gw.gateway.downlinks.depth) == 2, timeout=10, what="both queued")
    a.downlinks.clear()
    b.downlinks.clear()
    a.report()  # the gateway answers A, then must stay silent for 99x that airtime
    b.report()  # B's windows fall inside the gateway's off time
    assert [k for k, _ in a.downlinks][:1] == [codec.KIND_CMD]
    assert b.downlinks == []
    stats = gw.lora.stats
    assert stats.duty_deferred >= 1
    assert "duty_cycle" not in medium.stats()["refused"]  # it held back rather than being refused
    time.sleep(1.0)  # the gateway's off time has passed
    b.report()
    assert [k for k, _ in b.downlinks][:1] == [codec.KIND_CMD]
    a.radio.close()
    b.radio.close()


CONFIG = {"cv": 7, "loc": [-4.54678, 136.88712], "tz": 540, "def": 100, "fb": 86400,
          "prof": [[[1, 0, 100, 0], [0, 1380, 50, 60], [2, -15, 0, 0]]]}


def test_config_goes_to_a_lora_lamp_as_delta_fragments(lora_gateway, gw_site, central_broker, register_lamps):
    gw, medium = lora_gateway
    (lamp,) = register_lamps(1, radio="lora")
    node = lora_lamp(medium, lamp, 0x2603_0006, 5)
    central_publish(central_broker.url, codec.lamp_topic(gw_site, lamp, codec.KIND_CONFIG),
                    codec.encode_config(CONFIG), retain=True)
    wait_for(lambda: gw.call(gw.gateway.downlinks.depth) == 1, timeout=10, what="config queued")
    frames = codec.encode_config_delta(None, CONFIG)
    node.downlinks.clear()

    def fragments() -> list[dict[str, object]]:
        return [o for k, o in node.downlinks if k == codec.KIND_CONFIG]

    for _ in range(20):  # one fragment per receive window, as the gateway's duty cycle allows
        if len(fragments()) == len(frames):
            break
        node.report()
        time.sleep(0.2)
    got = fragments()
    assert [(o["frag"], o["cv"], o["full"]) for o in got] == [(i, 7, True) for i in range(len(frames))]
    wait_for(lambda: counters(gw).get("downlink_sent") == 1, timeout=5, what="config delivered")
    node.radio.close()
