"""One detection pass over the whole fleet, in arrays: new readings through the detectors and the
debouncing, silence against each bearer's interval, then correlation into what should be alerted.
No database here: this is the part that must stay fast for 100,000 lamps (``terang bench faults``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.faults.config import FaultConfig
from server.faults.correlate import Verdict, correlate
from server.faults.detectors import ENERGY_MAX_GAP_INTERVALS, READING_TYPES, ROW, Sample, energy_drawn, evaluate, on_off
from server.faults.expected import schedule_off
from server.faults.fleet import Bools, Fleet, Floats, Ints, expected_power
from server.faults.kinds import EXPLAINED_BY_DEVICE, SEVERITY
from server.faults.loader import Latest
from server.faults.state import LampState

Key = tuple[str, str, str]  # (subject_type, subject_id, fault_type)


@dataclass
class Desired:
    """A condition that holds now and should have a live alert (unless held or explained)."""

    key: Key
    site_id: str
    district_id: str | None
    cabinet_id: str | None
    severity: str
    started: float  # Unix s of the first evidence
    evidence_ts: float  # Unix s of the newest evidence
    evidence: dict[str, Any]
    # Not opened before this time: its cabinet may be about to be declared out.
    held_until: float | None = None
    # The cabinet or gateway alert that explains it: it is not opened, and a live one is suppressed.
    explained_by: Key | None = None


@dataclass
class Placement:
    """Per-lamp coordinates and zone for the schedule reference, and the lamp's config (-1 none)."""

    lat: Floats
    lon: Floats
    zone: list[str]
    config_index: Ints
    configs: list[dict[str, Any]]


@dataclass
class Assessment:
    desired: list[Desired]
    verdict: Verdict
    fresh_readings: int
    active: Counter[str] = field(default_factory=Counter)


def _round(x: float, digits: int = 2) -> float | None:
    return None if not np.isfinite(x) else round(float(x), digits)


def assess(
    fleet: Fleet,
    state: LampState,
    latest: Latest,
    gateway_heard: Floats,
    place: Placement,
    config: FaultConfig,
    *,
    now: float,
    previous: Verdict | None,
) -> Assessment:
    life, rules = config.lifecycle, config.correlation
    has = latest.seq >= 0
    fresh = has & (latest.seq != state.seq)
    rows = np.nonzero(fresh)[0].astype(np.int64)
    if rows.size:
        ts, p, dim = latest.ts[rows], latest.p[rows], latest.dim[rows]
        prev_ts, prev_p, prev_dim = state.ts[rows], state.p[rows], state.dim[rows]
        has_prev = ~np.isnan(prev_ts)
        on_now, off_now = on_off(fleet, rows, p, dim)
        on_before, off_before = on_off(fleet, rows, np.nan_to_num(prev_p), np.nan_to_num(prev_dim))
        changed = has_prev & (prev_dim == dim) & ((on_now & off_before) | (off_now & on_before))
        transitions = state.record_changes(rows, ts, changed, fleet.th["cycling_window_s"][rows])
        gap_s = ts - prev_ts
        short_gap = gap_s <= ENERGY_MAX_GAP_INTERVALS * fleet.interval_s[rows]
        flat = has_prev & (latest.e[rows] - state.e[rows] <= 0) & short_gap
        flat_wh = np.where(flat, state.flat_wh[rows] + np.nan_to_num(energy_drawn(p, prev_p, gap_s)), 0.0)
        sample = Sample(
            rows=rows, ts=ts, p=p, v=latest.v[rows], pf=latest.pf[rows], e=latest.e[rows], dim=dim,
            f=latest.f[rows], prev_ts=prev_ts, prev_p=prev_p, prev_e=state.e[rows], prev_dim=prev_dim,
            sched_off=schedule_off(ts, place.config_index[rows], place.configs, place.lat[rows], place.lon[rows],
                                   [place.zone[i] for i in rows.tolist()]),
            transitions=transitions, flat_wh=flat_wh,
        )
        cond, known = evaluate(fleet, sample)
        state.debounce(rows, ts, cond, known, life.confirm_readings, life.clear_readings)
        state.seq[rows] = latest.seq[rows]
        state.ts[rows] = ts
        state.p[rows] = p
        state.e[rows] = latest.e[rows]
        state.dim[rows] = dim
        state.flat_wh[rows] = flat_wh

    silent_s = np.where(has, now - latest.ts, 0.0)
    fail = ROW["lamp_failure"]
    failing_since = np.where(has & (state.hits[fail] > 0), state.since[fail], np.nan)
    verdict = correlate(
        fleet, rules, has_reading=has, last_ts=np.nan_to_num(latest.ts, nan=-np.inf), silent_s=silent_s,
        failing_since=failing_since, over_voltage=state.active[ROW["over_voltage"]] & has,
        under_voltage=state.active[ROW["under_voltage"]] & has,
        gateway_age_s=now - gateway_heard, previous=previous, now=now,
    )
    # A lamp silent since before its cabinet's outage ended is timed from the recovery: controllers
    # boot and report within an interval, a LoRa lamp's hourly turn may be most of an hour away.
    since_recovery = np.full(len(fleet), np.inf)
    has_cab = fleet.cabinet >= 0
    if verdict.recovered_at.size:
        since_recovery[has_cab] = now - verdict.recovered_at[fleet.cabinet[has_cab]]
    comm = has & (np.minimum(silent_s, since_recovery) > fleet.silence_limit_s)
    return Assessment(_desired(fleet, state, latest, verdict, config, now=now, comm=comm, silent_s=silent_s,
                               gateway_heard=gateway_heard),
                      verdict, int(rows.size))


