"""Faults injected into a live run (``terang simulate --faults N``, ``terang demo``).

The server's fault engine judges on the wall clock, so the incidents are placed once the run is live
(``simulator.runner.Live``: simulated time at the clock, the replay's backlog delivered): a few of
the common types, one after another from a minute later. They are the evaluation's incidents
(explicit incidents of a scenario, placed and checked by simulator/incidents.py) with the
evaluation's effects (``FaultInjector`` on what the lamps measure, ``Delivery`` on when their
readings arrive), and the ground truth is a JSON file in the evaluation's format. A fault that only
shows while the lamp is lit waits for dusk, a day burner for the morning.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from simulator.delivery import Delivery
from simulator.fault_kinds import DEFAULTS, FaultType
from simulator.faults import FaultInjector
from simulator.fleet import Block, Fleet, Reading
from simulator.incidents import Plan, plan, truth_json
from simulator.scenario import Scenario, parse
from simulator.schedule import WIT_OFFSET_S, DimSource
from simulator.topology import LORA, RADIOS, Topology, id_prefix

Lamps = npt.NDArray[np.intp]
WIT = dt.timezone(dt.timedelta(seconds=WIT_OFFSET_S), "WIT")

MINUTE = 60.0
# What a run with N faults injects: the first N rows, again from the top past the end. Lamp failures
# stay until a crew replaces the lamp; a feeder outage and a comm loss end within the hour, so their
# alerts resolve while one watches.
MIX: tuple[tuple[FaultType, float | None], ...] = (
    ("lamp_failure", None),
    ("cabinet_outage", 40 * MINUTE),
    ("under_voltage", 90 * MINUTE),
    ("comm_loss", 40 * MINUTE),
    ("day_burner", None),
    ("lamp_failure", None),
)
CABINET_FAULTS = ("cabinet_outage", "under_voltage", "over_voltage")
# Incidents start this long after the run went live, then one every STAGGER_S.
FIRST_AFTER_S = 60.0
STAGGER_S = 120.0
# The ground truth's span; an incident without an end lasts it.
HORIZON_H = 24.0
# A fault waiting for dusk (or for the morning) starts this far into it, clear of the twilight.
SETTLED_S = 15 * MINUTE
# How far ahead a lamp's schedule is searched for dusk or morning, and in what steps.
LOOK_AHEAD_S = 36 * 3600.0
LOOK_STEP_S = 5 * MINUTE
# The engine judges a lamp failure at this level in effect or above.
LIT_LEVEL = 10
# A cabinet outage is one alert from this many lamps (docs/faults.md, correlation).
CABINET_MIN_LAMPS = 3


def choose(topo: Topology, schedule: DimSource, count: int, t0: float,
           rng: np.random.Generator) -> list[dict[str, Any]]:
    """``count`` explicit incidents (scenario ``[[incidents]]`` tables) on distinct subjects, from ``t0``.

    Lamp faults go to Wi-Fi and 4G lamps and cabinet faults to cabinets whose lamps are mostly
    not LoRa, where there are some: they report every interval on time, so the engine's
    timings in docs/faults.md hold. No lamp meets two incidents: rows that find no free subject are
    left out.
    """
    lamps = topo.lamps
    sizes = np.bincount(lamps.cabinet, minlength=len(topo.cabinets))
    lora_share = np.bincount(lamps.cabinet, weights=(lamps.radio == LORA).astype(float),
                             minlength=len(topo.cabinets)) / np.maximum(sizes, 1)
    cabinets = _preferred(np.flatnonzero(sizes >= CABINET_MIN_LAMPS), lora_share < 0.5, rng)
    taken_cabinets: list[int] = []
    taken_lamps: set[int] = set()
    out: list[dict[str, Any]] = []
    for k in range(count):
        kind, duration = MIX[k % len(MIX)]
        slot = t0 + FIRST_AFTER_S + k * STAGGER_S
        if kind in CABINET_FAULTS:
            hit = {int(lamps.cabinet[i]) for i in taken_lamps}
            free = [c for c in cabinets if c not in taken_cabinets and c not in hit]
            if not free:
                continue
            c = free[0]
            taken_cabinets.append(c)
            taken_lamps.update(np.flatnonzero(lamps.cabinet == c).tolist())
            subject, start = topo.cabinets[c].id, slot
        else:
            pool = np.array([i for i in range(len(lamps)) if i not in taken_lamps
                             and int(lamps.cabinet[i]) not in taken_cabinets], dtype=np.intp)
            if not pool.size:
                continue
            lamp = int(_preferred(pool, lamps.radio[pool] != LORA, rng)[0])
            taken_lamps.add(lamp)
            subject, start = lamps.ids[lamp], _when_it_shows(schedule, lamp, kind, slot)
        incident: dict[str, Any] = {"type": kind, "subject": subject, "start_h": (start - t0) / 3600.0}
        if duration is not None:
            incident["duration_h"] = duration / 3600.0
        out.append(incident)
    return out


def _preferred(pool: Lamps, better: npt.NDArray[np.bool_], rng: np.random.Generator) -> list[int]:
    """``pool`` shuffled, the ``better`` ones first."""
    order = rng.permutation(pool.size)
    return [int(x) for x in np.concatenate([pool[order][better[order]], pool[order][~better[order]]])]


def _when_it_shows(schedule: DimSource, lamp: int, kind: FaultType, slot: float) -> float:
    """``slot``, or for a fault that only shows lit (or only by day) the lamp's next such time."""
    starts = DEFAULTS[kind].starts
    if starts == "any":
        return slot
    ts = slot + np.arange(0.0, LOOK_AHEAD_S, LOOK_STEP_S)
    levels = schedule.levels(np.full(ts.size, lamp, dtype=np.intp), ts)
    shows = levels >= LIT_LEVEL if starts == "night" else levels == 0
    if shows[0] or not shows.any():
        return slot
    return float(ts[int(np.argmax(shows))]) + SETTLED_S


