"""The air and the gateways for the simulator's LoRa lamps: per gateway of the topology, a simulated
medium (the air around that gateway: its lamps reach it and no other) and a ``terang gateway``
process forwarding to the central broker the server reads.

One medium per gateway rather than one for all: on a shared medium every gateway would hear every
lamp, and their answers in the same receive window would collide with each other.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.medium import MediumSettings, MediumThread
from gateway.process import GatewayProcess, GatewayProcessError
from simulator.topology import Topology

GATEWAY_START_TIMEOUT_S = 60.0


@dataclass
class Station:
    """One gateway of the topology with its air."""

    index: int  # into topology.gateways
    gw_id: str
    medium: MediumThread
    process: GatewayProcess

    @property
    def port(self) -> int:
        return self.medium.port


@dataclass
class LoraGateways:
    topology: Topology
    mqtt_url: str
    speed: float  # medium time per real second
    data_dir: Path | None = None  # None: a temporary directory, removed on close
    stations: dict[int, Station] = field(default_factory=dict)
    _tmp: Path | None = None

    def start(self, indices: list[int], note: Callable[[str], None] = lambda _m: None) -> LoraGateways:
        """Starts the mediums and gateway processes of these topology gateways; waits until each
        gateway is online at the central broker."""
        base = self.data_dir
        if base is None:
            self._tmp = base = Path(tempfile.mkdtemp(prefix="terang-sim-gateways-"))
        started = time.time()
        try:
            for g in indices:
                spec = self.topology.gateways[g]
                medium = MediumThread(MediumSettings(speed=self.speed, seed=g)).start()
                proc = GatewayProcess(spec.id, spec.site_id, self.mqtt_url, ("127.0.0.1", medium.port),
                                      base / spec.id)
                self.stations[g] = Station(g, spec.id, medium, proc)
                proc.start(wait=False)  # all at once: each takes a second or two to come up
            for st in self.stations.values():
                st.process.wait_online(started, GATEWAY_START_TIMEOUT_S)
        except (GatewayProcessError, OSError):
            self.close()
            raise
        note(f"{len(self.stations)} gateways on their own simulated air (medium at {self.speed:g}x)")
        return self

    def close(self) -> None:
        for st in self.stations.values():
            st.process.stop()
        for st in self.stations.values():
            st.medium.stop()
        self.stations.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def collisions(self) -> int:
        return sum(int(st.medium.stats().get("collided", 0)) for st in self.stations.values())
