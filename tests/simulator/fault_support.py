"""A small fault-injection run without a database: what each lamp reported, and when it arrived."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulator.delivery import concat
from simulator.fault_eval import Prepared, prepare, ticks
from simulator.fleet import Block
from simulator.scenario import parse
from simulator.topology import WIFI, generate

WIT = dt.timezone(dt.timedelta(hours=9))
START = dt.datetime(2025, 7, 1, 12, 0, tzinfo=WIT)
SITE = "ft"
LAMPS = 200
SEED = 11


def topology() -> Any:
    return generate(LAMPS, SEED, SITE)


def wifi_lamps_of(cabinet_id: str) -> list[str]:
    topo = topology()
    c = next(k for k, cab in enumerate(topo.cabinets) if cab.id == cabinet_id)
    return [i for i, cab, r in zip(topo.lamps.ids, topo.lamps.cabinet, topo.lamps.radio, strict=True)
            if cab == c and r == WIFI]


def scenario_dict(incidents: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "injection",
        "seed": SEED,
        "fleet": {"lamps": LAMPS, "site": SITE},
        "time": {"start": START, "duration_h": 30, "tick_s": 60, "warmup_h": 1},
        "incidents": incidents,
        **extra,
    }


@dataclass
class Run:
    prepared: Prepared
    taken: Block
    arrived_at: np.ndarray  # per row of ``taken``: the tick it reached the server (inf: never)
    health: dict[int, list[float]] = field(default_factory=dict)  # gateway index -> ticks it reported

    def lamp(self, lamp_id: str) -> Block:
        k = self.prepared.topology.lamp_index[lamp_id]
        rows = np.flatnonzero(self.taken.lamps == k)
        return self.taken.take(rows[np.argsort(self.taken.ts[rows])])

    def arrivals(self, lamp_id: str) -> tuple[np.ndarray, np.ndarray]:
        """(reading times, arrival ticks) of a lamp, in reading order."""
        k = self.prepared.topology.lamp_index[lamp_id]
        rows = np.flatnonzero(self.taken.lamps == k)
        rows = rows[np.argsort(self.taken.ts[rows])]
        return self.taken.ts[rows].astype(float), self.arrived_at[rows]

    def hours(self, block: Block, a: float, b: float) -> np.ndarray:
        """Rows of ``block`` taken between ``a`` and ``b`` hours after the start."""
        t0 = START.timestamp()
        return (block.ts >= t0 + a * 3600) & (block.ts < t0 + b * 3600)


def run(data: dict[str, Any]) -> Run:
    p = prepare(parse(data))
    taken: list[Block] = []
    arrival: dict[tuple[int, int], float] = {}
    health: dict[int, list[float]] = {}
    for t in ticks(p):
        taken.append(t.taken)
        for lamp, seq in zip(t.arrived.lamps.tolist(), t.arrived.seq.tolist(), strict=True):
            arrival[(lamp, seq)] = t.now
        for g in np.flatnonzero(t.gateways_up).tolist():
            health.setdefault(g, []).append(t.now)
    block = concat(taken)
    at = np.array([arrival.get((lamp, seq), np.inf)
                   for lamp, seq in zip(block.lamps.tolist(), block.seq.tolist(), strict=True)])
    return Run(p, block, at, health)
