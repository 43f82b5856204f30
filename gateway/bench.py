"""``terang bench gateway``: sustained uplinks/s through the gateway, and replay rate after an outage.

Every party runs in its own process, as in production: the gateway (``terang gateway``), the centre
(``terang server`` on PostgreSQL — a fresh database on ``--database-url``/``TERANG_DATABASE_URL``,
dropped afterwards, or embedded PostgreSQL when unset — or, with ``--centre stub``, a small stand-in
that de-duplicates in memory and publishes the same acks), and two Mosquitto brokers started here with
raised queue limits. The bench watches the gateway only through its retained health report.

1. Sustained: lamps publish one reading per message to the local broker as fast as one client can;
   the clock stops when the gateway reports every reading forwarded (covered by the watermark).
2. Replay: with the gateway stopped, its disk queue is filled with the backlog a day without backhaul
   leaves — ``lamps`` x ``readings_per_lamp`` readings, 5 minutes apart — then the gateway process
   starts; the clock (from process start) stops when its queue is empty, i.e. the centre's watermark
   covers the last reading. The bar: 288,000 readings in under a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware.device import brokerurl, codec
from gateway.config import GatewayConfig, load_config
from gateway.outbox import Item, ItemClass, Outbox

REPLAY_BAR_S = 60.0
INTERVAL_S = 300
HEALTH_INTERVAL_S = 0.25
GW_ID = "gw-bench"


@dataclass(frozen=True)
class BenchOptions:
    lamps: int = 1000
    readings_per_lamp: int = 288
    sustained: int = 20_000
    centre: str = "server"
    database_url: str | None = None


def reading(seq: int, ts: int) -> tuple[Any, ...]:
    return (seq, ts, 82.5, 229.5, 0.376, 0.956, 1000.0 + seq * 6.9, 100, 41.5, 0, 3)


# --- the stub centre (its own process: python -m gateway.bench stub-centre URL SITE) ---------------


async def stub_centre(url: str, site: str) -> None:
    """De-duplicates readings in memory and publishes the contiguous watermark per lamp, like the server."""
    from gateway.mqttclient import make_client

    stored: dict[str, set[int]] = {}
    marks: dict[str, int] = {}
    due: set[str] = set()
    client = make_client(url, f"stub-centre-{site}", manual_ack=False)
    async with client:
        await client.subscribe(codec.lamp_topic(site, "+", codec.KIND_TELEMETRY), qos=1)
        print("ready", flush=True)

        async def acks() -> None:
            nonlocal due
            while True:
                await asyncio.sleep(0.1)
                now_due, due = due, set()
                await asyncio.gather(*(
                    client.publish(codec.lamp_topic(site, lamp, codec.KIND_ACK), codec.encode_ack(marks[lamp]),
                                   qos=1, retain=True) for lamp in now_due))

        async with asyncio.TaskGroup() as tg:
            tg.create_task(acks())
            async for message in client.messages:
                _s, _c, lamp, _k = codec.parse_topic(str(message.topic))
                assert isinstance(message.payload, bytes)
                seqs = stored.setdefault(lamp, set())
                seqs.update(r[0] for r in codec.decode_readings(message.payload, time.time()))
                mark = marks.get(lamp, min(seqs) - 1)
                while mark + 1 in seqs:
                    mark += 1
                marks[lamp] = mark
                due.add(lamp)


# --- processes ---------------------------------------------------------------------------------------


def _terang(*args: str, env: dict[str, str] | None = None, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", *args], stdout=out, stderr=out,
                            env={**os.environ, **(env or {})})
    out.close()
    return proc


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Centre:
    def __init__(self, kind: str, central_url: str, site: str, tmp: Path, database_url: str | None) -> None:
        self.kind = kind
        self.site = site
        self.tmp = tmp
        self.central_url = central_url
        self.admin_url = database_url
        self.dbname = f"terang_bench_{secrets.token_hex(3)}"
        self.db_url: str | None = None
        self.api_url = ""
        self.proc: subprocess.Popen[bytes] | None = None
        self.storage = "none"

    def start(self, lamps: list[str]) -> None:
        if self.kind == "stub":
            log = (self.tmp / "stub.log").open("ab")
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway.bench", "stub-centre", self.central_url,
                                          self.site], stdout=subprocess.PIPE, stderr=log)
            log.close()
            assert self.proc.stdout is not None
            if self.proc.stdout.readline().strip() != b"ready":
                raise RuntimeError("the stub centre did not start; see stub.log")
            return
        from server.embedded.ports import free_port

        env = {"TERANG_MQTT_URL": self.central_url, "TERANG_INGEST_SITES": json.dumps([self.site]),
               "TERANG_DATA_DIR": str(self.tmp / "server"), "TERANG_ENVIRONMENT": "test",
               "TERANG_MQTT_CLIENT_ID": f"terang-bench-{self.site}"}
        if self.admin_url:
            from server.services import ensure_database

            self.db_url = ensure_database(self.admin_url, self.dbname)
            env["TERANG_DATABASE_URL"] = self.db_url
        port = free_port()
        self.api_url = f"http://127.0.0.1:{port}"
        self.proc = _terang("server", "--port", str(port), env=env, log=self.tmp / "server.log")
        self._wait_api()
        self._register(lamps, self._token(env))

    def _token(self, env: dict[str, str]) -> str:
        """An administrator and an API token in the server's database, made the way an operator
        would (`terang user create`, `terang token create`)."""
        full = {**os.environ, **env, "TERANG_NEW_PASSWORD": "bench-" + secrets.token_urlsafe(12)}
        base = [sys.executable, "-m", "server.cli"]
        subprocess.run([*base, "user", "create", "bench", "--role", "admin"], env=full, check=False,
                       capture_output=True)  # already there on a reused database: fine
        done = subprocess.run([*base, "token", "create", "bench", "--name", "gateway bench", "--days", "1"],
                              env=full, check=True, capture_output=True, text=True)
        return done.stdout.strip().splitlines()[0]

    def _wait_api(self) -> None:
        import httpx

        deadline = time.monotonic() + 180
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"terang server exited; see {self.tmp / 'server.log'}")
            with contextlib.suppress(httpx.HTTPError):
                r = httpx.get(f"{self.api_url}/api/v1/health", timeout=2)
                if r.status_code == 200:
                    body = r.json()
                    self.storage = str(body.get("storage") or body.get("storage_mode") or "postgres")
                    return
            if time.monotonic() > deadline:
                raise TimeoutError("terang server did not answer")
            time.sleep(0.2)

    def _register(self, lamps: list[str], token: str) -> None:
        import httpx

        with httpx.Client(base_url=self.api_url, timeout=300, headers={"Authorization": f"Bearer {token}"}) as api:
            r = api.post("/api/v1/sites", json={"id": self.site, "name": "bench", "lat": -4.55, "lon": 136.88})
            r.raise_for_status()
            features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [136.88, -4.55]},
                         "properties": {"id": lamp, "site_id": self.site, "rated_w": 90.0, "radio": "wifi"}}
                        for lamp in lamps]
            r = api.post("/api/v1/lamps/import", json={"type": "FeatureCollection", "features": features},
                         headers={"content-type": "application/geo+json"})
            r.raise_for_status()

    def stored_rows(self) -> int | None:
        if self.kind != "server" or self.db_url is None:
            return None
        import psycopg

        with psycopg.connect(self.db_url) as conn:
            row = conn.execute("SELECT count(*) FROM readings r JOIN lamps l ON l.key = r.lamp_key "
                               "WHERE l.site_id = %s", (self.site,)).fetchone()
        return int(row[0]) if row else 0

    def stop(self) -> None:
        _stop(self.proc)
        if self.admin_url and self.db_url:
            import psycopg
            from psycopg import sql

            with psycopg.connect(self.admin_url, autocommit=True) as admin:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.dbname)))


class HealthWatch:
    """The gateway's retained health report, as the bench sees it from the central broker."""

    def __init__(self, central_url: str, site: str) -> None:
        import paho.mqtt.client as mqtt

        _, host, port, _, _ = brokerurl.parse(central_url)
        self.latest: dict[str, Any] = {}
        self.changed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
                                  client_id=f"bench-watch-{secrets.token_hex(3)}")
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe(codec.gw_topic(site, GW_ID, codec.KIND_STATE), qos=1)
        self.client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: Any) -> None:
        with contextlib.suppress(codec.CodecError):
            state = codec.decode_state(msg.payload)
            h = state.get("h")
            self.latest = dict(h) if isinstance(h, dict) else {"st": state.get("st")}
            self.changed.set()

    def wait(self, check: Any, timeout: float, what: str) -> float:
        deadline = time.monotonic() + timeout
        while not check(self.latest):
            if time.monotonic() > deadline:
                raise TimeoutError(f"gateway bench: timed out waiting for {what} (last health {self.latest})")
            self.changed.wait(0.05)
            self.changed.clear()
        return time.monotonic()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


