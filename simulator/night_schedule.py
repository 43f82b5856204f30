"""The dimming schedule of a fault-evaluation run: dusk to dawn, dimmed in the small hours, and some
feeders switched off for part of the night.

Dimming and part-night switching are what make a detector earn its keep: a lamp at 50 % draws about
half its rated power and a switched-off lamp only standby, and neither is a fault.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt

from simulator.schedule import WIT_OFFSET_S, AllNightFullOn, local_hour


def _hours(t: dt.time) -> float:
    return t.hour + t.minute / 60.0 + t.second / 3600.0


def in_window(hour: npt.NDArray[np.float64], start: dt.time, end: dt.time) -> npt.NDArray[np.bool_]:
    """Local hours within [start, end), the window wrapping midnight when end <= start."""
    a, b = _hours(start), _hours(end)
    if a < b:
        return (hour >= a) & (hour < b)
    return (hour >= a) | (hour < b)


class NightSchedule:
    """``DimSource``: 100 % from sunset, ``dim_level`` within [dim_from, dim_to), off by day; lamps in
    ``part_night`` are off within [off_from, off_to) as well."""

    def __init__(
        self,
        base: AllNightFullOn,
        *,
        dim_level: int,
        dim_from: dt.time,
        dim_to: dt.time,
        part_night: npt.NDArray[np.bool_],
        off_from: dt.time,
        off_to: dt.time,
        tz_offset_s: int = WIT_OFFSET_S,
    ) -> None:
        self.base = base
        self.dim_level = dim_level
        self.dim_window = (dim_from, dim_to)
        self.part_night = part_night
        self.off_window = (off_from, off_to)
        self.tz_offset_s = tz_offset_s

    def levels(self, lamps: npt.NDArray[np.intp], ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        on = self.base.levels(lamps, ts)
        hour = local_hour(ts, self.tz_offset_s)
        level = np.where(in_window(hour, *self.dim_window), np.minimum(on, self.dim_level), on)
        off = self.part_night[lamps] & in_window(hour, *self.off_window)
        return np.where(off, 0, level).astype(np.int64)
