"""The fault engine: each tick it reads the fleet's newest readings, assesses every lamp at once and
brings the alerts in line with what it found: opens, re-opens (flaps), suppresses what an outage
explains, marks cleared, auto-resolves after the hold, and escalates what nobody acknowledged.

Its clock is whatever ``tick(now)`` is given: the wall clock in the server, simulated time in
``terang eval faults``. All alert times are on that clock.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg

from server.alerts import store
from server.alerts.lifecycle import LIVE
from server.faults import loader
from server.faults.assess import Assessment, Desired, Key, Placement, assess
from server.faults.config import FaultConfig, load
from server.faults.correlate import Verdict
from server.faults.detectors import READING_TYPES
from server.faults.fleet import Fleet
from server.faults.kinds import SUPPLY_TYPES
from server.faults.state import LampState
from server.settings import Settings

Conn = psycopg.AsyncConnection[Any]


@dataclass
class TickReport:
    at: dt.datetime
    lamps: int = 0
    fresh_readings: int = 0
    conditions: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    suppressed: int = 0
    escalated: int = 0
    held: int = 0
    assess_ms: float = 0.0
    total_ms: float = 0.0


def _at(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


class FaultEngine:
    def __init__(self, conn: Conn, settings: Settings, *, config: FaultConfig | None = None,
                 site_ids: list[str] | None = None) -> None:
        self.conn = conn
        self.config = config or load(settings.faults_config_file)
        self.site_ids = site_ids if site_ids is not None else (list(settings.ingest_sites) or None)
        self.fleet: Fleet | None = None
        self.state: LampState | None = None
        self.place: Placement | None = None
        self._registry_mark: tuple[Any, ...] | None = None
        self._configs_mark: tuple[Any, ...] | None = None
        self._previous: Verdict | None = None
        self._sticky: set[Key] = set()
        self.last_report: TickReport | None = None

    async def _refresh(self) -> tuple[Fleet, LampState, Placement]:
        mark = await loader.registry_mark(self.conn, self.site_ids)
        if mark != self._registry_mark or self.fleet is None:
            fleet, sites = await loader.load_fleet(self.conn, self.site_ids, self.config)
            self.state = LampState.for_fleet(fleet, self.state)
            self._previous = None
            self.place = Placement(
                lat=np.array([lamp.lat for lamp in fleet.lamps]), lon=np.array([lamp.lon for lamp in fleet.lamps]),
                zone=[sites.zone.get(lamp.site_id, "Asia/Jayapura") for lamp in fleet.lamps],
                config_index=np.full(len(fleet), -1, dtype=np.int64), configs=[])
            self.fleet = fleet
            self._registry_mark = mark
            self._configs_mark = None
        assert self.state is not None and self.place is not None
        cmark = await loader.configs_mark(self.conn)
        if cmark != self._configs_mark:
            self.place.config_index, self.place.configs = await loader.load_configs(self.conn, self.fleet)
            self._configs_mark = cmark
        return self.fleet, self.state, self.place

    async def tick(self, now: dt.datetime) -> TickReport:
        started = time.perf_counter()
        report = TickReport(at=now)
        fleet, state, place = await self._refresh()
        latest = await loader.load_latest(self.conn, fleet)
        heard = await loader.gateway_heard(self.conn, fleet)
        t0 = time.perf_counter()
        found = assess(fleet, state, latest, heard, place, self.config, now=now.timestamp(),
                       previous=self._previous)
        report.assess_ms = (time.perf_counter() - t0) * 1000
        self._previous = found.verdict
        report.lamps = len(fleet)
        report.fresh_readings = found.fresh_readings
        await self._reconcile(found, now, report)
        report.conditions = dict(Counter(d.key[2] for d in found.desired))
        report.total_ms = (time.perf_counter() - started) * 1000
        self.last_report = report
        return report

    async def _reconcile(self, found: Assessment, now: dt.datetime, report: TickReport) -> None:
        life = self.config.lifecycle
        now_ts = now.timestamp()
        rows = await store.load_engine_view(self.conn, site_ids=self.site_ids,
                                            resolved_since=now - dt.timedelta(seconds=life.flap_window_s))
        by_key: dict[Key, dict[str, Any]] = {}
        for row in rows:  # ordered by id: a live alert wins over an older resolved one
            key = (row["subject_type"], row["subject_id"], row["fault_type"])
            if key not in by_key or row["status"] in LIVE or by_key[key]["status"] not in LIVE:
                by_key[key] = row
        ids = {key: int(row["id"]) for key, row in by_key.items() if row["status"] in LIVE}
        crews = await store.crews_by_site(self.conn)
        wanted: set[Key] = set()
        sticky: set[Key] = set()
        # Cabinet and gateway alerts first: the lamp alerts they explain refer to them.
        for want in sorted(found.desired, key=lambda d: d.key[0] == "lamp"):
            wanted.add(want.key)
            if want.key[0] == "lamp" and want.key[2] in SUPPLY_TYPES and want.cabinet_id is not None:
                # A lamp that saw its cabinet's supply fault stays explained by it while its own condition
                # lasts: LoRa lamps need hours of hourly readings to clear after the cabinet's verdict has.
                supply = ("cabinet", want.cabinet_id, want.key[2])
                if want.explained_by is None and (supply in ids or want.key in self._sticky):
                    want.explained_by = supply
                if want.explained_by is not None:
                    sticky.add(want.key)
            await self._apply(want, by_key.get(want.key), ids, crews, now, now_ts, report)
        self._sticky = sticky
        for key, row in by_key.items():
            if row["status"] not in LIVE or key in wanted:
                continue
            if row["cleared_at"] is None:
                await store.mark_cleared(self.conn, int(row["id"]), at=now)
                continue
            hold = life.clear_hold_s * (4 if row["flaps"] >= life.flap_limit else 1)
            if (now - row["cleared_at"]).total_seconds() >= hold:
                await store.resolve_cleared(self.conn, int(row["id"]), at=now)
                report.resolved += 1
                row["status"] = "resolved"
        for row in by_key.values():
            if row["status"] != "open" or row["suppressed_by"] is not None:
                continue
            after = life.escalate_after_s[row["severity"]]
            due = min(int((now - row["detected_at"]).total_seconds() // after), life.escalation_max)
            if due > row["escalation_level"]:
                await store.escalate(self.conn, int(row["id"]), level=due, at=now)
                report.escalated += 1

    async def _apply(self, want: Desired, row: dict[str, Any] | None, ids: dict[Key, int],
                     crews: dict[str, list[tuple[str, list[str]]]], now: dt.datetime, now_ts: float,
                     report: TickReport) -> None:
        life = self.config.lifecycle
        by = ids.get(want.explained_by) if want.explained_by is not None else None
        if row is not None and row["status"] in LIVE:
            alert_id = int(row["id"])
            if row["cleared_at"] is not None:
                await store.mark_cleared(self.conn, alert_id, at=None)
            if by != row["suppressed_by"] and (by is not None or want.explained_by is None):
                await store.set_suppressed(self.conn, alert_id, by=by, at=now)
                report.suppressed += by is not None
            return
        if want.explained_by is not None:
            return
        if want.held_until is not None and now_ts < want.held_until:
            report.held += 1
            return
        if row is not None and row["status"] == "resolved":
            # Evidence older than the resolution (a crew resolved it, no new reading since) is no flap.
            if want.evidence_ts <= row["resolved_at"].timestamp():
                return
            await store.reopen(self.conn, int(row["id"]), at=now, flapping=row["flaps"] + 1 >= life.flap_limit,
                               evidence=want.evidence)
            ids[want.key] = int(row["id"])
            report.reopened += 1
            return
        subject_type, _subject_id, fault = want.key
        new = store.NewAlert(site_id=want.site_id, fault_type=fault, subject_type=subject_type,
                             subject_id=want.key[1], district_id=want.district_id, cabinet_id=want.cabinet_id,
                             severity=want.severity, first_evidence_at=_at(min(want.started, now_ts)),
                             evidence=want.evidence)
        crew = store.choose_crew(crews, want.site_id, want.district_id)
        ids[want.key] = await store.open_alert(self.conn, new, at=now, crew_id=crew)
        report.opened += 1


__all__ = ["READING_TYPES", "FaultEngine", "TickReport"]
