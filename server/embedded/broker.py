"""A local MQTT broker: Mosquitto when it is on PATH, else amqtt in a background thread.

Mosquitto's default ``max_queued_messages`` (1000) silently drops QoS 1 messages queued for a slow
subscriber, so every broker this project configures raises it and turns persistence on.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from server.embedded.ports import free_port, wait_for_port

# Per-client queue limits for brokers we configure; large enough for a day of backlog.
MAX_QUEUED_MESSAGES = 1_000_000
MAX_INFLIGHT_MESSAGES = 100


class RunningBroker(Protocol):
    url: str

    def stop(self) -> None: ...


def mosquitto_conf(port: int, data_dir: Path, extra: str = "") -> str:
    # Started as root, Mosquitto drops to the `mosquitto` user and then cannot write its persistence
    # file into our directory, so sessions would not survive a restart; stay whoever started it.
    return (
        f"user {getpass.getuser()}\n"
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {data_dir}/\n"
        "autosave_interval 5\n"
        f"max_queued_messages {MAX_QUEUED_MESSAGES}\n"
        "max_queued_bytes 0\n"
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}\n"
        "set_tcp_nodelay true\n"
        "log_dest stderr\n"
        "log_type error\n"
        "log_type warning\n"
        + extra
    )


@dataclass
class MosquittoBroker:
    """A Mosquitto child process on its own port and persistence directory; restartable."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    extra_conf: str = ""
    process: subprocess.Popen[bytes] | None = None
    # A complete configuration to run instead of the local one (e.g. from `terang broker config`);
    # it must listen on ``port``.
    conf_text: str | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoBroker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        conf = self.data_dir / "mosquitto.conf"
        conf.write_text(self.conf_text if self.conf_text is not None
                        else mosquitto_conf(self.port, self.data_dir, self.extra_conf))
        exe = shutil.which("mosquitto")
        if exe is None:
            raise FileNotFoundError("mosquitto is not on PATH")
        log = (self.data_dir / "mosquitto.log").open("ab")
        # Its own session, so a Ctrl-C meant for the demo does not kill the broker under the server
        # while the simulator drains; stop() ends it.
        self.process = subprocess.Popen([exe, "-c", str(conf)], stdout=log, stderr=log, start_new_session=True)
        log.close()
        try:
            wait_for_port("127.0.0.1", self.port)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def reload(self) -> None:
        """SIGHUP: Mosquitto re-reads its password and ACL files."""
        if self.process is not None:
            self.process.send_signal(signal.SIGHUP)

    def restart(self) -> None:
        self.stop()
        self.start()


class AmqttBroker:
    """amqtt running on its own event loop in a daemon thread (for machines without Mosquitto)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)
        self._broker: Any = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> AmqttBroker:
        from amqtt.broker import Broker

        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._thread.start()

        async def _start() -> Any:
            broker = Broker(config)
            await broker.start()
            return broker

        self._broker = asyncio.run_coroutine_threadsafe(_start(), self._loop).result(30)
        wait_for_port("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        if self._broker is not None:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(10)
            self._broker = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def start_local_broker(data_dir: Path, port: int | None = None) -> MosquittoBroker | AmqttBroker:
    """Mosquitto if installed (persistent, fast), else amqtt; ``TERANG_BROKER=amqtt`` forces amqtt."""
    if shutil.which("mosquitto") and os.environ.get("TERANG_BROKER", "mosquitto") != "amqtt":
        return MosquittoBroker(data_dir, port or free_port()).start()
    return AmqttBroker(port).start()
