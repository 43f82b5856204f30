"""Zero loss under injected faults, counted in the real server's database.

The faults last seconds, not hours: the code paths are the same (the queue grows, the link drops,
the process dies), and the suite must stay fast. ``test_long_backhaul_outage`` (marked slow, run by
``make soak``) holds the backhaul down for two minutes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import brokerurl, codec, lorawire
from gateway.medium import MediumSettings, MediumThread
from tests.gateway.support import (
    Backhaul,
    GatewayThread,
    LocalLamps,
    LoraLamp,
    gateway_config,
    lora_channel,
    stored,
    stored_seqs,
)
from tests.support.mqtt import wait_for

SPEED = 20.0  # the LoRa medium's clock: RX1 opens 50 ms (real time) after an uplink


def expect_exactly_once(database_url: str, sent: dict[str, list[int]], timeout: float = 60) -> None:
    want = {lamp: (len(seqs), len(seqs)) for lamp, seqs in sent.items()}
    wait_for(lambda: stored(database_url, sent) == want, timeout=timeout,
             what=f"every reading stored once: {want}")
    for lamp, seqs in sent.items():
        assert stored_seqs(database_url, lamp) == sorted(seqs)


class LoraFleet:
    """LoRa lamps, each in its own thread, reporting until stopped, then flushing their journals."""

    def __init__(self, medium_port: int, lamps: list[str], first_addr: int) -> None:
        self.lamps = [
            LoraLamp(lorawire.UdpRadio("127.0.0.1", medium_port, lorawire.ROLE_NODE, lamp), lamp,
                     first_addr + i, lora_channel(i))
            for i, lamp in enumerate(lamps)
        ]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def start(self) -> LoraFleet:
        for lamp in self.lamps:
            lamp.hello()
            lamp.sync()
            t = threading.Thread(target=self._run, args=(lamp,), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _run(self, lamp: LoraLamp) -> None:
        try:
            while not self._stop.is_set():
                lamp.report()
        except BaseException as exc:  # surfaced by stop()
            self.errors.append(exc)

    def stop(self) -> dict[str, list[int]]:
        self._stop.set()
        for t in self._threads:
            t.join(30)
        assert not self.errors, self.errors
        for lamp in self.lamps:
            lamp.flush()
            assert not lamp.journal, f"{lamp.lamp} still holds {sorted(lamp.journal)}"
            lamp.radio.close()
        return {lamp.lamp: list(range(1, lamp.next_seq)) for lamp in self.lamps}


class LocalStream:
    """Local lamps publishing a reading each every ``period`` seconds until stopped."""

    def __init__(self, url: str, site: str, client_id: str, lamps: list[str], period: float = 0.05) -> None:
        self.pub = LocalLamps(url, site, client_id)
        self.lamps = lamps
        self.period = period
        self.next = dict.fromkeys(lamps, 1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> LocalStream:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            for lamp in self.lamps:
                self.pub.publish(lamp, [self.next[lamp]])
                self.next[lamp] += 1
            time.sleep(self.period)

    def stop(self) -> dict[str, list[int]]:
        self._stop.set()
        self._thread.join(10)
        self.pub.close()
        return {lamp: list(range(1, n)) for lamp, n in self.next.items()}


def health_of(gw: GatewayThread) -> dict[str, object]:
    state = codec.decode_state(gw.call(gw.gateway.health_payload))
    h = state["h"]
    assert isinstance(h, dict)
    return h


def backhaul_cut_scenario(cut_s: float, gw_dir, gw_site, central_broker, local_broker, register_lamps,
                          database_url, run_tag, suffix: str) -> None:
    local_lamps = register_lamps(3)
    lora_lamps = register_lamps(3, radio="lora")
    with MediumThread(MediumSettings(speed=SPEED, seed=3)) as medium:
        backhaul = Backhaul("127.0.0.1", central_broker.port).start()
        cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}{suffix}", site=gw_site, central=backhaul.url,
                             local=local_broker.url, medium=("127.0.0.1", medium.port))
        try:
            with GatewayThread(cfg) as gw:
                stream = LocalStream(local_broker.url, gw_site, f"lamps-{run_tag}-{suffix}", local_lamps).start()
                fleet = LoraFleet(medium.port, lora_lamps, 0x2601_0000 + 0x100 * ord(suffix[0])).start()
                time.sleep(1.0)
                backhaul.cut()
                wait_for(lambda: health_of(gw)["bh"] == "down", timeout=10, what="backhaul seen down")
                time.sleep(cut_s)
                held = health_of(gw)["q"]
                backhaul.restore()
                sent = stream.stop() | fleet.stop()
                assert isinstance(held, int)
                assert held > 0
                expect_exactly_once(database_url, sent, timeout=60 + cut_s)
                wait_for(lambda: health_of(gw)["q_read"] == 0, timeout=20, what="queue trimmed by the watermark")
                assert health_of(gw)["bh_outages"] == 1
        finally:
            backhaul.stop()


def test_backhaul_cut_loses_nothing_from_local_and_lora_lamps(gw_dir, gw_site, central_broker, local_broker,
                                                               centre, register_lamps, database_url, run_tag):
    backhaul_cut_scenario(6.0, gw_dir, gw_site, central_broker, local_broker, register_lamps, database_url,
                          run_tag, "cut")


@pytest.mark.slow
def test_long_backhaul_outage_loses_nothing(gw_dir, gw_site, central_broker, local_broker, centre,
                                            register_lamps, database_url, run_tag):
    backhaul_cut_scenario(120.0, gw_dir, gw_site, central_broker, local_broker, register_lamps, database_url,
                          run_tag, "long")


def write_toml(path: Path, *, gw_id: str, site: str, central: str, local: str, medium_port: int) -> Path:
    path.write_text(
        f'[gateway]\nid = "{gw_id}"\nsite = "{site}"\ndata_dir = "data"\n\n'
        f'[central]\nurl = "{central}"\nresend_after_s = 5\nhealth_interval_s = 1\nreconnect_max_s = 1\n'
        'connect_timeout_s = 2\n\n'
        f'[local]\nenabled = true\nurl = "{local}"\nack_interval_s = 0.05\n\n'
        f'[radio]\nkind = "udp"\nmedium = "127.0.0.1:{medium_port}"\n\n'
        '[queue]\nsync = "full"\n'
    )
    return path


def start_gateway_process(config: Path, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "gateway", "--config", str(config)],
                            stdout=out, stderr=out, cwd=Path(__file__).parents[2])
    out.close()
    return proc


def test_gateway_killed_mid_stream_loses_nothing(gw_dir, gw_site, central_broker, local_broker, centre,
                                                 register_lamps, database_url, run_tag):
    local_lamps = register_lamps(3)
    lora_lamps = register_lamps(2, radio="lora")
    with MediumThread(MediumSettings(speed=SPEED, seed=5)) as medium:
        config = write_toml(gw_dir / "gateway.toml", gw_id=f"gw{run_tag}kill", site=gw_site,
                            central=central_broker.url, local=local_broker.url, medium_port=medium.port)
        log = gw_dir / "gateway.log"
        proc = start_gateway_process(config, log)
        try:
            # The gateway's persistent local session exists from here on: the broker queues for it.
            wait_for(lambda: local_up(central_broker.url, gw_site, f"gw{run_tag}kill"), timeout=20,
                     what="gateway subscribed to the local broker")
            stream = LocalStream(local_broker.url, gw_site, f"lamps-{run_tag}-kill", local_lamps, 0.02).start()
            fleet = LoraFleet(medium.port, lora_lamps, 0x2602_0000).start()
            for _ in range(2):
                time.sleep(1.5)
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                time.sleep(0.5)
                proc = start_gateway_process(config, log)
            time.sleep(1.0)
            sent = stream.stop() | fleet.stop()
            expect_exactly_once(database_url, sent)
        finally:
            proc.terminate()
            proc.wait(10)


def gateway_state(central_url: str, site: str, gw_id: str, timeout: float = 2.0) -> dict[str, object] | None:
    """The gateway's retained health report on the central broker, decoded by the codec."""
    _, host, port, _, _ = brokerurl.parse(central_url)
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{os.getpid()}-{time.monotonic_ns()}")

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(bytes(msg.payload))
        done.set()

    c.on_message = on_message
    c.connect(host, port)
    c.loop_start()
    try:
        c.subscribe(codec.gw_topic(site, gw_id, codec.KIND_STATE), qos=1)
        done.wait(timeout)
    finally:
        c.loop_stop()
        c.disconnect()
    return codec.decode_state(got[-1]) if got else None


