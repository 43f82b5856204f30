"""Energy of a night plan from rated watts. Pure.

The estimate is the plan's level as a share of rated power, integrated over the night; the
baseline is rated power from sunset to sunrise. Driver losses and standby power are not in it, so
measured energy runs a few percent above the estimate at low levels; the report shows by how much.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence


def level_hours(points: Sequence[tuple[int, float]]) -> float:
    """The integral of level/100 over the piecewise-linear plan, in hours at full power."""
    total = 0.0
    for (t0, l0), (t1, l1) in itertools.pairwise(points):
        total += (t1 - t0) * (l0 + l1) / 2
    return total / 100 / 3600


def plan_wh(points: Sequence[tuple[int, float]], rated_w: float) -> float:
    return rated_w * level_hours(points)


def full_power_wh(sunset: int, sunrise: int, rated_w: float) -> float:
    return rated_w * max(sunrise - sunset, 0) / 3600


def saving_pct(estimate_wh: float, full_wh: float) -> float:
    return 0.0 if full_wh <= 0 else round(100 * (1 - estimate_wh / full_wh), 1)