def _desired(fleet: Fleet, state: LampState, latest: Latest, verdict: Verdict, config: FaultConfig, *,
             now: float, comm: Bools, silent_s: Floats, gateway_heard: Floats) -> list[Desired]:
    rules = config.correlation
    out: list[Desired] = []
    for g in np.nonzero(verdict.gateway_down)[0].tolist():
        gw = fleet.gateway_ids[g]
        out.append(Desired(("gateway", gw, "gateway_down"), fleet.gateway_site[g], fleet.gateway_district[g], None,
                           SEVERITY["gateway_down"], float(gateway_heard[g]), now,
                           {"silent_s": round(now - float(gateway_heard[g]))}))
    cabinet_faults = (("cabinet_outage", verdict.cabinet_out), ("over_voltage", verdict.cabinet_over_voltage),
                      ("under_voltage", verdict.cabinet_under_voltage))
    for fault, mask in cabinet_faults:
        for c in np.nonzero(mask)[0].tolist():
            cab = fleet.cabinet_ids[c]
            out.append(Desired(("cabinet", cab, fault), fleet.cabinet_site[c], fleet.cabinet_district[c], cab,
                               SEVERITY[fault], now, now,
                               {"dark_fraction": _round(float(verdict.cabinet_dark_fraction[c]))}))

    has = latest.seq >= 0
    expected = expected_power(fleet, np.nan_to_num(latest.dim))
    device_fault = state.active[ROW["device_fault"]] & has

    def cabinet_key(row: int, fault: str) -> Key:
        return ("cabinet", fleet.cabinet_ids[int(fleet.cabinet[row])], fault)

    for t, fault in enumerate(READING_TYPES):
        mask = state.active[t] & has
        for row in np.nonzero(mask)[0].tolist():
            explained: Key | None = None
            if fault == "lamp_failure" and verdict.in_outage[row]:
                explained = cabinet_key(row, "cabinet_outage")
            elif fault == "over_voltage" and verdict.in_over_voltage[row]:
                explained = cabinet_key(row, "over_voltage")
            elif fault == "under_voltage" and verdict.in_under_voltage[row]:
                explained = cabinet_key(row, "under_voltage")
            elif fault in EXPLAINED_BY_DEVICE and device_fault[row]:
                # The controller flags its own relay or driver: the dark lamp or odd power is that fault.
                explained = ("lamp", fleet.lamps[row].id, "device_fault")
            since = float(state.since[t, row])
            waits = ((fault == "lamp_failure" and verdict.held[row])
                     or (fault == "over_voltage" and verdict.held_over_voltage[row])
                     or (fault == "under_voltage" and verdict.held_under_voltage[row]))
            held = since + rules.hold_s if waits else None
            out.append(_lamp_desired(fleet, row, fault, since, float(latest.ts[row]), held, explained, {
                "p": _round(latest.p[row], 1), "v": _round(latest.v[row], 1), "pf": _round(latest.pf[row]),
                "dim": _round(latest.dim[row], 0), "e": _round(latest.e[row], 1), "f": int(latest.f[row]),
                "expected_p": _round(expected[row], 1)}))
    for row in np.nonzero(comm)[0].tolist():
        explained = None
        if verdict.in_outage[row]:
            explained = cabinet_key(row, "cabinet_outage")
        elif verdict.behind_down_gateway[row]:
            explained = ("gateway", fleet.gateway_ids[int(fleet.gateway[row])], "gateway_down")
        began = float(latest.ts[row]) + float(fleet.silence_limit_s[row])
        held = began + rules.hold_s if verdict.held[row] else None
        out.append(_lamp_desired(fleet, row, "comm_loss", float(latest.ts[row]), now, held, explained, {
            "silent_s": round(float(silent_s[row])), "limit_s": round(float(fleet.silence_limit_s[row])),
            "last_seq": int(latest.seq[row])}))
    return out


def _lamp_desired(fleet: Fleet, row: int, fault: str, started: float, evidence_ts: float, held: float | None,
                  explained: Key | None, evidence: dict[str, Any]) -> Desired:
    lamp = fleet.lamps[row]
    return Desired(("lamp", lamp.id, fault), lamp.site_id, lamp.district_id, lamp.cabinet_id, SEVERITY[fault],
                   started if np.isfinite(started) else evidence_ts, evidence_ts, evidence, held, explained)
