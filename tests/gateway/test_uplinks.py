"""Uplink sources: local lamps are acknowledged from the gateway's disk, bad input is counted and passed
to the server's dead letters, LoRa devices are bound and synchronised, and the health report is kept."""

from __future__ import annotations

import json
import os
import signal
import time

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec, lorawire
from gateway.medium import MediumSettings, MediumThread
from tests.gateway.support import Backhaul, GatewayThread, LocalLamps, LoraLamp, gateway_config, lora_channel
from tests.gateway.test_zero_loss import gateway_state, start_gateway_process, write_toml
from tests.support.mqtt import wait_for


class AckWatcher:
    """Subscribes, as a lamp would, to its ack topic on the local broker."""

    def __init__(self, url: str, site: str, lamp: str) -> None:
        _, host, port, _, _ = brokerurl.parse(url)
        self.acks: list[dict[str, object]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ackw-{lamp}-{time.monotonic_ns()}")
        self.client.on_message = lambda _c, _u, m: self.acks.append(json.loads(m.payload))
        self.client.connect(host, port)
        self.client.subscribe(codec.lamp_topic(site, lamp, codec.KIND_ACK), qos=1)
        self.client.loop_start()

    def last(self) -> dict[str, object] | None:
        return self.acks[-1] if self.acks else None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_local_lamp_is_acknowledged_from_the_gateway_disk_while_the_backhaul_is_down(
        gw_dir, gw_site, central_broker, local_broker, run_tag):
    lamp = f"A{run_tag}"
    backhaul = Backhaul("127.0.0.1", central_broker.port).start()
    cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}ack", site=gw_site, central=backhaul.url, local=local_broker.url)
    watcher = AckWatcher(local_broker.url, gw_site, lamp)
    try:
        with GatewayThread(cfg):
            backhaul.cut()
            pub = LocalLamps(local_broker.url, gw_site, f"lamps-{run_tag}-ack")
            pub.publish(lamp, [1, 2, 4])
            pub.wait_published()
            wait_for(lambda: watcher.last() == {"seq": 2, "miss": [[3, 3]]}, timeout=10,
                     what="ack naming the gap")
            pub.publish(lamp, [3])
            pub.close()
            wait_for(lambda: watcher.last() == {"seq": 4}, timeout=10, what="ack after the gap is filled")
    finally:
        watcher.close()
        backhaul.stop()


def test_malformed_local_message_is_counted_and_reaches_the_servers_dead_letters(
        gw_dir, gw_site, central_broker, local_broker, centre, register_lamps, database_url, run_tag):
    (lamp,) = register_lamps(1)
    cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}bad", site=gw_site, central=central_broker.url,
                         local=local_broker.url)
    with GatewayThread(cfg) as gw:
        pub = LocalLamps(local_broker.url, gw_site, f"lamps-{run_tag}-bad")
        pub.publish_raw(lamp, codec.KIND_TELEMETRY, b'{"seq":1,"ts":')
        pub.publish_raw(lamp, codec.KIND_TELEMETRY, b'{"seq":2,"ts":1717200000,"p":1,"v":230,"i":0.1,"pf":0.9,'
                                                    b'"e":1,"dim":150}')
        pub.close()
        wait_for(lambda: gw.gateway.rejected == {"bad_json": 1, "out_of_range": 1}, timeout=10,
                 what="both rejections counted")
        wait_for(lambda: dead_letter_reasons(database_url, gw_site, lamp) == ["bad_json", "out_of_range"],
                 timeout=20, what="both in the server's dead letters")


def dead_letter_reasons(database_url: str, site: str, lamp: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT reason FROM dead_letters WHERE topic = %s ORDER BY reason",
                            (codec.lamp_topic(site, lamp, codec.KIND_TELEMETRY),)).fetchall()
    return [r[0] for r in rows]


def test_lora_lamp_the_gateway_cannot_decode_yet_is_asked_to_sync(gw_dir, gw_site, central_broker, run_tag):
    with MediumThread(MediumSettings(speed=20.0)) as medium:
        cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}sync", site=gw_site, central=central_broker.url,
                             medium=("127.0.0.1", medium.port))
        with GatewayThread(cfg) as gw:
            radio = lorawire.UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, "n")
            node = LoraLamp(radio, f"S{run_tag}", 0x2604_0001, lora_channel(0), confirm_every=1_000_000)
            node.hello()
            node.report()  # no sync yet: the gateway lacks the full sequence and energy counter
            assert [(k, o["op"]) for k, o in node.downlinks][:1] == [(codec.KIND_CMD, "ping")]
            assert gw.lora.stats.rx_rejected == {"no_reference": 1}
            # The lamp answered the ping with a sync; the first reading, kept aside, decodes now.
            wait_for(lambda: gw.call(lambda: gw.gateway.outbox.marks(node.lamp).held_wm) == 1, timeout=5,
                     what="the first reading held")
            node.report()
            wait_for(lambda: gw.call(lambda: [s for s, _ in gw.gateway.outbox.readings_after(node.lamp, None, 9)])
                     == [1, 2], timeout=5, what="both readings queued")
            radio.close()


