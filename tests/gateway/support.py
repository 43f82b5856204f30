"""Test doubles and fault injectors for the gateway's end-to-end tests.

- ``GatewayThread``: the real gateway service on its own event loop in a thread.
- ``Backhaul``: a TCP proxy standing in for the 4G link; ``cut()`` drops every connection and refuses
  new ones until ``restore()``.
- ``LocalLamps``: Wi-Fi lamps publishing codec readings to the local broker, QoS 1.
- ``LoraLamp``: a LoRa lamp on the simulated medium that keeps a journal, asks for the gateway's
  watermark with confirmed uplinks, answers sync requests and re-sends what was not acknowledged.
- ``stored``: what the real server stored, counted in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from firmware.device import airtime, brokerurl, codec, lorawire
from gateway.config import GatewayConfig, parse_config
from gateway.lora import LoraLink
from gateway.service import Gateway

BASE_TS = int(time.time()) - 600


def reading(seq: int, e: float | None = None) -> tuple[Any, ...]:
    """A plausible reading; ts and energy advance with seq so a lamp's series is consistent."""
    energy = float(seq) * 10.0 if e is None else e
    return (seq, BASE_TS + seq, 80.0, 230.0, 0.366, 0.95, energy, 100, None, 0, None)


def gateway_config(tmp: Path, *, gw_id: str, site: str, central: str, local: str | None = None,
                   medium: tuple[str, int] | None = None, **overrides: Any) -> GatewayConfig:
    data: dict[str, Any] = {
        "gateway": {"id": gw_id, "site": site, "data_dir": str(tmp / gw_id)},
        "central": {"url": central, "resend_after_s": 5.0, "health_interval_s": 1.0, "reconnect_max_s": 1.0,
                    "connect_timeout_s": 2.0},
        "local": {"enabled": local is not None, "url": local or "mqtt://127.0.0.1:1", "ack_interval_s": 0.05},
        "radio": {"kind": "udp" if medium else "none",
                  "medium": f"{medium[0]}:{medium[1]}" if medium else "127.0.0.1:1700"},
        "queue": {"sync": "normal"},
    }
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    return parse_config(data)


