"""``terang bench ingest``: readings stored per second and publish-to-stored latency.

Throughput is measured by draining a loaded broker, so the publisher's speed does not limit the
consumer: the consumers' persistent sessions are created first, every message is published and
queued in a Mosquitto started for the benchmark (with raised queue limits), and then the consumers
start. The same queue is drained by a bare aiomqtt subscriber (the ceiling), by one ingestion
worker, and by two workers sharing an MQTT v5 shared subscription. Latency is measured separately
with a live publisher at a steady rate. Everything runs on this machine, so the ratios of one run
are what to quote; absolute rates move with the machine's load.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from psycopg import conninfo, sql

from firmware.device import codec
from server.db import partitions
from server.db.migrate import migrate
from server.embedded.broker import MosquittoBroker
from server.ingest.worker import subscriptions

SITE = "bench"
SHARE_GROUP = "terang-bench"


def _share_group(n: int, tag: str) -> str | None:
    # One group per scenario: a shared subscription keeps dealing messages to a member whose
    # persistent session outlives its process, so groups must not be reused between scenarios.
    return f"{SHARE_GROUP}-{tag}" if n > 1 else None


@dataclass
class Result:
    scenario: str
    consumer: str
    messages: int
    readings: int
    seconds: float
    readings_per_s: float
    messages_per_s: float
    cpu_us_per_reading: float | None = None
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    samples: list[float] = field(default_factory=list)


@dataclass
class Report:
    started_at: str
    machine: dict[str, Any]
    config: dict[str, Any]
    results: list[Result] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)


# -- fixtures: database, lamps, payloads -------------------------------------------------------------


def _fresh_database(server_url: str) -> str:
    name = f"terang_bench_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = conninfo.make_conninfo(server_url, dbname=name)
    migrate(url)
    return url


def _drop_database(server_url: str, url: str) -> None:
    name = conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name))))


def _register_lamps(url: str, n: int) -> list[str]:
    ids = [f"B{i:06d}" for i in range(n)]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO sites (id, name) VALUES (%s, 'Benchmark') ON CONFLICT DO NOTHING", (SITE,))
        conn.execute(
            "INSERT INTO lamps (id, site_id, lat, lon, rated_w, radio)"
            " SELECT unnest(%s::text[]), %s, -4.55, 136.88, 90, 'wifi'",
            (ids, SITE),
        )
        today = datetime.now(UTC).date()
        partitions.ensure_ahead(conn, today=today, ahead_days=1, behind_days=2)
    return ids


def _reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE readings, dead_letters, ingest_counters, ingest_workers, rollup_dirty")
        conn.execute(
            "UPDATE lamp_status SET ack_seq = -1, pending = '{}', last_seq = NULL, last_ts = NULL, last_e = NULL"
        )


def _payloads(lamps: list[str], messages: int, per_message: int, first_seq: int) -> list[tuple[str, bytes]]:
    """``messages`` messages of ``per_message`` readings, round-robin over the lamps, seqs increasing."""
    now = int(time.time())
    out = []
    seqs = dict.fromkeys(lamps, first_seq)
    span = max(messages * per_message // len(lamps), 1)
    for k in range(messages):
        lamp = lamps[k % len(lamps)]
        batch = []
        for _ in range(per_message):
            seq = seqs[lamp]
            seqs[lamp] = seq + 1
            ts = now - 3600 - (span - (seq - first_seq)) * 30
            batch.append((seq, ts, 78.5, 221.3, 0.36, 0.97, 1000.0 + seq * 6.5, 100, 41.0, 0, 3))
        topic = codec.lamp_topic(SITE, lamp, codec.KIND_TELEMETRY)
        payload = codec.encode_reading(batch[0]) if per_message == 1 else codec.encode_readings(batch)
        out.append((topic, payload))
    return out


# -- MQTT helpers --------------------------------------------------------------------------------


def _paho(url: str, client_id: str, *, v5: bool, persistent: bool = True) -> mqtt.Client:
    from firmware.device import brokerurl

    _, host, port, _, _ = brokerurl.parse(url)
    if v5:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    else:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=not persistent)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    if v5:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        client.connect(host, port, clean_start=not persistent, properties=props)
    else:
        client.connect(host, port)
    client.loop_start()
    return client


def _create_session(url: str, client_id: str, topics: list[str], *, v5: bool) -> None:
    """Connects with a persistent session and subscribes, so the broker queues for it from now on."""
    client = _paho(url, client_id, v5=v5)
    info = client.subscribe([(t, 1) for t in topics])
    deadline = time.monotonic() + 10
    while not client.is_connected() or info[0] != mqtt.MQTT_ERR_SUCCESS:
        if time.monotonic() > deadline:
            raise RuntimeError("could not subscribe")
        time.sleep(0.05)
        info = client.subscribe([(t, 1) for t in topics]) if info[0] != mqtt.MQTT_ERR_SUCCESS else info
    time.sleep(0.3)  # let the SUBACK arrive before we go away
    client.disconnect()
    client.loop_stop()


def _discard_session(url: str, client_id: str, *, v5: bool) -> None:
    """Ends a persistent session so the broker stops queueing for it."""
    client = _paho(url, client_id, v5=v5, persistent=False)
    deadline = time.monotonic() + 10
    while not client.is_connected() and time.monotonic() < deadline:
        time.sleep(0.02)
    client.disconnect()
    client.loop_stop()


def _publish(url: str, payloads: list[tuple[str, bytes]], *, rate: float | None = None) -> list[float]:
    """Publishes QoS 1 and waits for every PUBACK; returns each message's publish wall time."""
    client = _paho(url, f"bench-pub-{os.getpid()}", v5=False, persistent=False)
    while not client.is_connected():
        time.sleep(0.01)
    times = []
    infos = []
    start = time.perf_counter()
    for k, (topic, payload) in enumerate(payloads):
        if rate is not None:
            due = start + k / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        times.append(time.time())
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(120)
    client.disconnect()
    client.loop_stop()
    return times


