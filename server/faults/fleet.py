"""The fleet as arrays: one row per lamp (registry facts and per-type thresholds), cabinets and
gateways as small index tables. Rebuilt when the registry changes, not every tick."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from server.faults.config import FaultConfig

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

# Per-lamp copies of the lamp type's thresholds, so every detector is one array expression.
THRESHOLD_FIELDS = (
    "driver_loss", "standby_w", "min_on_level", "fail_fraction", "fail_abs_w", "burn_fraction",
    "power_tolerance", "power_min_level", "over_voltage_v", "under_voltage_v", "pf_min", "pf_min_level",
    "cycling_transitions", "cycling_window_s",
)


@dataclass
class LampInfo:
    """One lamp's registry row, as loaded (``lamps`` table)."""

    key: int
    id: str
    site_id: str
    district_id: str | None
    cabinet_id: str | None
    gateway_id: str | None
    name: str | None
    lat: float
    lon: float
    rated_w: float
    radio: str
    report_interval_s: int
    lamp_type: str


@dataclass
class Fleet:
    lamps: list[LampInfo]
    keys: Ints  # sorted lamp keys; row i of every array is lamps[i]
    rated_w: Floats
    interval_s: Floats
    silence_limit_s: Floats  # comm loss beyond this
    suspect_after_s: Floats  # silent enough to count towards a cabinet outage
    late_bearer: Bools  # readings normally arrive late (LoRa through gateway queues)
    cabinet: Ints  # index into cabinet_ids, -1 for none
    cabinet_ids: list[str]
    cabinet_site: list[str]
    cabinet_district: list[str | None]
    gateway: Ints  # index into gateway_ids for LoRa lamps behind a gateway, -1 otherwise
    gateway_ids: list[str]
    gateway_site: list[str]
    gateway_district: list[str | None]
    th: dict[str, Floats] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.lamps)

    def rows_of(self, keys: Ints) -> tuple[Ints, Bools]:
        """Row index of each lamp key, and which keys are in the fleet at all."""
        if len(self.keys) == 0:
            return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
        pos = np.clip(np.searchsorted(self.keys, keys), 0, len(self.keys) - 1)
        return pos.astype(np.int64), self.keys[pos] == keys


def build(lamps: list[LampInfo], gateways: list[tuple[str, str, str | None]],
          cabinets: list[tuple[str, str, str | None]], config: FaultConfig) -> Fleet:
    """``gateways`` and ``cabinets`` are (id, site_id, district_id) rows."""
    lamps = sorted(lamps, key=lambda lamp: lamp.key)
    n = len(lamps)
    cab_index = {c[0]: i for i, c in enumerate(cabinets)}
    gw_index = {g[0]: i for i, g in enumerate(gateways)}
    interval = np.array([lamp.report_interval_s for lamp in lamps], dtype=np.float64)
    bearers = [config.bearer(lamp.radio) for lamp in lamps]
    factor = np.array([b.factor for b in bearers], dtype=np.float64)
    grace = np.array([b.grace_s for b in bearers], dtype=np.float64)
    late = np.array([b.late_intervals for b in bearers], dtype=np.float64)
    types = {lamp.lamp_type for lamp in lamps}
    per_type = {t: config.thresholds(t) for t in types}
    th: dict[str, Floats] = {}
    for name in THRESHOLD_FIELDS:
        th[name] = np.array([getattr(per_type[lamp.lamp_type], name) for lamp in lamps], dtype=np.float64)
    return Fleet(
        lamps=lamps,
        keys=np.array([lamp.key for lamp in lamps], dtype=np.int64),
        rated_w=np.array([lamp.rated_w for lamp in lamps], dtype=np.float64),
        interval_s=interval,
        silence_limit_s=factor * interval + grace,
        suspect_after_s=interval * (1.0 + late) + config.correlation.outage_silence_grace_s,
        late_bearer=late > 0,
        cabinet=np.array([cab_index.get(lamp.cabinet_id or "", -1) for lamp in lamps], dtype=np.int64),
        cabinet_ids=[c[0] for c in cabinets],
        cabinet_site=[c[1] for c in cabinets],
        cabinet_district=[c[2] for c in cabinets],
        gateway=np.array([gw_index.get(lamp.gateway_id or "", -1) if lamp.radio == "lora" else -1 for lamp in lamps],
                         dtype=np.int64),
        gateway_ids=[g[0] for g in gateways],
        gateway_site=[g[1] for g in gateways],
        gateway_district=[g[2] for g in gateways],
        th=th if n else {name: np.zeros(0) for name in THRESHOLD_FIELDS},
    )


def synthetic(n: int, *, cabinets: int, gateways: int, seed: int = 1, config: FaultConfig | None = None) -> Fleet:
    """A made-up fleet of ``n`` lamps (benchmarks): ~1/5 LoRa behind gateways, the rest Wi-Fi/4G."""
    rng = np.random.default_rng(seed)
    lora = rng.random(n) < 0.2
    lamps = [
        LampInfo(key=k + 1, id=f"L{k:06d}", site_id="bench", district_id=f"d{k % 18}", cabinet_id=f"c{k % cabinets}",
                 gateway_id=f"g{k % gateways}" if lora[k] else None, name=None, lat=-4.55, lon=136.88,
                 rated_w=float(rng.choice([40.0, 60.0, 90.0, 120.0])), radio="lora" if lora[k] else "wifi",
                 report_interval_s=3600 if lora[k] else 300, lamp_type="led")
        for k in range(n)
    ]
    return build(lamps, [(f"g{i}", "bench", None) for i in range(gateways)],
                 [(f"c{i}", "bench", f"d{i % 18}") for i in range(cabinets)], config or FaultConfig())


def expected_power(fleet: Fleet, dim: Floats, rows: Ints | slice | None = None) -> Floats:
    """Input power a healthy lamp draws at level ``dim`` (0..100)."""
    sel: Any = slice(None) if rows is None else rows
    d = np.clip(dim, 0, 100) / 100.0
    loss = fleet.th["driver_loss"][sel]
    lit = fleet.rated_w[sel] * (d + loss) / (1.0 + loss)
    out: Floats = fleet.th["standby_w"][sel] + np.where(d > 0, lit, 0.0)
    return out