def scenario(topo: Topology, incidents: list[dict[str, Any]], *, t0: float, interval_s: int, seed: int) -> Scenario:
    """The live run as an evaluation scenario: its fleet, a span from ``t0``, these incidents."""
    tick = min(max(interval_s, 10), 600)
    return parse({
        "name": "live",
        "description": "faults injected into a live simulator run",
        "seed": seed,
        "fleet": {"lamps": len(topo.lamps), "site": id_prefix(topo.site.id),
                  "intervals_s": dict.fromkeys(RADIOS, interval_s)},
        "time": {"start": dt.datetime.fromtimestamp(t0, WIT), "duration_h": HORIZON_H, "tick_s": tick,
                 "warmup_h": 0},
        "incidents": incidents,
    }, "live faults")


class LiveFaults:
    """The injected faults of one run: placed once with ``place``, then applied by ``take``."""

    def __init__(self, fleet: Fleet, count: int, *, seed: int, interval_s: int, truth_path: Path | None) -> None:
        self.fleet = fleet
        self.count = count
        self.seed = seed
        self.interval_s = interval_s
        self.truth_path = truth_path
        self.plan: Plan | None = None
        self._injector: FaultInjector | None = None
        self._delivery: Delivery | None = None
        self._empty = fleet.sample(np.empty(0, dtype=np.intp), np.empty(0, dtype=np.int64))

    def place(self, now: float) -> Plan:
        """Chooses and places the incidents from ``now`` (the clock's time) on; writes the ground truth."""
        topo = self.fleet.topology
        # Each run places its own: a second demo does not fail the same lamps again.
        seed = int(np.random.SeedSequence([self.seed, int(now)]).generate_state(1)[0]) % 2**31
        incidents = choose(topo, self.fleet.schedule, self.count, now, np.random.default_rng([seed, 0x11FE]))
        spec = scenario(topo, incidents, t0=now, interval_s=self.interval_s, seed=seed)
        self.plan = plan(topo, spec)
        intervals = np.full(len(topo.lamps), self.interval_s, dtype=np.int64)
        self._injector = FaultInjector(self.fleet, self.plan, seed)
        self._delivery = Delivery(topo, self.plan, intervals, seed)
        if self.truth_path is not None:
            truth = {**truth_json(self.plan, topo, spec), "site": topo.site.id}
            self.truth_path.parent.mkdir(parents=True, exist_ok=True)
            self.truth_path.write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
        return self.plan

    def started(self, now: float) -> int:
        return 0 if self.plan is None else sum(i.start <= now for i in self.plan.incidents)

    @property
    def holding(self) -> bool:
        """Readings taken during a comm loss wait to be delivered."""
        return self._delivery is not None and self._delivery.waiting > 0

    def take(self, due: Lamps, next_due: npt.NDArray[np.float64], interval: float,
             now: float) -> tuple[list[int], list[Reading]]:
        """Readings of the lamps ``due`` with the faults applied, as they reach the server by ``now``
        (per lamp, oldest first); moves each lamp's ``next_due`` on."""
        injector, delivery = self._injector, self._delivery
        if injector is None or delivery is None:
            raise RuntimeError("place the faults first")
        injector.advance(now)
        delivery.advance(now)
        ts = np.floor(next_due[due]).astype(np.int64)
        on = injector.powered(due, ts.astype(np.float64))
        # An unpowered controller reports nothing; back on supply it boots and, like the firmware,
        # takes its first reading one interval later.
        dark = due[~on]
        next_due[dark] = injector.restored_at(dark) + interval
        due, ts = due[on], ts[on]
        next_due[due] += interval
        taken = injector.sample(due, ts) if due.size else self._empty
        return _pairs(delivery.route(taken, now))

    def release(self) -> tuple[list[int], list[Reading]]:
        """Everything still held back, as the lamps' journals would send it once the run stops."""
        if self._delivery is None or not self._delivery.waiting:
            return [], []
        return _pairs(self._delivery.route(self._empty, math.inf))


def _pairs(block: Block) -> tuple[list[int], list[Reading]]:
    return block.lamps.tolist(), block.tuples()


def describe(p: Plan) -> list[str]:
    """One line per incident, for the operator."""
    out = []
    for i in p.incidents:
        until = "not repaired" if i.end is None else f"until {_wit(i.end)}"
        out.append(f"{i.type} on {i.subject_type} {i.subject_id} from {_wit(i.start)}, {until}")
    return out


def _wit(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, WIT).strftime("%d %b %H:%M WIT")
