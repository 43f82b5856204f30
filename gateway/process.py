"""A ``terang gateway`` process with a generated ``gateway.toml``: for the simulator's LoRa lamps
(``terang simulate --lora-via-gateway``), the demo and end-to-end tests, which want the real gateway
as operators run it, on a radio medium and a central broker they name.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from firmware.device import brokerurl, codec

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class GatewayProcessError(RuntimeError):
    pass


@dataclass
class GatewayProcess:
    gw_id: str
    site: str
    central_url: str
    medium: tuple[str, int]
    data_dir: Path
    # "normal" survives SIGKILL but not a power cut; simulations and tests need no fsync per commit.
    queue_sync: str = "normal"
    health_interval_s: float = 5.0
    log_level: str = "warning"
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def config_path(self) -> Path:
        return self.data_dir / "gateway.toml"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "gateway.log"

    def config_text(self) -> str:
        # json.dumps writes TOML-compatible basic strings for these plain values.
        return (
            f"[gateway]\nid = {json.dumps(self.gw_id)}\nsite = {json.dumps(self.site)}\ndata_dir = \"data\"\n\n"
            f"[central]\nurl = {json.dumps(self.central_url)}\nresend_after_s = 5\n"
            f"health_interval_s = {self.health_interval_s}\nreconnect_max_s = 2\nconnect_timeout_s = 5\n\n"
            f"[radio]\nkind = \"udp\"\nmedium = \"{self.medium[0]}:{self.medium[1]}\"\n\n"
            f"[queue]\nsync = {json.dumps(self.queue_sync)}\n"
        )

    def start(self, *, wait: bool = True) -> GatewayProcess:
        if self.running():
            raise GatewayProcessError(f"gateway {self.gw_id} is already running")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config_text())
        started = time.time()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "server.cli", "gateway", "--config", str(self.config_path),
                 "--log-level", self.log_level],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if wait:
            self.wait_online(started)
        return self

    def wait_online(self, since: float, timeout: float = START_TIMEOUT_S) -> None:
        """Until the gateway's retained health on the central broker says online, published after
        ``since`` (so an old retained report of an earlier run does not count)."""
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        _tls, host, port, user, password = brokerurl.parse(self.central_url)
        online = threading.Event()

        def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
            with contextlib.suppress(codec.CodecError):
                st = codec.decode_state(bytes(msg.payload))
                if st.get("st") == "online" and int(str(st.get("ts", 0))) >= int(since):
                    online.set()

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"gw-wait-{self.gw_id}-{time.monotonic_ns()}")
        if user is not None:
            client.username_pw_set(user, password)
        client.on_message = on_message
        client.on_connect = lambda c, *_a: c.subscribe(codec.gw_topic(self.site, self.gw_id, codec.KIND_STATE), 1)
        try:
            client.connect(host, port)
            client.loop_start()
            deadline = time.monotonic() + timeout
            while not online.wait(0.1):
                if not self.running():
                    raise GatewayProcessError(f"gateway {self.gw_id} exited; see {self.log_path}:\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise GatewayProcessError(f"gateway {self.gw_id} did not come online within {timeout:.0f} s")
        finally:
            client.loop_stop()
            with contextlib.suppress(Exception):
                client.disconnect()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a power cut would: the queue on disk is all that survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # the gateway's Ctrl-C: it flushes its commit queue
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