# --- phases ----------------------------------------------------------------------------------------


def write_config(path: Path, site: str, central: str, local: str) -> GatewayConfig:
    path.write_text(
        f'[gateway]\nid = "{GW_ID}"\nsite = "{site}"\ndata_dir = "gw-data"\n\n'
        f'[central]\nurl = "{central}"\nhealth_interval_s = {HEALTH_INTERVAL_S}\n\n'
        f'[local]\nenabled = true\nurl = "{local}"\n\n[queue]\nsync = "full"\n')
    return load_config(path)


def sustained_phase(config: Path, cfg: GatewayConfig, watch: HealthWatch, lamps: list[str], rounds: int,
                    local_url: str, log: Path) -> dict[str, Any]:
    import paho.mqtt.client as mqtt

    gw = _terang("gateway", "--config", str(config), log=log)
    try:
        watch.wait(lambda h: h.get("bh") == "up" and h.get("local") == "up", 60, "the gateway to connect")
        forwarded0 = int(watch.latest.get("fwd", 0))
        _, host, port, _, _ = brokerurl.parse(local_url)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-lamps")  # type: ignore[attr-defined]
        pub.max_inflight_messages_set(1000)
        pub.connect(host, port)
        pub.loop_start()
        now = int(time.time())
        payloads = [(codec.lamp_topic(cfg.gateway.site, lamp, codec.KIND_TELEMETRY),
                     codec.encode_readings([reading(seq, now - 3600 + seq)]))
                    for seq in range(1, rounds + 1) for lamp in lamps]
        t0 = time.monotonic()
        infos = [pub.publish(topic, payload, qos=1) for topic, payload in payloads]
        for info in infos:
            info.wait_for_publish(300)
        published = time.monotonic() - t0
        total = len(payloads)
        t_end = watch.wait(lambda h: int(h.get("fwd", 0)) - forwarded0 >= total, 900,
                           "every live reading to be acknowledged")
        pub.loop_stop()
        pub.disconnect()
        seconds = t_end - t0
        return {"uplinks": total, "messages": total, "publish_s": round(published, 3), "seconds": round(seconds, 3),
                "uplinks_per_s": round(total / seconds, 1)}
    finally:
        _stop(gw)


