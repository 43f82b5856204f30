"""``terang bench access``: what access control costs.

- a password login (Argon2id verification) end to end, sequential;
- an authenticated request (token lookup + role check) against a public one doing the same query;
- a Mosquitto connection with a per-device password (PBKDF2) against the generated files, and how
  long `terang broker config` takes to write them for a large fleet.

The server runs as a `terang server` child process on a database of its own, created and dropped here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from server.broker import mosquitto_conf, mosquitto_hash
from server.broker.accounts import BrokerState
from server.broker.acl import Account
from server.embedded.broker import MosquittoBroker
from server.embedded.ports import free_port


@dataclass
class Result:
    name: str
    count: int
    seconds: float
    per_s: float
    p50_ms: float | None = None
    p99_ms: float | None = None
    note: str = ""


@dataclass
class Report:
    started_at: str
    cpus: int
    results: list[Result] = field(default_factory=list)


def _timed(n: int, call: Callable[[], object]) -> Result:
    times = []
    start = time.perf_counter()
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    total = time.perf_counter() - start
    times.sort()
    return Result("", n, total, n / total, statistics.median(times), times[min(n - 1, int(n * 0.99))])


def _server(database_url: str, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "TERANG_DATABASE_URL": database_url, "TERANG_MQTT_URL": "mqtt://127.0.0.1:1",
           "TERANG_INGEST_ENABLED": "false", "TERANG_DATA_DIR": str(tmp / "server"), "TERANG_ENVIRONMENT": "test",
           "TERANG_LOGIN_MAX_FAILURES_PER_CLIENT": "1000000"}
    log = (tmp / "server.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "server", "--port", str(port)], env=env,
                            stdout=log, stderr=log)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/api/v1/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"terang server did not start; see {tmp / 'server.log'}")
        time.sleep(0.2)


def _api_results(database_url: str, tmp: Path, requests: int, logins: int,
                 progress: Callable[[str], None]) -> list[Result]:
    import asyncio

    from server.auth import token_store, users

    password = "bench-" + secrets.token_urlsafe(12)

    async def setup() -> str:
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await users.create(conn, username="bench", password=password, roles=["admin"])
            token, _ = await token_store.create(conn, username="bench", kind="api", name="bench", scopes=None,
                                                ttl=None)
            return token

    proc, url = _server(database_url, tmp)
    try:
        token = asyncio.run(setup())
        results = []
        with httpx.Client(base_url=url, timeout=30) as http:
            progress("password logins")
            r = _timed(logins, lambda: http.post("/api/v1/auth/login",
                                                 json={"username": "bench", "password": password}).raise_for_status())
            r.name, r.note = "login (Argon2id verify + session token)", "sequential"
            results.append(r)
            progress("public requests")
            r = _timed(requests, lambda: http.get("/api/v1/health").raise_for_status())
            r.name, r.note = "GET /health (public, one query)", "sequential"
            results.append(r)
            progress("authenticated requests")
            headers = {"Authorization": f"Bearer {token}"}
            r = _timed(requests, lambda: http.get("/api/v1/auth/me", headers=headers).raise_for_status())
            r.name, r.note = "GET /auth/me (token lookup + role check)", "sequential"
            results.append(r)
            r = _timed(requests, lambda: http.get("/api/v1/sites?limit=1", headers=headers).raise_for_status())
            r.name, r.note = "GET /sites?limit=1 (token + one query)", "sequential"
            results.append(r)
        return results
    finally:
        proc.terminate()
        proc.wait(30)


def _broker_results(accounts: int, connects: int, progress: Callable[[str], None]) -> list[Result]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    root = Path(tempfile.mkdtemp(prefix="terang-bench-access-"))
    root.chmod(0o755)
    try:
        progress(f"hashing {accounts:,} device passwords")
        password = secrets.token_urlsafe(24)
        t0 = time.perf_counter()
        state = BrokerState(
            accounts=[Account(f"lamp.bench.L{k:06d}", "lamp", "bench", f"L{k:06d}") for k in range(accounts)],
            hashes=[(f"lamp.bench.L{k:06d}", mosquitto_hash.hash_password(password)) for k in range(accounts)],
            gateway_lamps={})
        hashing = time.perf_counter() - t0
        port = free_port()
        opts = mosquitto_conf.ConfOptions(config_dir=root / "conf", data_dir=root / "data", port=port,
                                          bind="127.0.0.1", local_port=None, write_pid_file=False)
        progress("writing the password, ACL and conf files")
        t0 = time.perf_counter()
        written = mosquitto_conf.write_files(state, opts)
        writing = time.perf_counter() - t0
        assert written.conf_file is not None
        results = [Result(f"hash {accounts:,} device passwords (PBKDF2-SHA512, 101)", accounts, hashing,
                          accounts / hashing),
                   Result(f"write passwd + acl + conf for {accounts:,} devices", accounts, writing,
                          accounts / writing, note=f"acl {written.acl_file.stat().st_size / 1e6:.1f} MB")]
        (root / "data").mkdir()
        mosquitto_conf.give_to_broker(root / "data", opts.broker_user)
        progress("Mosquitto loading the files")
        t0 = time.perf_counter()
        broker = MosquittoBroker(root / "run", port=port, conf_text=written.conf_file.read_text()).start()
        startup = time.perf_counter() - t0
        results.append(Result(f"Mosquitto start with {accounts:,} accounts", 1, startup, 1 / startup))
        try:
            progress("device connections")

            def connect_once() -> None:
                k = secrets.randbelow(accounts)
                done: list[bool] = []
                client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench.L{k:06d}")
                client.username_pw_set(f"lamp.bench.L{k:06d}", password)
                client.on_connect = lambda c, u, f, rc, p=None: done.append(not rc.is_failure)
                client.connect("127.0.0.1", port)
                while not done:
                    client.loop(0.05)
                client.disconnect()
                assert done[0], "the broker refused a valid device password"

            r = _timed(connects, connect_once)
            r.name, r.note = "device CONNECT with password (CONNACK)", "sequential, new TCP each"
            results.append(r)
        finally:
            broker.stop()
        return results
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(*, server_url: str, requests: int, logins: int, accounts: int, connects: int, out_dir: Path,
        progress: Callable[[str], None]) -> tuple[Report, Path]:
    report = Report(started_at=datetime.now(UTC).isoformat(timespec="seconds"), cpus=os.cpu_count() or 0)
    name = f"terang_bench_access_{secrets.token_hex(3)}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = psycopg.conninfo.make_conninfo(server_url, dbname=name)
    tmp = Path(tempfile.mkdtemp(prefix="terang-bench-access-"))
    try:
        report.results += _api_results(database_url, tmp, requests, logins, progress)
        report.results += _broker_results(accounts, connects, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"bench-access-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    return report, path
