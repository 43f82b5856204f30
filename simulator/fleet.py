"""The simulated fleet: topology + schedule + electrical model + per-lamp sequence numbers.

It turns "these lamps report at these times" into protocol readings: tuples in the codec's
``READING_KEYS`` order ``(seq, ts, p, v, i, pf, e, dim, t, f, cv)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from simulator.electrical import ElectricalModel
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
        lamps = np.asarray(lamps, dtype=np.intp)
        ts = np.asarray(ts, dtype=np.int64)
        tsf = ts.astype(np.float64)
        dim = self.schedule.levels(lamps, tsf)
        s = self.model.step(lamps, tsf, dim)
        seq = self.next_seq[lamps]
        self.next_seq[lamps] = seq + 1
        flags = np.where(s.v < UNDER_VOLTAGE_V, self._under, 0) | np.where(s.v > OVER_VOLTAGE_V, self._over, 0)
        n = lamps.size
        # A schedule that follows pushed configs tells which version each lamp runs.
        versions = getattr(self.schedule, "versions", None)
        cv = versions(lamps) if versions is not None else [None] * n
        # Rounded to the meter's resolution; the codec quantises again to the wire's.
        return list(
            zip(
                seq.tolist(),
                ts.tolist(),
                np.round(s.p, 1).tolist(),
                np.round(s.v, 1).tolist(),
                np.round(s.i, 3).tolist(),
                np.round(s.pf, 2).tolist(),
                np.round(s.e, 1).tolist(),
                dim.tolist(),
                np.round(s.t, 1).tolist(),
                flags.astype(np.int64).tolist(),
                cv,
                strict=True,
            )
        )

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