def fill_backlog(cfg: GatewayConfig, lamps: list[str], per_lamp: int, first_seq: int) -> int:
    """Writes the queue a day-long outage leaves behind: per lamp, ``per_lamp`` readings 5 min apart."""
    box = Outbox(cfg.database_path, max_items=cfg.queue.max_items, sync="normal")
    start = int(time.time()) - per_lamp * INTERVAL_S
    try:
        for k in range(per_lamp):
            ts = start + k * INTERVAL_S
            seq = first_seq + k
            box.put([Item(lamp, "telemetry", ItemClass.READING, codec.encode_reading(reading(seq, ts)), seq)
                     for lamp in lamps], now=float(ts))
        return box.depth
    finally:
        box.close()


def replay_phase(config: Path, watch: HealthWatch, expected: int, log: Path) -> dict[str, Any]:
    watch.latest = {}
    t0 = time.monotonic()
    gw = _terang("gateway", "--config", str(config), log=log)
    try:
        t_up = watch.wait(lambda h: h.get("bh") == "up", 120, "the gateway to connect")
        t_end = watch.wait(lambda h: h.get("bh") == "up" and h.get("q") == 0, 1800,
                           "the backlog to be acknowledged")
        seconds = t_end - t0
        return {"readings": expected, "seconds": round(seconds, 3), "startup_s": round(t_up - t0, 3),
                "readings_per_s": round(expected / seconds, 1), "resent": watch.latest.get("resent"),
                "bar_s": REPLAY_BAR_S, "meets_bar": seconds < REPLAY_BAR_S}
    finally:
        _stop(gw)