# -- consumers -----------------------------------------------------------------------------------


def _worker_env(database_url: str, mqtt_url: str, share: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "TERANG_DATABASE_URL": database_url,
        "TERANG_MQTT_URL": mqtt_url,
        "TERANG_INGEST_SITES": json.dumps([SITE]),
        "TERANG_INGEST_BATCH_READINGS": "10000",
        "TERANG_INGEST_FLUSH_MS": "100",
        "TERANG_ACK_MIN_INTERVAL_MS": "1000",
    })
    env.pop("TERANG_INGEST_SHARE_GROUP", None)
    if share:
        env["TERANG_INGEST_SHARE_GROUP"] = share
    return env


def _worker_ids(n: int, tag: str) -> list[str]:
    return [f"bench-{tag}-w{k}" for k in range(n)]


def _create_sessions(n: int, mqtt_url: str, tag: str) -> None:
    share = _share_group(n, tag)
    for worker_id in _worker_ids(n, tag):
        _create_session(mqtt_url, worker_id, subscriptions([SITE], share), v5=bool(share))


@contextmanager
def _workers(n: int, database_url: str, mqtt_url: str, tag: str) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Starts ``n`` ingestion worker processes whose sessions ``_create_sessions`` made."""
    share = _share_group(n, tag)
    ids = _worker_ids(n, tag)
    yield_procs: list[subprocess.Popen[bytes]] = []
    try:
        for worker_id in ids:
            yield_procs.append(subprocess.Popen(
                [sys.executable, "-m", "server.cli", "ingest", "--worker-id", worker_id],
                env=_worker_env(database_url, mqtt_url, share), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            ))
        yield yield_procs
    finally:
        for proc in yield_procs:
            proc.terminate()
        for proc in yield_procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for worker_id in ids:
            _discard_session(mqtt_url, worker_id, v5=bool(share))


def _stored(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT COALESCE(sum(value), 0) FROM ingest_counters WHERE metric = 'readings_stored'"
        ).fetchone()
    return int(row[0]) if row else 0


def _wait(check: Callable[[], bool], timeout: float, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for proc in procs:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"ingest worker exited with {proc.returncode}:\n{err[-3000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError("ingestion did not finish in time")
        time.sleep(0.2)


def _cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    total = 0.0
    for proc in procs:
        try:
            t = psutil.Process(proc.pid).cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def _measure_ceiling(mqtt_url: str, payloads: list[tuple[str, bytes]], per_message: int, tag: str) -> Result:
    topic = f"{codec.TOPIC_ROOT}/{SITE}/lamp/+/{codec.KIND_TELEMETRY}"
    client_id = f"bench-{tag}-bare"
    _create_session(mqtt_url, client_id, [topic], v5=False)
    _publish(mqtt_url, payloads)
    out = subprocess.run(
        [sys.executable, "-m", "server.ingest.bench_subscriber", mqtt_url, client_id, topic, str(len(payloads))],
        capture_output=True, check=True, timeout=600,
    )
    _discard_session(mqtt_url, client_id, v5=False)
    data = json.loads(out.stdout)
    seconds = max(data["last"] - data["first"], 1e-6)
    n = int(data["count"])
    return Result(tag, "bare aiomqtt subscriber (ceiling)", n, n * per_message, seconds,
                  n * per_message / seconds, n / seconds)


def _measure_ingest(
    database_url: str, mqtt_url: str, payloads: list[tuple[str, bytes]], per_message: int, workers: int, tag: str
) -> Result:
    """Rate = readings / time from the first message a worker received to the last batch stored,
    so process start-up is excluded, as it is for the ceiling (first to last message)."""
    _reset(database_url)
    expected = len(payloads) * per_message
    _create_sessions(workers, mqtt_url, tag)
    _publish(mqtt_url, payloads)
    with _workers(workers, database_url, mqtt_url, tag) as procs:
        _wait(lambda: _stored(database_url) >= expected, 900, procs)
        cpu = _cpu_seconds(procs)
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM readings),"
            " (SELECT max(last_flush_at) - min(first_message_at) FROM ingest_workers WHERE worker_id = ANY(%s))",
            (_worker_ids(workers, tag),),
        ).fetchone()
    assert row is not None
    count, span = row
    if count != expected:
        raise RuntimeError(f"stored {count} readings, expected {expected}")
    seconds = max(span.total_seconds(), 1e-6)
    label = "1 ingestion worker" if workers == 1 else f"{workers} workers, shared subscription"
    return Result(tag, label, len(payloads), count, seconds, count / seconds, len(payloads) / seconds,
                  cpu_us_per_reading=cpu / count * 1e6)


def _measure_latency(
    database_url: str, mqtt_url: str, lamps: list[str], per_message: int, rate: float, seconds: float, tag: str
) -> Result:
    _reset(database_url)
    messages = int(rate * seconds)
    payloads = _payloads(lamps, messages, per_message, first_seq=1)
    expected = messages * per_message
    _create_sessions(1, mqtt_url, tag)
    with _workers(1, database_url, mqtt_url, tag) as procs:
        time.sleep(3.0)  # the worker connects and subscribes
        published = _publish(mqtt_url, payloads, rate=rate)
        _wait(lambda: _stored(database_url) >= expected, 300, procs)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT l.id, r.seq, extract(epoch FROM r.ingested_at) FROM readings r JOIN lamps l ON l.key = r.lamp_key"
        ).fetchall()
    stored_at = {(lamp, int(seq)): float(at) for lamp, seq, at in rows}
    latencies = []
    for k, (topic, _) in enumerate(payloads):
        lamp = topic.split("/")[4]
        first_seq = 1 + (k // len(lamps)) * per_message  # seqs start at 1
        latencies.append((stored_at[(lamp, first_seq + per_message - 1)] - published[k]) * 1000)
    latencies.sort()
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return Result(tag, f"1 worker, live publisher at {rate:.0f} msg/s", messages, expected, seconds,
                  expected / seconds, rate, latency_p50_ms=p50, latency_p99_ms=p99)


def _median(results: list[Result]) -> Result:
    """The run with the median rate; every run's rate is kept in ``samples``."""
    ordered = sorted(results, key=lambda r: r.readings_per_s)
    chosen = ordered[len(ordered) // 2]
    chosen.samples = [round(r.readings_per_s) for r in results]
    return chosen


# -- entry point ---------------------------------------------------------------------------------


def run(
    *,
    server_url: str,
    lamps: int = 1000,
    single_messages: int = 40_000,
    batch_messages: int = 8_000,
    batch_size: int = 50,
    repeats: int = 3,
    out_dir: Path = Path("reports"),
    progress: Callable[[str], None] = print,
) -> tuple[Report, Path]:
    report = Report(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine={"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        config={"lamps": lamps, "single_messages": single_messages, "batch_messages": batch_messages,
                "batch_size": batch_size, "repeats": repeats},
    )
    with tempfile.TemporaryDirectory(prefix="terang-bench-") as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker").start()
        database_url = _fresh_database(server_url)
        try:
            ids = _register_lamps(database_url, lamps)
            for tag, messages, per in (("single", single_messages, 1), (f"batch{batch_size}", batch_messages,
                                                                          batch_size)):
                payloads = _payloads(ids, messages, per, first_seq=1)
                progress(f"{tag}: bare subscriber ceiling ({messages} messages)")
                ceiling = _median([_measure_ceiling(broker.url, payloads, per, f"{tag}-r{k}") for k in range(repeats)])
                ceiling.scenario = tag
                report.results.append(ceiling)
                for workers in (1, 2):
                    progress(f"{tag}: {workers} ingestion worker(s)")
                    result = _median([
                        _measure_ingest(database_url, broker.url, payloads, per, workers, f"{tag}-{workers}w-r{k}")
                        for k in range(repeats)
                    ])
                    result.scenario = tag
                    report.results.append(result)
                    report.ratios[f"{tag}_{workers}w_over_ceiling"] = round(
                        result.messages_per_s / ceiling.messages_per_s, 3
                    )
            progress("latency: live publisher")
            report.results.append(_measure_latency(database_url, broker.url, ids, 1, 500, 10, "latency-single"))
            report.results.append(
                _measure_latency(database_url, broker.url, ids, batch_size, 100, 10, f"latency-batch{batch_size}")
            )
        finally:
            _drop_database(server_url, database_url)
            broker.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-ingest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    return report, path
