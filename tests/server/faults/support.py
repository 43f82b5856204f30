"""A small fleet fed reading by reading through the assessment, without a database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from server.faults.assess import Assessment, Placement, assess
from server.faults.config import FaultConfig
from server.faults.correlate import Verdict
from server.faults.fleet import Fleet, LampInfo, build
from server.faults.loader import Latest
from server.faults.state import LampState

# A night in Timika: 2026-11-28 22:00 WIT.
NIGHT = dt.datetime(2026, 11, 28, 13, 0, tzinfo=dt.UTC).timestamp()
# Noon the next day.
NOON = dt.datetime(2026, 11, 29, 3, 0, tzinfo=dt.UTC).timestamp()
RATED = 100.0


def healthy_p(dim: float, rated: float = RATED) -> float:
    return 0.7 + rated * (dim / 100 + 0.07) / 1.07 if dim > 0 else 0.7


@dataclass
class Bench:
    """``lamps`` lamps (ids L0..), ``per_cabinet`` to a cabinet, Wi-Fi reporting every 300 s unless
    ``lora`` names lamps (hourly, behind gateway g0)."""

    lamps: int = 4
    per_cabinet: int = 100
    lora: frozenset[int] = frozenset()
    config: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        infos = [LampInfo(key=k + 1, id=f"L{k}", site_id="s", district_id="d1", cabinet_id=f"c{k // self.per_cabinet}",
                          gateway_id="g0" if k in self.lora else None, name=None, lat=-4.55, lon=136.88,
                          rated_w=RATED, radio="lora" if k in self.lora else "wifi",
                          report_interval_s=3600 if k in self.lora else 300, lamp_type="led")
                 for k in range(self.lamps)]
        n_cab = (self.lamps + self.per_cabinet - 1) // self.per_cabinet
        self.fleet: Fleet = build(infos, [("g0", "s", "d1")], [(f"c{i}", "s", "d1") for i in range(n_cab)],
                                  self.config)
        self.state = LampState.for_fleet(self.fleet)
        n = self.lamps
        self.latest = Latest(seq=np.full(n, -1, dtype=np.int64), ts=np.full(n, np.nan), p=np.full(n, np.nan),
                             v=np.full(n, np.nan), pf=np.full(n, np.nan), e=np.full(n, np.nan),
                             dim=np.full(n, np.nan), f=np.zeros(n, dtype=np.int64))
        self.energy = np.full(n, 10_000.0)
        self.gateway_heard = np.array([np.nan])
        self.place = Placement(lat=np.full(n, -4.55), lon=np.full(n, 136.88), zone=["Asia/Jayapura"] * n,
                               config_index=np.full(n, -1, dtype=np.int64), configs=[])
        self.previous: Verdict | None = None

    def report(self, lamp: int, ts: float, *, dim: float = 100, p: float | None = None, v: float = 224.0,
               pf: float = 0.97, e: float | None = None, f: int = 0) -> None:
        """Lamp ``lamp`` reports a reading at ``ts``; defaults: healthy at ``dim``, energy counting on."""
        power = healthy_p(dim) if p is None else p
        last = self.latest.ts[lamp]
        if e is None:
            gap = 0.0 if np.isnan(last) else ts - last
            self.energy[lamp] += power * gap / 3600
            e = float(self.energy[lamp])
        else:
            self.energy[lamp] = e
        self.latest.seq[lamp] = max(self.latest.seq[lamp], 0) + 1
        for name, value in (("ts", ts), ("p", power), ("v", v), ("pf", pf), ("e", e), ("dim", dim)):
            getattr(self.latest, name)[lamp] = value
        self.latest.f[lamp] = f

    def assess(self, now: float) -> Assessment:
        found = assess(self.fleet, self.state, self.latest, self.gateway_heard, self.place, self.config, now=now,
                       previous=self.previous)
        self.previous = found.verdict
        return found

    def run(self, start: float, readings: int, *, lamps: list[int] | None = None, every: float = 300,
            quiet: frozenset[int] = frozenset(), **reading: Any) -> Assessment:
        """``readings`` rounds ``every`` s apart, assessing after each: ``lamps`` (all) report with
        ``reading``'s values, the others a healthy reading at the same level, ``quiet`` ones nothing."""
        found = None
        chosen = set(range(self.lamps)) if lamps is None else set(lamps)
        for k in range(readings):
            t = start + k * every
            for lamp in range(self.lamps):
                if lamp in quiet:
                    continue
                if lamp in chosen:
                    self.report(lamp, t, **reading)
                else:
                    self.report(lamp, t, dim=reading.get("dim", 100))
            found = self.assess(t + 1)
        assert found is not None
        return found


def alerted(found: Assessment, *, opened_only: bool = True) -> set[tuple[str, str, str]]:
    """Keys that would get a crew-visible alert now (not held back, not explained by an outage)."""
    return {d.key for d in found.desired
            if not opened_only or (d.explained_by is None and (d.held_until is None or d.held_until <= d.evidence_ts))}
