"""Fixtures for the firmware tests: MicroPython snippets, simulated lamps, an MQTT observer."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from firmware.device import brokerurl, codec
from firmware.tools import micropython
from firmware.tools.simrun import DeviceConfig, SimLamp, prepare


@pytest.fixture(scope="session")
def mpy() -> Callable[..., str]:
    """Runs a snippet on the MicroPython unix port with firmware/device importable; returns stdout."""
    return micropython.run


def mpy_json(code: str, **kw: Any) -> Any:
    """Runs a snippet whose last printed line is JSON; returns it parsed."""
    out = micropython.run(code, **kw).strip().splitlines()
    return json.loads(out[-1])


@dataclass
class Observer:
    """A real MQTT subscriber on a site's topics, collecting what the lamps publish."""

    url: str
    site: str
    persistent: bool = False  # a session that survives broker restarts, as the server's has
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    client: Any = None

    def start(self) -> Observer:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        _tls, host, port, _u, _p = brokerurl.parse(self.url)
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"obs-{self.site}-{time.monotonic_ns()}",
                        clean_session=not self.persistent)
        c.reconnect_delay_set(1, 1)

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            with self.lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

        subscribed = threading.Event()
        c.on_message = on_message
        def on_connect(*_a: Any) -> None:
            c.subscribe(f"{codec.TOPIC_ROOT}/{self.site}/#", 1)

        c.on_connect = on_connect
        c.on_subscribe = lambda *_a: subscribed.set()
        c.connect(host, port)
        c.loop_start()
        assert subscribed.wait(10), "observer could not subscribe at the broker"
        self.client = c
        return self

    def stop(self) -> None:
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def clear_retained(self) -> None:
        """Clears what this test left retained, so a shared broker does not accumulate it."""
        with self.lock:
            topics = {t for t, _p, _r in self.messages}
        for info in [self.client.publish(t, b"", qos=1, retain=True) for t in topics]:
            info.wait_for_publish(5)

    def of(self, lamp: str, kind: str) -> list[bytes]:
        topic = codec.lamp_topic(self.site, lamp, kind)
        with self.lock:
            return [p for t, p, _r in self.messages if t == topic]

    def readings(self, lamp: str) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for p in self.of(lamp, codec.KIND_TELEMETRY):
            out.extend(codec.decode_readings(p, time.time() + 10 * 86400))
        return out

    def events(self, lamp: str, ev: str | None = None) -> list[dict[str, Any]]:
        out = []
        for p in self.of(lamp, codec.KIND_EVENT):
            e = codec.decode_event(p)
            if ev is None or e["ev"] == ev:
                out.append(e)
        return out

    def publish(self, lamp: str, kind: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(codec.lamp_topic(self.site, lamp, kind), payload, qos=1, retain=retain)
        info.wait_for_publish(10)

    def wait(self, pred: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = pred()
            if v:
                return v
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")


class FakeServer:
    """Stands in for the server's ack path in broker-only tests: acknowledges every reading it sees
    (contiguous watermark, as the real server does; a `drop` event's range counts as accounted for),
    published retained on the lamp's ack topic."""

    def __init__(self, obs: Observer, lamp: str) -> None:
        self.obs = obs
        self.lamp = lamp
        self.stored: set[int] = set()
        self.watermark = 0
        self.enabled = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def _run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            time.sleep(0.1)
            if not self.enabled:
                continue
            payloads = self.obs.of(self.lamp, codec.KIND_TELEMETRY)
            for p in payloads[seen:]:
                for r in codec.decode_readings(p, time.time() + 10 * 86400):
                    self.stored.add(r[0])
            seen = len(payloads)
            for e in self.obs.events(self.lamp, "drop"):
                self.stored.update(range(int(e["from"]), int(e["to"]) + 1))
            wm = self.watermark
            while wm + 1 in self.stored:
                wm += 1
            if wm != self.watermark:
                try:
                    self.obs.publish(self.lamp, codec.KIND_ACK, codec.encode_ack(wm), retain=True)
                except (RuntimeError, ValueError):
                    continue  # the broker is away (tests stop it): acknowledge on a later tick
                self.watermark = wm

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


_sites = itertools.count(1)


@pytest.fixture
def site(run_tag: str) -> str:
    """A site of its own for each test: retained messages and last wills cannot leak between tests."""
    return f"fw{run_tag}{next(_sites)}"


@pytest.fixture
def observer(mqtt_url: str, site: str) -> Iterator[Observer]:
    obs = Observer(mqtt_url, site).start()
    yield obs
    obs.clear_retained()
    obs.stop()


@pytest.fixture
def make_lamp(tmp_path: Path, mqtt_url: str, site: str) -> Iterator[Callable[..., SimLamp]]:
    """Starts simulated lamps (real firmware on the unix port); all are stopped at the end."""
    lamps: list[SimLamp] = []

    def make(lamp_id: str = "L1", *, broker: str | None = None, control: dict[str, Any] | None = None,
             start: bool = True, image: Path | None = None, heap: str | None = None, site: str = site,
             **dev: Any) -> SimLamp:
        state = tmp_path / lamp_id
        known = set(DeviceConfig.__dataclass_fields__)
        extra = dict(dev.pop("extra", {}), **{k: dev.pop(k) for k in list(dev) if k not in known})
        cfg = DeviceConfig(lamp=lamp_id, site=site, broker=broker or mqtt_url, keepalive=10, extra=extra, **dev)
        prepare(state, cfg, control=control if control is not None else {})
        kw: dict[str, Any] = {"heap": heap}
        if image is not None:
            kw["image"] = image
        lamp = SimLamp(state, **kw)
        lamps.append(lamp)
        if start:
            lamp.start()
        return lamp

    yield make
    for lamp in lamps:
        lamp.stop()


def world_control(world: float, speed: int, **more: Any) -> dict[str, Any]:
    """Initial control file: the simulated world's clock at `world`, running `speed` times faster."""
    return {"speed": speed, "t0": int(world), "anchor": time.time(), **more}


def timika(days_ago: int, hour: int, minute: int = 0) -> float:
    """A local time in Timika (WIT), some days back so that accelerated clocks stay in the past."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    d = dt.datetime.now(ZoneInfo("Asia/Jayapura")).date() - dt.timedelta(days=days_ago)
    return dt.datetime(d.year, d.month, d.day, hour, minute, tzinfo=ZoneInfo("Asia/Jayapura")).timestamp()


def config(cv: int, *, prof: list[list[list[int]]] | None = None, fb: int = 3600, ri: int = 10,
           default: int = 100, ovr: list[list[int]] | None = None, **extra: Any) -> bytes:
    """A config message for Timika (WIT), all night at 100 % unless told otherwise."""
    cfg: dict[str, Any] = {
        "cv": cv, "loc": [-4.55, 136.88], "tz": 540,
        "prof": prof or [[[codec.ANCHOR_SUNSET, 0, 100, 0], [codec.ANCHOR_SUNRISE, 0, 0, 0]]],
        "def": default, "fb": fb, "ri": ri,
    }
    if ovr:
        cfg["ovr"] = ovr
    cfg.update(extra)
    return codec.encode_config(cfg)