class GatewayThread:
    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.loop = asyncio.new_event_loop()
        self._gateway: Gateway | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._main, name=f"gw-{cfg.gateway.id}", daemon=True)
        self._started: Future[None] = Future()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def run() -> None:
            gateway = self._gateway = Gateway(self.cfg)
            self._started.set_result(None)
            try:
                await gateway.run()
            finally:
                gateway.close()

        self._task = self.loop.create_task(run())
        with contextlib.suppress(asyncio.CancelledError):
            self.loop.run_until_complete(self._task)
        self.loop.close()

    def start(self, *, wait_backhaul: bool = True) -> GatewayThread:
        """Starts the gateway and waits until its uplink sources are subscribed (and the backhaul is up)."""
        self._thread.start()
        self._started.result(10)
        deadline = time.monotonic() + 20
        while not self.ready(wait_backhaul):
            if time.monotonic() > deadline:
                raise TimeoutError("the gateway did not connect")
            time.sleep(0.02)
        return self

    @property
    def gateway(self) -> Gateway:
        assert self._gateway is not None, "the gateway has not started"
        return self._gateway

    @property
    def lora(self) -> LoraLink:
        assert self.gateway.lora is not None, "the gateway has no radio"
        return self.gateway.lora

    def ready(self, backhaul: bool = True) -> bool:
        gw = self._gateway
        if gw is None:
            return False
        if backhaul and not gw.central.connected.is_set():
            return False
        if gw.local is not None and not gw.local.connected.is_set():
            return False
        return gw.lora is None or gw.lora.radio.welcomed.is_set()

    def call(self, fn: Any) -> Any:
        """Runs ``fn()`` on the gateway's loop (the outbox is not shared across threads) and returns its value."""
        async def wrapped() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    def stop(self) -> None:
        if self._task is not None and not self.loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(15)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Backhaul:
    """A cuttable TCP link from 127.0.0.1:<port> to the central broker."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.up = True
        self.loop = asyncio.new_event_loop()
        self._conns: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, name="backhaul", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Backhaul:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self.loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._conns.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()
                self._conns.discard(dst)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        def _cut() -> None:
            self.up = False
            for w in list(self._conns):
                with contextlib.suppress(Exception):
                    w.transport.abort()
            self._conns.clear()

        self.loop.call_soon_threadsafe(_cut)
        time.sleep(0.1)

    def restore(self) -> None:
        self.up = True

    def stop(self) -> None:
        self.cut()

        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


class LocalLamps:
    """Wi-Fi lamps on the local broker, one paho client for all of them (QoS 1, persistent session)."""

    def __init__(self, url: str, site: str, client_id: str) -> None:
        _, host, port, _, _ = brokerurl.parse(url)
        self.site = site
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        self.client.max_inflight_messages_set(100)
        self.client.connect(host, port)
        self.client.loop_start()
        self.sent: dict[str, list[int]] = {}
        self._infos: list[mqtt.MQTTMessageInfo] = []

    def publish(self, lamp: str, seqs: Iterable[int]) -> None:
        rs = [reading(s) for s in seqs]
        topic = codec.lamp_topic(self.site, lamp, codec.KIND_TELEMETRY)
        self._infos.append(self.client.publish(topic, codec.encode_readings(rs), qos=1))
        self.sent.setdefault(lamp, []).extend(r[0] for r in rs)

    def publish_raw(self, lamp: str, kind: str, payload: bytes) -> None:
        self._infos.append(self.client.publish(codec.lamp_topic(self.site, lamp, kind), payload, qos=1))

    def wait_published(self, timeout: float = 30) -> None:
        for info in self._infos:
            info.wait_for_publish(timeout)
        self._infos.clear()

    def close(self) -> None:
        self.wait_published()
        self.client.loop_stop()
        self.client.disconnect()


class LoraLamp:
    """A LoRa lamp with a journal: what the gateway has not acknowledged is kept and sent again.

    Each new reading goes out at once; every ``confirm_every``-th uplink is confirmed, and the gateway
    answers with its held watermark (and the first gap). The lamp trims its journal up to the
    watermark and re-sends the gap before its next new reading.
    """

    def __init__(self, radio: lorawire.UdpRadio, lamp: str, devaddr: int, channel: int, sf: int = 7,
                 confirm_every: int = 4, answer_commands: bool = True) -> None:
        self.radio = radio
        self.answer_commands = answer_commands
        self.lamp = lamp
        self.devaddr = devaddr
        self.channel = channel
        self.sf = sf
        self.confirm_every = confirm_every
        self.journal: dict[int, tuple[Any, ...]] = {}
        self.resend: list[int] = []
        self.next_seq = 1
        self.fcnt = 0
        self.acked = 0
        self.free_at_us = 0
        self.downlinks: list[tuple[str, dict[str, object]]] = []

    def _send(self, fport: int, body: bytes, confirmed: bool) -> bool:
        """One uplink and its receive windows; True when a downlink arrived."""
        wait = self.radio.wall_delay(self.free_at_us)
        if wait > 0:
            time.sleep(wait)
        self.fcnt += 1
        mtype = lorawire.MTYPE_CONFIRMED_UP if confirmed else lorawire.MTYPE_UNCONFIRMED_UP
        frame = lorawire.build_phy(mtype, self.devaddr, self.fcnt, fport, body)
        result = self.radio.transmit(frame, self.channel, self.sf, tx_id=self.devaddr)
        self.free_at_us = result.next_free_us
        if not result.ok:
            return False
        down = self.radio.class_a_downlink(result, self.channel, self.sf, self.devaddr)
        if down is None:
            return False
        _m, _a, _c, _f, _p, payload = lorawire.parse_phy(down)
        self._handle(payload)
        return True

    def _handle(self, payload: bytes) -> None:
        kind, obj = codec.decode_lora_downlink(payload, int(time.time()), self.next_seq - 1)
        self.downlinks.append((kind, obj))
        if kind == codec.KIND_ACK:
            seq = int(obj["seq"])  # type: ignore[call-overload]
            self.acked = max(self.acked, seq)
            for s in [s for s in self.journal if s <= seq]:
                del self.journal[s]
            missing = obj.get("miss")
            ranges = missing if isinstance(missing, list) else []
            self.resend = [s for a, z in ranges for s in range(a, z + 1) if s in self.journal]
        elif kind == codec.KIND_CMD and self.answer_commands:
            self.sync()  # a device answers every command with a sync alarm (docs/protocol.md 10.1)

    def _send_reading(self, seq: int, confirmed: bool) -> bool:
        return self._send(lorawire.FPORT_CODEC, codec.encode_lora_reading(self.journal[seq]), confirmed)

    def hello(self) -> None:
        self._send(lorawire.FPORT_HELLO, self.lamp.encode(), False)

    def sync(self) -> None:
        last = self.next_seq - 1
        ev = {"ts": int(time.time()), "ev": "sync", "seq": last, "e": float(last) * 10.0}
        self._send(lorawire.FPORT_CODEC, codec.encode_lora_alarm(ev), False)

    def report(self) -> None:
        """Takes a new reading and sends it (after a gap the gateway asked for, if any)."""
        seq = self.next_seq
        self.journal[seq] = reading(seq)
        self.next_seq += 1
        confirmed = self.fcnt % self.confirm_every == self.confirm_every - 1
        if self.resend:
            self._send_reading(self.resend.pop(0), confirmed)
        else:
            self._send_reading(seq, confirmed)

    def flush(self, timeout: float = 60.0) -> None:
        """Confirmed uplinks of the oldest unacknowledged reading until the gateway holds everything."""
        deadline = time.monotonic() + timeout
        while self.journal and time.monotonic() < deadline:
            self._send_reading(self.resend.pop(0) if self.resend else min(self.journal), True)


def lora_channel(i: int) -> int:
    return airtime.AS923_2_CHANNELS[i % len(airtime.AS923_2_CHANNELS)]


def stored(database_url: str, lamps: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Per lamp: (rows, distinct seqs) in the server's readings table."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT l.id, count(*), count(DISTINCT r.seq) FROM readings r JOIN lamps l ON l.key = r.lamp_key "
            "WHERE l.id = ANY(%s) GROUP BY l.id", (list(lamps),)).fetchall()
    return {lamp: (int(n), int(d)) for lamp, n, d in rows}


def stored_seqs(database_url: str, lamp: str) -> list[int]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT r.seq FROM readings r JOIN lamps l ON l.key = r.lamp_key WHERE l.id = %s ORDER BY r.seq",
            (lamp,)).fetchall()
    return [int(s) for (s,) in rows]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