def run(opts: BenchOptions) -> dict[str, Any]:
    from server.embedded.broker import MosquittoBroker

    if opts.centre not in ("server", "stub"):
        raise ValueError("centre: 'server' or 'stub'")
    tmp = Path(tempfile.mkdtemp(prefix="terang-gw-bench-"))
    site = f"bench{secrets.token_hex(3)}"
    lamps = [f"BL{i:05d}" for i in range(opts.lamps)]
    central = MosquittoBroker(tmp / "central").start()
    local = MosquittoBroker(tmp / "local").start()
    centre = Centre(opts.centre, central.url, site, tmp, opts.database_url)
    watch: HealthWatch | None = None
    result: dict[str, Any] = {"centre": opts.centre, "lamps": opts.lamps, "cpus": os.cpu_count(),
                              "gateway": {"sync": "full", "batch_max": 500, "inflight_max": 500}}
    try:
        centre.start(lamps)
        result["storage"] = centre.storage
        watch = HealthWatch(central.url, site)
        config = tmp / "gateway.toml"
        cfg = write_config(config, site, central.url, local.url)
        # Whole rounds of the fleet, so each lamp's backlog continues its live sequence without a gap
        # (a gap would rightly hold the watermark back).
        rounds = -(-opts.sustained // opts.lamps)
        if rounds:
            result["sustained"] = sustained_phase(config, cfg, watch, lamps, rounds, local.url, tmp / "gateway.log")
        backlog = fill_backlog(cfg, lamps, opts.readings_per_lamp, rounds + 1)
        result["replay"] = replay_phase(config, watch, backlog, tmp / "gateway.log")
        stored = centre.stored_rows()
        if stored is not None:
            result["stored_rows"] = stored
            result["stored_expected"] = rounds * opts.lamps + backlog
        return result
    except BaseException:
        for name in ("gateway.log", "server.log", "stub.log"):
            path = tmp / name
            if path.exists():
                sys.stderr.write(f"--- {name} (tail) ---\n{path.read_text(errors='replace')[-3000:]}\n")
        raise
    finally:
        if watch is not None:
            watch.close()
        centre.stop()
        central.stop()
        local.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    centre = f"real server ({result.get('storage')})" if result["centre"] == "server" else "stub centre"
    t = Table(title=f"terang bench gateway — {centre}, {result['cpus']} CPUs")
    t.add_column("phase")
    t.add_column("readings", justify="right")
    t.add_column("seconds", justify="right")
    t.add_column("readings/s", justify="right")
    t.add_column("note")
    s = result.get("sustained")
    if s:
        t.add_row("sustained, 1 reading/message", f"{s['uplinks']:,}", f"{s['seconds']:.1f}",
                  f"{s['uplinks_per_s']:,.0f}", f"offered in {s['publish_s']:.1f} s")
    r = result["replay"]
    verdict = "meets" if r["meets_bar"] else "MISSES"
    t.add_row(f"replay, {result['lamps']:,} lamps' backlog", f"{r['readings']:,}", f"{r['seconds']:.1f}",
              f"{r['readings_per_s']:,.0f}", f"{verdict} the {r['bar_s']:.0f} s bar (startup {r['startup_s']:.1f} s)")
    if "stored_rows" in result:
        t.add_row("stored in PostgreSQL", f"{result['stored_rows']:,}", "", "",
                  f"expected {result['stored_expected']:,}")
    Console().print(t)


if __name__ == "__main__" and sys.argv[1:2] == ["stub-centre"]:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(stub_centre(sys.argv[2], sys.argv[3]))