def local_up(central_url: str, site: str, gw_id: str) -> bool:
    state = gateway_state(central_url, site, gw_id)
    h = None if state is None else state.get("h")
    return isinstance(h, dict) and h.get("local") == "up"


def test_central_broker_restart_loses_nothing(gw_dir, gw_site, central_broker, local_broker, centre,
                                              register_lamps, database_url, run_tag):
    local_lamps = register_lamps(4)
    cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}brk", site=gw_site, central=central_broker.url,
                         local=local_broker.url)
    with GatewayThread(cfg) as gw:
        stream = LocalStream(local_broker.url, gw_site, f"lamps-{run_tag}-brk", local_lamps, 0.02).start()
        time.sleep(1.0)
        # SIGKILL, not a clean stop: the broker loses whatever it had not saved (autosave every 5 s),
        # including QoS 1 batches it had already acknowledged to the gateway.
        assert central_broker.process is not None
        central_broker.process.kill()
        central_broker.process.wait()
        time.sleep(1.0)
        central_broker.start()
        time.sleep(1.0)
        sent = stream.stop()
        expect_exactly_once(database_url, sent)
        wait_for(lambda: health_of(gw)["q_read"] == 0, timeout=20, what="queue trimmed")


def test_full_queue_drops_diagnostics_then_readings_and_keeps_alarms(gw_dir, gw_site, central_broker,
                                                                     local_broker, centre, register_lamps,
                                                                     database_url, run_tag):
    (lamp,) = register_lamps(1)
    backhaul = Backhaul("127.0.0.1", central_broker.port).start()
    cfg = gateway_config(gw_dir, gw_id=f"gw{run_tag}full", site=gw_site, central=backhaul.url,
                         local=local_broker.url, queue={"max_items": 30})
    try:
        with GatewayThread(cfg) as gw:
            backhaul.cut()
            pub = LocalLamps(local_broker.url, gw_site, f"lamps-{run_tag}-full")
            now = int(time.time())
            for i in range(5):
                pub.publish_raw(lamp, codec.KIND_EVENT,
                                codec.encode_event({"ts": now + i, "ev": "boot", "rc": "power_on", "fw": "1.0.0"}))
            for i in range(10):
                flag = codec.F_LAMP_FAILURE if i % 2 == 0 else 0
                ev = {"ts": now + i, "ev": "fault", "f": flag, "on": flag, "off": codec.F_LAMP_FAILURE - flag}
                pub.publish_raw(lamp, codec.KIND_EVENT, codec.encode_event(ev))
            for s in range(1, 51):
                pub.publish(lamp, [s])
            pub.close()
            wait_for(lambda: health_of(gw)["drop_read"] == 30, timeout=20, what="30 readings dropped")
            h = health_of(gw)
            assert (h["drop_diag"], h["drop_read"], h["drop_state"], h["drop_alarm"]) == (5, 30, 0, 0)
            assert (h["q_diag"], h["q_read"], h["q_alarm"]) == (0, 20, 10)
            backhaul.restore()
            wait_for(lambda: stored_seqs(database_url, lamp) == list(range(31, 51)), timeout=30,
                     what="the 20 newest readings stored")
            wait_for(lambda: fault_events(database_url, lamp) == 10, timeout=30, what="all 10 alarms stored")
            assert boot_events(database_url, lamp) == 0
            wait_for(lambda: health_of(gw)["q"] == 0, timeout=30, what="queue empty once the drop is reported")
    finally:
        backhaul.stop()


def fault_events(database_url: str, lamp: str) -> int:
    return _events(database_url, lamp, "fault")


def boot_events(database_url: str, lamp: str) -> int:
    return _events(database_url, lamp, "boot")


def _events(database_url: str, lamp: str, ev: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM lamp_events e JOIN lamps l ON l.key = e.lamp_key "
            "WHERE l.id = %s AND e.body->>'ev' = %s", (lamp, ev)).fetchone()
    return int(row[0]) if row else 0
