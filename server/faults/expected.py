"""Whether the server's schedule has a lamp off at a reading's time: the day-burner detector's
reference. Evaluated once per distinct config and 5-minute slot, not once per lamp."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from server.faults.fleet import Bools, Floats, Ints
from server.schedules.evaluate import level_at
from server.schedules.site_model import tz_minutes
from server.schedules.sun import night_of, night_sun

SLOT_S = 300
# Lamps compute their own sun times (within 2 min of ours) and fade: only a lamp off well inside
# the schedule's off period is expected off.
MARGIN_S = 1200


@lru_cache(maxsize=4096)
def _sun(lat: float, lon: float, day: dt.date, tz: int) -> tuple[int, int]:
    return night_sun(round(lat, 2), round(lon, 2), day, tz)


@lru_cache(maxsize=64)
def _tz(zone: str, day: dt.date) -> int:
    return tz_minutes(zone, dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC))


def _default_off(lat: float, lon: float, zone: str, t: float) -> bool:
    """A lamp without a compiled config runs the default calendar: full on from sunset to sunrise."""
    tz = _tz(zone, dt.datetime.fromtimestamp(t, dt.UTC).date())
    sunset, sunrise = _sun(lat, lon, night_of(t, tz), tz)
    return bool(t < sunset - MARGIN_S or t > sunrise + MARGIN_S)


def _config_off(cfg: Mapping[str, Any], lat: float, lon: float, t: float) -> bool:
    tz = int(cfg.get("tz", 540))

    def sun(day: dt.date) -> tuple[int, int]:
        return _sun(lat, lon, day, tz)

    return all(level_at(cfg, t + d, sun) == 0 for d in (-MARGIN_S, 0, MARGIN_S))


def schedule_off(
    ts: Floats,
    config_index: Ints,
    configs: Sequence[Mapping[str, Any]],
    lat: Floats,
    lon: Floats,
    zone: list[str],
) -> Bools:
    """Per reading: the schedule (config ``configs[config_index]``, or the default when -1) has the
    lamp off at ``ts``. ``lat``/``lon``/``zone`` place each lamp's sun."""
    out = np.zeros(ts.size, dtype=bool)
    if ts.size == 0:
        return out
    slot = (np.nan_to_num(ts) // SLOT_S).astype(np.int64)
    # Lamps of one config and slot share a verdict; the sun is taken at the group's first lamp
    # (a site's lamps are minutes apart at most, well inside the margin).
    groups: dict[tuple[int, int, str], list[int]] = {}
    for i, key in enumerate(zip(config_index.tolist(), slot.tolist(), zone, strict=True)):
        groups.setdefault(key, []).append(i)
    for (cfg_i, s, _zone), members in groups.items():
        first = members[0]
        t = float(s * SLOT_S + SLOT_S // 2)
        if cfg_i < 0:
            off = _default_off(float(lat[first]), float(lon[first]), zone[first], t)
        else:
            off = _config_off(configs[cfg_i], float(lat[first]), float(lon[first]), t)
        out[members] = off
    return out