def test_frames_from_unknown_devices_are_counted_and_dropped(gw_dir, gw_site, central_broker, run_tag):
    with MediumThread(MediumSettings(speed=20.0)) as medium:
        cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}unk", site=gw_site, central=central_broker.url,
                             medium=("127.0.0.1", medium.port), radio={"accept_hello": False})
        with GatewayThread(cfg) as gw:
            radio = lorawire.UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, "n")
            node = LoraLamp(radio, f"U{run_tag}", 0x2604_0002, lora_channel(1))
            node.hello()
            node.report()
            wait_for(lambda: gw.lora.stats.rx_unknown_device == 1, timeout=5, what="unknown counted")
            assert gw.lora.stats.rx_rejected == {"hello_refused": 1}
            assert gw.call(lambda: gw.gateway.outbox.depth) == 0
            radio.close()


def test_devaddr_binding_survives_a_gateway_restart(gw_dir, gw_site, central_broker, run_tag):
    with MediumThread(MediumSettings(speed=20.0)) as medium:
        cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}bind", site=gw_site, central=central_broker.url,
                             medium=("127.0.0.1", medium.port))
        radio = lorawire.UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, "n")
        node = LoraLamp(radio, f"B{run_tag}", 0x2604_0003, lora_channel(2))
        with GatewayThread(cfg):
            node.hello()
            node.sync()
            node.report()
        with GatewayThread(cfg) as gw:
            node.report()
            wait_for(lambda: gw.call(lambda: gw.gateway.outbox.marks(node.lamp).held_wm) == 2, timeout=5,
                     what="reading 2 decoded after the restart, without a new HELLO")
        radio.close()


def test_health_is_retained_and_the_last_will_says_offline(gw_dir, gw_site, central_broker, local_broker,
                                                           run_tag):
    gw_id = f"gw{run_tag}lwt"
    with MediumThread(MediumSettings()) as medium:
        config = write_toml(gw_dir / "gateway.toml", gw_id=gw_id, site=gw_site, central=central_broker.url,
                            local=local_broker.url, medium_port=medium.port)
        proc = start_gateway_process(config, gw_dir / "gateway.log")
        try:
            state = wait_for(lambda: gateway_state(central_broker.url, gw_site, gw_id), timeout=20,
                             what="retained health")
            assert state is not None
            assert state["st"] == "online"
            h = state["h"]
            assert isinstance(h, dict)
            assert {"q", "q_age_s", "bh", "drop_read", "rx", "airtime_s", "coll", "duty"} <= set(h)
            assert h["bh"] == "up"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            wait_for(lambda: (gateway_state(central_broker.url, gw_site, gw_id) or {}).get("st") == "offline",
                     timeout=20, what="the Last Will")
        finally:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)




def test_gateway_hears_only_the_channels_it_listens_on(gw_dir, gw_site, central_broker, run_tag):
    with MediumThread(MediumSettings(speed=20.0)) as medium:
        cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}chan", site=gw_site, central=central_broker.url,
                             medium=("127.0.0.1", medium.port), radio={"channels": [lora_channel(0)]})
        with GatewayThread(cfg) as gw:
            radio = lorawire.UdpRadio("127.0.0.1", medium.port, lorawire.ROLE_NODE, "n")
            deaf = LoraLamp(radio, f"C{run_tag}", 0x2604_0004, lora_channel(1))
            deaf.hello()
            heard = LoraLamp(radio, f"D{run_tag}", 0x2604_0005, lora_channel(0))
            heard.hello()
            wait_for(lambda: gw.lora.stats.hellos == 1, timeout=5, what="one HELLO heard")
            assert gw.lora.stats.rx_frames == 1
            assert gw.lora.is_lora_lamp(heard.lamp)
            assert not gw.lora.is_lora_lamp(deaf.lamp)
            radio.close()
