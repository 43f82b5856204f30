"""What a fault-evaluation run injects, decided before it starts: incidents (the ground truth) and the
noise that must not alert, placed on the topology and the run's simulated span.

Placement keeps incidents apart: no lamp is touched by two incidents (or by an incident and a noise
event) within ``LAMP_MARGIN_S`` of each other, so each alert has one cause; and a subject, or a lamp
it covers, meets a fault type it may be alerted for (its own, or one its incident also shows) again
only ``SAME_SUBJECT_GAP_S`` later, past the engine's flap window, so a second incident gets an alert
of its own instead of re-opening the first.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.fault_kinds import ALSO, DEFAULTS, FAULT_TYPES, FaultType, NoiseKind, Starts, SubjectType
from simulator.scenario import GenerateSpec, IncidentSpec, Scenario, ScenarioError
from simulator.schedule import WIT_OFFSET_S
from simulator.topology import LORA, RADIOS, Topology

HOUR = 3600.0
DAY = 86_400.0
LAMP_MARGIN_S = 2 * HOUR
SAME_SUBJECT_GAP_S = 12 * HOUR
# Incidents end (or, for instants, happen) this long before the run ends, so they can be detected.
TAIL_S = 2 * HOUR
# Local-hour windows in which generated incidents start. "night": after dusk (about 18:00 in Mimika)
# and at least 2.5 h before a 23:00 dimming, so even an hourly LoRa lamp reports the fault twice at
# full level (a low power factor is only judged there); "day": midday.
START_WINDOWS: dict[Starts, tuple[float, float]] = {"night": (18.5, 20.5), "day": (8.0, 14.0), "any": (0.0, 24.0)}
PLACEMENT_TRIES = 400
# Generated first: the big subjects need the most room, lamp incidents fill in around them.
PLACEMENT_ORDER: tuple[FaultType, ...] = (
    "cabinet_outage", "gateway_down", "over_voltage", "under_voltage",
    *(t for t in FAULT_TYPES if t not in ("cabinet_outage", "gateway_down", "over_voltage", "under_voltage")),
)

Lamps = npt.NDArray[np.intp]


@dataclass(frozen=True, eq=False)
class Incident:
    id: int
    type: FaultType
    subject_type: SubjectType
    subject_id: str
    start: float  # Unix seconds
    end: float | None  # None: not repaired within the run
    params: dict[str, Any]
    lamps: Lamps  # the lamps it affects: the lamp, the cabinet's lamps, the gateway's LoRa lamps
    also: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class NoiseEvent:
    kind: NoiseKind
    subject_type: SubjectType
    subject_id: str
    start: float
    end: float
    params: dict[str, Any]
    lamps: Lamps


@dataclass
class Plan:
    incidents: list[Incident]
    noise: list[NoiseEvent]
    part_night: npt.NDArray[np.bool_]  # per lamp: its feeder is switched off part of the night


def also_for(kind: str, params: dict[str, Any]) -> tuple[str, ...]:
    variant = params.get("variant")
    return ALSO.get(f"{kind}:{variant}", ALSO.get(kind, ()))


class _Placer:
    def __init__(self, topo: Topology, scenario: Scenario, rng: np.random.Generator) -> None:
        self.topo = topo
        self.scenario = scenario
        self.rng = rng
        self.start = scenario.start_ts
        self.end = scenario.end_ts
        self.earliest = self.start + scenario.time.warmup_h * HOUR
        lamps = topo.lamps
        self.lamp_busy: list[list[tuple[float, float]]] = [[] for _ in range(len(lamps))]
        self.subject_busy: dict[tuple[str, str], list[tuple[float, float]]] = {}
        order = np.argsort(lamps.cabinet, kind="stable")
        bounds = np.searchsorted(lamps.cabinet[order], np.arange(len(topo.cabinets) + 1))
        self.cabinet_lamps = [order[bounds[c]:bounds[c + 1]].astype(np.intp) for c in range(len(topo.cabinets))]
        lora = lamps.radio == LORA
        self.gateway_lamps = [np.flatnonzero(lora & (lamps.gateway == g)).astype(np.intp)
                              for g in range(len(topo.gateways))]
        self.cabinet_index = {c.id: k for k, c in enumerate(topo.cabinets)}
        self.gateway_index = {g.id: k for k, g in enumerate(topo.gateways)}
        self.incidents: list[Incident] = []
        self.noise: list[NoiseEvent] = []

    # --- time ------------------------------------------------------------------------------------

    def pick_start(self, starts: Starts, length_s: float, latest_end: float | None = None) -> float | None:
        """A start in the ``starts`` local-hour window such that the incident fits the run, or None."""
        latest = (latest_end if latest_end is not None else self.end - TAIL_S) - length_s
        if latest <= self.earliest:
            return None
        a, b = START_WINDOWS[starts]
        first_day = math.floor((self.earliest + WIT_OFFSET_S) / DAY)
        last_day = math.floor((latest + WIT_OFFSET_S) / DAY)
        spans = []
        for day in range(first_day, last_day + 1):
            midnight = day * DAY - WIT_OFFSET_S
            lo, hi = max(midnight + a * HOUR, self.earliest), min(midnight + b * HOUR, latest)
            if hi > lo:
                spans.append((lo, hi))
        if not spans:
            return None
        widths = np.array([hi - lo for lo, hi in spans])
        lo, hi = spans[int(self.rng.choice(len(spans), p=widths / widths.sum()))]
        return float(self.rng.uniform(lo, hi))

    # --- room ------------------------------------------------------------------------------------

    def lamps_free(self, lamps: Lamps, start: float, end: float) -> bool:
        a, b = start - LAMP_MARGIN_S, end + LAMP_MARGIN_S
        return not any(s < b and a < e for k in lamps.tolist() for s, e in self.lamp_busy[k])

    def subject_free(self, kinds: tuple[str, ...], subject: str, lamps: Lamps, start: float, end: float) -> bool:
        a, b = start - SAME_SUBJECT_GAP_S, end + SAME_SUBJECT_GAP_S
        ids = self.topo.lamps.ids
        keys = [(k, subject) for k in kinds] + [(k, ids[lamp]) for k in kinds for lamp in lamps.tolist()]
        return not any(s < b and a < e for key in keys for s, e in self.subject_busy.get(key, ()))

    def occupy(self, lamps: Lamps, kinds: tuple[str, ...], subject: str, start: float, end: float) -> None:
        ids = self.topo.lamps.ids
        for lamp in lamps.tolist():
            self.lamp_busy[lamp].append((start, end))
            for k in kinds:
                self.subject_busy.setdefault((k, ids[lamp]), []).append((start, end))
        for k in kinds:
            self.subject_busy.setdefault((k, subject), []).append((start, end))

    # --- subjects --------------------------------------------------------------------------------

    def resolve(self, subject_id: str, kind: FaultType, where: str) -> tuple[SubjectType, Lamps]:
        if kind == "gateway_down":
            g = self.gateway_index.get(subject_id)
            if g is None:
                raise ScenarioError(f"{where}.subject: no gateway {subject_id!r} in the generated topology")
            return "gateway", self.gateway_lamps[g]
        c = self.cabinet_index.get(subject_id)
        if c is not None and kind in ("cabinet_outage", "over_voltage", "under_voltage"):
            return "cabinet", self.cabinet_lamps[c]
        if kind == "cabinet_outage":
            raise ScenarioError(f"{where}.subject: no cabinet {subject_id!r} in the generated topology")
        lamp = self.topo.lamp_index.get(subject_id)
        if lamp is None:
            raise ScenarioError(f"{where}.subject: no lamp {subject_id!r} in the generated topology")
        return "lamp", np.array([lamp], dtype=np.intp)

    def add(self, kind: FaultType, subject_type: SubjectType, subject_id: str, lamps: Lamps,
            start: float, end: float | None, params: dict[str, Any]) -> None:
        also = also_for(kind, params)
        self.occupy(lamps, (kind, *also), subject_id, start, self.end if end is None else end)
        self.incidents.append(Incident(len(self.incidents) + 1, kind, subject_type, subject_id, start, end,
                                       params, lamps, also))

    # --- explicit and generated incidents --------------------------------------------------------

    def explicit(self, k: int, spec: IncidentSpec) -> None:
        where = f"incidents.{k}"
        subject_type, lamps = self.resolve(spec.subject, spec.type, where)
        start = self.start + spec.start_h * HOUR
        end = None if spec.duration_h is None else start + spec.duration_h * HOUR
        if start >= self.end:
            raise ScenarioError(f"{where}.start_h: starts after the run ends ({self.scenario.time.duration_h} h)")
        params = {**_default_params(spec.type, self.rng), **spec.params}
        until = self.end if end is None else end
        if not (self.lamps_free(lamps, start, until)
                and self.subject_free((spec.type, *also_for(spec.type, params)), spec.subject, lamps, start, until)):
            raise ScenarioError(f"{where}: too close to an earlier incident on the same lamps")
        if spec.type == "energy_anomaly" and params["kind"] != "stuck":
            end = start
        self.add(spec.type, subject_type, spec.subject, lamps, start, end, params)

    def generated(self, kind: FaultType, spec: GenerateSpec) -> None:
        d = DEFAULTS[kind]
        where = f"generate.{kind}"
        lo, hi = spec.duration_h or d.duration_h
        starts = spec.starts or d.starts
        choice = spec.subject or d.subject
        radios = {RADIOS.index(r) for r in (spec.radios or d.radios)}
        lamp_pool = np.flatnonzero(np.isin(self.topo.lamps.radio, list(radios)))
        for placed in range(spec.count):
            fits = False
            for _ in range(PLACEMENT_TRIES):
                params = _default_params(kind, self.rng)
                instant = kind == "energy_anomaly" and params["kind"] != "stuck"
                length = 0.0 if instant else float(self.rng.uniform(lo, hi)) * HOUR
                start = self.pick_start(starts, length)
                if start is None:
                    continue
                fits = True
                subject_type, subject_id, lamps = self._pick_subject(kind, choice, lamp_pool, where)
                end = start + length
                kinds = (kind, *also_for(kind, params))
                if (lamps.size and self.lamps_free(lamps, start, end)
                        and self.subject_free(kinds, subject_id, lamps, start, end)):
                    self.add(kind, subject_type, subject_id, lamps, start, end, params)
                    break
            else:
                if not fits:
                    raise ScenarioError(f"{where}.duration_h: {lo:g}-{hi:g} h incidents starting {starts} do not "
                                        "fit the run after time.warmup_h")
                raise ScenarioError(f"{where}.count: room for {placed} of {spec.count} incidents only (subjects "
                                    "are kept apart in time); ask for fewer, a bigger fleet or a longer run")

    def _pick_subject(self, kind: FaultType, choice: str, lamp_pool: Lamps,
                      where: str) -> tuple[SubjectType, str, Lamps]:
        if kind == "gateway_down":
            if not self.topo.gateways:
                raise ScenarioError(f"{where}: the fleet has no gateways (no LoRa lamps)")
            g = int(self.rng.integers(len(self.topo.gateways)))
            return "gateway", self.topo.gateways[g].id, self.gateway_lamps[g]
        cabinet = kind == "cabinet_outage" or choice == "cabinet" or (choice == "mixed" and self.rng.random() < 0.5)
        if cabinet:
            c = int(self.rng.integers(len(self.topo.cabinets)))
            return "cabinet", self.topo.cabinets[c].id, self.cabinet_lamps[c]
        if not lamp_pool.size:
            raise ScenarioError(f"{where}.radios: no lamp of the fleet has those radios")
        lamp = int(self.rng.choice(lamp_pool))
        return "lamp", self.topo.lamps.ids[lamp], np.array([lamp], dtype=np.intp)

    # --- noise -----------------------------------------------------------------------------------

    def add_noise(self, kind: NoiseKind, subject_type: SubjectType, subject_id: str, lamps: Lamps,
                  start: float, end: float, params: dict[str, Any]) -> None:
        self.occupy(lamps, (kind,), subject_id, start, end)
        self.noise.append(NoiseEvent(kind, subject_type, subject_id, start, end, params, lamps))

    def noise_on_lamps(self, kind: NoiseKind, count: int, pool: Lamps, hours: tuple[float, float],
                       params: Any) -> None:
        if count and not pool.size:
            raise ScenarioError(f"noise.{kind}: no lamp of the fleet can have it")
        for _ in range(count):
            for _ in range(PLACEMENT_TRIES):
                length = float(self.rng.uniform(*hours)) * HOUR
                start = self.pick_start("any", length)
                lamp = int(self.rng.choice(pool))
                if start is not None and self.lamps_free(np.array([lamp]), start, start + length):
                    self.add_noise(kind, "lamp", self.topo.lamps.ids[lamp], np.array([lamp], dtype=np.intp),
                                   start, start + length, params(lamp))
                    break

    def part_night(self, count: int) -> npt.NDArray[np.bool_]:
        mask = np.zeros(len(self.topo.lamps), dtype=bool)
        if count > len(self.topo.cabinets):
            raise ScenarioError(f"schedule.part_night_cabinets: the fleet has {len(self.topo.cabinets)} cabinets")
        sched = self.scenario.schedule
        chosen: list[int] = self.rng.choice(len(self.topo.cabinets), size=count, replace=False).tolist()
        a = sched.part_night_from.hour * HOUR + sched.part_night_from.minute * 60.0
        b = sched.part_night_to.hour * HOUR + sched.part_night_to.minute * 60.0
        length = (b - a) % DAY
        for c in sorted(chosen):
            lamps = self.cabinet_lamps[c]
            mask[lamps] = True
            day = math.floor((self.start + WIT_OFFSET_S) / DAY)
            while (off := day * DAY - WIT_OFFSET_S + a) < self.end:
                if off + length > self.start:
                    self.noise.append(NoiseEvent("part_night", "cabinet", self.topo.cabinets[c].id, off,
                                                 off + length, {}, lamps))
                day += 1
        return mask


def _default_params(kind: FaultType, rng: np.random.Generator) -> dict[str, Any]:
    """What each incident looks like; values are drawn so the fault is unmistakable to an electrician."""
    if kind == "lamp_failure":
        return {}
    if kind == "power_anomaly":
        # Half an LED string dark, or a driver delivering far too much.
        low = rng.random() < 0.5
        return {"factor": round(float(rng.uniform(0.45, 0.6) if low else rng.uniform(1.45, 1.7)), 2)}
    # At the cabinet (or pole): high enough that the drop along a loaded rural feeder (up to 5.6 %)
    # still leaves most of its lamps beyond the limit.
    if kind == "over_voltage":
        return {"v": round(float(rng.uniform(265.0, 275.0)), 1)}
    if kind == "under_voltage":
        return {"v": round(float(rng.uniform(170.0, 182.0)), 1)}
    if kind == "low_power_factor":
        # A driver whose power-factor correction failed.
        return {"pf": round(float(rng.uniform(0.5, 0.68)), 2)}
    if kind == "energy_anomaly":
        what = str(rng.choice(["reset", "stuck", "jump"]))
        if what == "reset":
            return {"kind": "reset", "to_wh": round(float(rng.uniform(0.0, 5.0)), 1)}
        if what == "jump":
            return {"kind": "jump", "jump_wh": round(float(rng.uniform(5_000.0, 50_000.0)), 1)}
        return {"kind": "stuck"}
    if kind == "device_fault":
        return {"variant": str(rng.choice(["driver", "relay"]))}
    return {}


def plan(topo: Topology, scenario: Scenario) -> Plan:
    """The incidents and noise of a run; the same scenario gives the same plan."""
    rng = np.random.default_rng([scenario.seed, 0xFA17])
    placer = _Placer(topo, scenario, rng)
    for k, explicit in enumerate(scenario.incidents):
        placer.explicit(k, explicit)
    for kind in PLACEMENT_ORDER:
        wanted = scenario.generate.get(kind)
        if wanted is not None:
            placer.generated(kind, wanted)
    part_night = placer.part_night(scenario.schedule.part_night_cabinets)

    lamps = topo.lamps
    intervals = scenario.fleet.intervals_s
    lora = np.flatnonzero(lamps.radio == LORA).astype(np.intp)
    other = np.flatnonzero(lamps.radio != LORA).astype(np.intp)
    noise = scenario.noise
    placer.noise_on_lamps("late_lora", noise.late_lora, lora, (6.0, 24.0),
                          lambda _lamp: {"max_delay_s": round(float(rng.uniform(0.6, 1.0)) * intervals["lora"])})
    gap_h = {r: intervals[r] / HOUR for r in ("wifi", "cellular")}
    for _ in range(noise.wifi_gaps):
        # One report interval long: exactly one report is missed (and re-sent with the next).
        lamp = int(rng.choice(other)) if other.size else -1
        if lamp < 0:
            raise ScenarioError("noise.wifi_gaps: the fleet has no Wi-Fi or 4G lamps")
        hours = gap_h[RADIOS[int(lamps.radio[lamp])]]
        placer.noise_on_lamps("wifi_gap", 1, np.array([lamp], dtype=np.intp), (hours, hours), lambda _lamp: {})
    _voltage_dips(placer, noise.voltage_dips)
    placer.noise.sort(key=lambda e: (e.start, e.kind, e.subject_id))
    return Plan(placer.incidents, placer.noise, part_night)


def _voltage_dips(placer: _Placer, count: int) -> None:
    """Town feeders sag a few per cent for an hour or two: within the band, no fault."""
    topo = placer.topo
    setting = {d.id: d.setting for d in topo.districts}
    town = [k for k, c in enumerate(topo.cabinets) if setting[c.district_id] == "town"]
    if count and not town:
        raise ScenarioError("noise.voltage_dips: the fleet has no town feeders")
    rng = placer.rng
    for _ in range(count):
        for _ in range(PLACEMENT_TRIES):
            c = int(rng.choice(town))
            length = float(rng.uniform(0.5, 2.0)) * HOUR
            start = placer.pick_start("any", length)
            lamps = placer.cabinet_lamps[c]
            if start is not None and placer.lamps_free(lamps, start, start + length):
                placer.add_noise("voltage_dip", "cabinet", topo.cabinets[c].id, lamps, start, start + length,
                                 {"depth": round(float(rng.uniform(0.02, 0.04)), 3)})
                break


# --- ground truth file ---------------------------------------------------------------------------

TRUTH_FORMAT = 1


@dataclass(frozen=True)
class TruthIncident:
    """An incident as the scorer sees it (from a plan or a ground-truth file)."""

    id: int
    type: str
    subject_type: str
    subject_id: str
    start: dt.datetime
    end: dt.datetime | None
    also: tuple[str, ...] = ()
    # Lamps a cabinet or gateway incident covers: their alerts of an ``also`` type are its consequences.
    covers: frozenset[str] = field(default_factory=frozenset)
    params: dict[str, Any] = field(default_factory=dict)


def _iso(ts: float, tz: dt.tzinfo) -> str:
    return dt.datetime.fromtimestamp(ts, tz).isoformat()


def truth_json(p: Plan, topo: Topology, scenario: Scenario) -> dict[str, Any]:
    tz = scenario.time.start.tzinfo or dt.UTC
    ids = topo.lamps.ids

    def incident(i: Incident) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": i.id, "type": i.type, "subject_type": i.subject_type, "subject_id": i.subject_id,
            "start": _iso(i.start, tz), "end": None if i.end is None else _iso(i.end, tz),
            "params": i.params, "also": list(i.also),
        }
        if i.subject_type != "lamp":
            out["covers"] = [ids[k] for k in i.lamps.tolist()]
        return out

    def noise(e: NoiseEvent) -> dict[str, Any]:
        return {"kind": e.kind, "subject_type": e.subject_type, "subject_id": e.subject_id,
                "start": _iso(e.start, tz), "end": _iso(e.end, tz), "params": e.params}

    return {
        "format": TRUTH_FORMAT,
        "scenario": scenario.name,
        "seed": scenario.seed,
        "site": scenario.fleet.site,
        "start": _iso(scenario.start_ts, tz),
        "end": _iso(scenario.end_ts, tz),
        "tick_s": scenario.time.tick_s,
        "incidents": [incident(i) for i in p.incidents],
        "noise": [noise(e) for e in p.noise],
    }


def truth_incidents(doc: dict[str, Any]) -> list[TruthIncident]:
    """The incidents of a ground-truth document (``truth_json``)."""
    if doc.get("format") != TRUTH_FORMAT:
        raise ValueError(f"not a ground-truth file of format {TRUTH_FORMAT}")
    out = []
    for r in doc["incidents"]:
        out.append(TruthIncident(
            id=int(r["id"]), type=r["type"], subject_type=r["subject_type"], subject_id=r["subject_id"],
            start=dt.datetime.fromisoformat(r["start"]),
            end=None if r["end"] is None else dt.datetime.fromisoformat(r["end"]),
            also=tuple(r.get("also", ())), covers=frozenset(r.get("covers", ())), params=dict(r.get("params", {})),
        ))
    return out
