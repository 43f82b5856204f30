"""Simulated time: wall time scaled by ``speed``, never ahead of real time.

The server rejects readings stamped more than a day in the future, and a reading from the future
is a lie anyway; so an accelerated run starts in the past and catches up with real time exactly
when it ends. A run without an end keeps going at real speed once it has caught up.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def start_time(now: float, speed: float, duration_s: float | None, backfill_s: float = 0.0) -> float:
    """Where simulated time begins so that it reaches ``now + duration/speed`` at the end of the run.

    Without a duration the run starts ``backfill_s`` in the past and catches up at ``speed``.
    """
    if speed <= 0:
        raise ValueError("speed must be > 0")
    if duration_s is None:
        return now - backfill_s
    return now - duration_s * (1.0 - 1.0 / speed)


class SimClock:
    def __init__(
        self,
        start: float,
        speed: float,
        *,
        max_lead_s: float = 0.0,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.start = start
        self.speed = speed
        self.max_lead_s = max_lead_s
        self._wall = wall
        self._monotonic = monotonic
        self._t0 = monotonic()

    def now(self) -> float:
        scaled = self.start + self.speed * (self._monotonic() - self._t0)
        return min(scaled, self._wall() + self.max_lead_s)

    def caught_up(self) -> bool:
        """True once simulated time is held back by real time."""
        return self.start + self.speed * (self._monotonic() - self._t0) >= self._wall() + self.max_lead_s

    def wall_seconds_until(self, sim_ts: float) -> float:
        """How long to sleep (real seconds) before simulated time reaches ``sim_ts``; 0 if it has."""
        scaled_wait = (sim_ts - self.start) / self.speed - (self._monotonic() - self._t0)
        real_wait = sim_ts - self.max_lead_s - self._wall()
        return max(0.0, scaled_wait, real_wait)
