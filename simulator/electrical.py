"""Electrical and thermal model of the whole fleet, one numpy operation per quantity.

Per lamp: input power from the dim level through a driver whose fixed losses do not shrink with
dimming (so 10 % light costs ~15 % power), controller standby power when the LED is off, power
factor falling at low load, mains voltage per cabinet (PLN 220 V nominal, evening sag, slow
wander, a drop along the feeder that grows with load, metering noise), current from the three,
a monotonic energy counter integrated between readings, and the controller's temperature
(ambient day cycle, sun on the housing, self-heating).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulator.schedule import local_hour
from simulator.topology import Topology

DAY_S = 86_400.0
NOMINAL_V = 220.0
# A lamp has burned about this many hours a day since commissioning (12 h nights, some outages).
BURN_HOURS_PER_DAY = 11.5

Floats = npt.NDArray[np.float64]


@dataclass
class Sample:
    p: Floats  # W
    v: Floats  # V
    i: Floats  # A
    pf: Floats
    e: Floats  # Wh, cumulative
    t: Floats  # deg C


# Changes what flows before current, heat and energy are derived from it (simulator/faults.py): called
# with the lamps, their times, their dim levels and the sample holding p, v and pf.
Adjust = Callable[[npt.NDArray[np.intp], Floats, npt.NDArray[np.int64], Sample], None]


class ElectricalModel:
    """Per-lamp parameters are drawn once from ``seed``; state is the energy counter."""

    def __init__(self, topology: Topology, seed: int, start_ts: float) -> None:
        lamps = topology.lamps
        n = len(lamps)
        rng = np.random.default_rng([seed, 0xE1EC])
        self.cabinet = lamps.cabinet.astype(np.intp)
        self.feeder_pos = lamps.feeder_pos
        # Nameplate tolerance of the luminaire.
        self.p_full: Floats = lamps.rated_w * np.clip(rng.normal(1.0, 0.02, n), 0.94, 1.06)
        self.standby_w: Floats = rng.uniform(0.4, 0.9, n)
        # Driver losses as a share of full power that stay when dimmed.
        self.fixed_loss: Floats = rng.uniform(0.04, 0.10, n)
        self.pf_full: Floats = rng.uniform(0.95, 0.99, n)
        self.pf_low: Floats = rng.uniform(0.55, 0.72, n)
        self.pf_standby: Floats = rng.uniform(0.30, 0.50, n)
        self.thermal_rise: Floats = rng.uniform(12.0, 25.0, n)
        self.commissioned: Floats = start_ts - rng.uniform(30.0, 900.0, n) * DAY_S

        n_cab = len(topology.cabinets)
        setting_of = {d.id: d.setting for d in topology.districts}
        settings = [setting_of[c.district_id] for c in topology.cabinets]
        weak_grid = np.array([s in ("rural", "highland") for s in settings], dtype=bool)
        # Town feeders run a little above nominal; rural lines are weaker and droop more.
        self.cab_base: Floats = np.where(weak_grid, rng.normal(220.0, 4.0, n_cab), rng.normal(226.0, 2.5, n_cab))
        self.cab_drop: Floats = rng.uniform(0.015, 0.04, n_cab) * np.where(weak_grid, 1.4, 1.0)
        self.cab_phase: Floats = rng.uniform(0.0, 2 * math.pi, (2, n_cab))

        self.energy: Floats = np.full(n, np.nan)
        self.last_p: Floats = np.full(n, np.nan)
        self.last_ts: Floats = np.full(n, np.nan)
        self._noise = np.random.default_rng([seed, 0x401E])

    def restore(self, lamps: npt.NDArray[np.intp], energy_wh: Floats, last_ts: Floats) -> None:
        """Continues the counters of an earlier run."""
        self.energy[lamps] = energy_wh
        self.last_ts[lamps] = last_ts
        self.last_p[lamps] = np.nan

    def power(self, lamps: npt.NDArray[np.intp], dim: npt.NDArray[np.int64]) -> Floats:
        d = np.clip(dim, 0, 100) / 100.0
        f = self.fixed_loss[lamps]
        lit = self.p_full[lamps] * (d + f) / (1.0 + f)
        return self.standby_w[lamps] + np.where(d > 0, lit, 0.0)

    def power_factor(self, lamps: npt.NDArray[np.intp], dim: npt.NDArray[np.int64]) -> Floats:
        d = np.clip(dim, 0, 100) / 100.0
        full, low = self.pf_full[lamps], self.pf_low[lamps]
        return np.where(d > 0, full - (full - low) * (1.0 - d) ** 2, self.pf_standby[lamps])

    def voltage(self, lamps: npt.NDArray[np.intp], ts: Floats, dim: npt.NDArray[np.int64]) -> Floats:
        cab = self.cabinet[lamps]
        hour = local_hour(ts)
        evening_peak = np.exp(-(((hour - 20.0) / 2.0) ** 2))
        wander = 1.5 * np.sin(2 * math.pi * ts / 2_820.0 + self.cab_phase[0, cab]) + 1.0 * np.sin(
            2 * math.pi * ts / 11_880.0 + self.cab_phase[1, cab]
        )
        at_cabinet = self.cab_base[cab] * (1.0 - 0.02 * evening_peak) + wander
        along_feeder = 1.0 - self.cab_drop[cab] * (np.clip(dim, 0, 100) / 100.0) * self.feeder_pos[lamps]
        volts: Floats = at_cabinet * along_feeder
        return volts

    def step(
        self, lamps: npt.NDArray[np.intp], ts: Floats, dim: npt.NDArray[np.int64], adjust: Adjust | None = None
    ) -> Sample:
        """One reading for each of ``lamps`` (no repeats) at times ``ts``; advances energy counters."""
        lamps = np.asarray(lamps, dtype=np.intp)
        ts = np.asarray(ts, dtype=np.float64)
        n = lamps.size
        noise = self._noise
        p = self.power(lamps, dim) * (1.0 + noise.normal(0.0, 0.003, n))
        pf = np.clip(self.power_factor(lamps, dim) + noise.normal(0.0, 0.004, n), 0.05, 1.0)
        v = self.voltage(lamps, ts, dim) + noise.normal(0.0, 0.4, n)
        if adjust is not None:
            s = Sample(p=p, v=v, i=p, pf=pf, e=p, t=p)
            adjust(lamps, ts, dim, s)
            p, v, pf = s.p, s.v, s.pf
        # A relay stuck open lets nothing through: no power, no current.
        apparent = v * pf
        i = np.divide(p, apparent, out=np.zeros(n), where=apparent > 0)

        hour = local_hour(ts)
        ambient = 27.0 + 4.5 * np.cos(2 * math.pi * (hour - 14.0) / 24.0)
        sun_on_housing = 8.0 * np.clip(np.sin(math.pi * (hour - 6.0) / 12.0), 0.0, None)
        self_heating = self.thermal_rise[lamps] * (p - self.standby_w[lamps]) / self.p_full[lamps]
        t = ambient + sun_on_housing + 2.0 + self_heating + noise.normal(0.0, 0.3, n)

        e = self._integrate(lamps, ts, p)
        return Sample(p=p, v=v, i=i, pf=pf, e=e, t=t)

    def _integrate(self, lamps: npt.NDArray[np.intp], ts: Floats, p: Floats) -> Floats:
        energy = self.energy[lamps]
        fresh = np.isnan(energy)
        # A lamp seen for the first time has burned on average since it was commissioned.
        since = np.maximum(ts - self.commissioned[lamps], 0.0) / DAY_S
        energy = np.where(fresh, self.p_full[lamps] * BURN_HOURS_PER_DAY * since, energy)
        last_p = self.last_p[lamps]
        mean_p = np.where(np.isnan(last_p), p, 0.5 * (last_p + p))
        dt = np.where(np.isnan(self.last_ts[lamps]), 0.0, np.maximum(ts - self.last_ts[lamps], 0.0))
        energy = energy + mean_p * dt / 3600.0
        self.energy[lamps] = energy
        self.last_p[lamps] = p
        self.last_ts[lamps] = ts
        return energy

