"""The simulated fleet: topology + schedule + electrical model + per-lamp sequence numbers.

It turns "these lamps report at these times" into protocol readings: tuples in the codec's
``READING_KEYS`` order ``(seq, ts, p, v, i, pf, e, dim, t, f, cv)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.electrical import Adjust, ElectricalModel
from simulator.schedule import AllNightFullOn, DimSource
from simulator.topology import Topology

Reading = tuple[Any, ...]

# Thresholds at which a controller raises its over/under-voltage flags (IEC 60038: 230 V +/-10 %;
# PLN's own tolerance is +5 %/-10 % of 220 V, which town feeders brush against every evening).
UNDER_VOLTAGE_V = 198.0
OVER_VOLTAGE_V = 242.0


def _flag(name: str) -> int:
    from firmware.device import codec

    return int(getattr(codec, name))


@dataclass
class Block:
    """Readings of several lamps (one each) as columns, before rounding to the meter's resolution."""

    lamps: npt.NDArray[np.intp]
    seq: npt.NDArray[np.int64]
    ts: npt.NDArray[np.int64]
    p: npt.NDArray[np.float64]
    v: npt.NDArray[np.float64]
    i: npt.NDArray[np.float64]
    pf: npt.NDArray[np.float64]
    e: npt.NDArray[np.float64]
    dim: npt.NDArray[np.int64]
    t: npt.NDArray[np.float64]
    f: npt.NDArray[np.int64]
    cv: list[int | None] | None = None  # None: no config version for any of them

    def __len__(self) -> int:
        return int(self.lamps.size)

    def take(self, rows: npt.NDArray[Any]) -> Block:
        """The readings at ``rows`` (indices or a boolean mask)."""
        cv = None if self.cv is None else [self.cv[k] for k in np.arange(len(self))[rows].tolist()]
        return Block(self.lamps[rows], self.seq[rows], self.ts[rows], self.p[rows], self.v[rows], self.i[rows],
                     self.pf[rows], self.e[rows], self.dim[rows], self.t[rows], self.f[rows], cv)

    def tuples(self) -> list[Reading]:
        """Protocol reading tuples, rounded to the meter's resolution (the codec quantises again)."""
        cv = self.cv if self.cv is not None else [None] * len(self)
        return list(
            zip(
                self.seq.tolist(),
                self.ts.tolist(),
                np.round(self.p, 1).tolist(),
                np.round(self.v, 1).tolist(),
                np.round(self.i, 3).tolist(),
                np.round(self.pf, 2).tolist(),
                np.round(self.e, 1).tolist(),
                self.dim.tolist(),
                np.round(self.t, 1).tolist(),
                self.f.tolist(),
                cv,
                strict=True,
            )
        )


class Fleet:
    def __init__(
        self,
        topology: Topology,
        *,
        seed: int,
        start_ts: float,
        schedule: DimSource | None = None,
        first_seq: int = 1,
    ) -> None:
        self.topology = topology
        lamps = topology.lamps
        self.model = ElectricalModel(topology, seed, start_ts)
        self.schedule: DimSource = schedule or AllNightFullOn(lamps.lon, topology.site.lat, topology.site.lon)
        self.next_seq = np.full(len(lamps), first_seq, dtype=np.int64)
        self._under = _flag("F_UNDER_VOLTAGE")
        self._over = _flag("F_OVER_VOLTAGE")

    def __len__(self) -> int:
        return len(self.topology.lamps)

    def readings(self, lamps: npt.NDArray[np.intp], ts: npt.NDArray[np.int64]) -> list[Reading]:
        """One reading per lamp in ``lamps`` (no repeats) at Unix seconds ``ts``; takes the next seq of each."""
        return self.sample(lamps, ts).tuples()

    def sample(
        self, lamps: npt.NDArray[np.intp], ts: npt.NDArray[np.int64], adjust: Adjust | None = None
    ) -> Block:
        """Like ``readings`` but as columns; ``adjust`` may change what flows (injected faults)."""
        lamps = np.asarray(lamps, dtype=np.intp)
        ts = np.asarray(ts, dtype=np.int64)
        tsf = ts.astype(np.float64)
        dim = self.schedule.levels(lamps, tsf)
        s = self.model.step(lamps, tsf, dim, adjust)
        seq = self.next_seq[lamps]
        self.next_seq[lamps] = seq + 1
        flags = np.where(s.v < UNDER_VOLTAGE_V, self._under, 0) | np.where(s.v > OVER_VOLTAGE_V, self._over, 0)
        # A schedule that follows pushed configs tells which version each lamp runs.
        versions = getattr(self.schedule, "versions", None)
        cv = versions(lamps) if versions is not None else None
        return Block(lamps, seq, ts, s.p, s.v, s.i, s.pf, s.e, dim, s.t, flags.astype(np.int64), cv)

    def series(
        self, count: int, *, start_ts: float, interval_s: float, lamps: npt.NDArray[np.intp] | None = None
    ) -> dict[int, list[Reading]]:
        """``count`` consecutive readings of each lamp, ``interval_s`` apart from ``start_ts``."""
        which = np.arange(len(self), dtype=np.intp) if lamps is None else np.asarray(lamps, dtype=np.intp)
        out: dict[int, list[Reading]] = {int(k): [] for k in which}
        for k in range(count):
            ts = np.full(which.size, int(start_ts + k * interval_s), dtype=np.int64)
            for lamp, reading in zip(which.tolist(), self.readings(which, ts), strict=True):
                out[lamp].append(reading)
        return out
