"""Simulated lamps that obey the config the server publishes for them (docs/protocol.md section 9).

Each lamp keeps the newest config it received on its retained ``config`` topic (a version at or
below the one it runs is ignored, as on the device) and runs it through the server's reference
evaluator; its readings report that config's ``cv``. Until a lamp has a config it runs ``fallback``
(v0's full on from sunset to sunrise), like a fresh controller.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from firmware.device import codec
from server.schedules.evaluate import level_at
from server.schedules.sun import night_sun
from simulator.schedule import DimSource


def _sun(lat: float, lon: float, tz: int, day: dt.date) -> tuple[int, int]:
    return night_sun(lat, lon, day, tz)


class ConfigFollower:
    def __init__(self, n: int, fallback: DimSource) -> None:
        self.fallback = fallback
        self.configs: list[dict[str, Any] | None] = [None] * n
        self._sun: list[Any] = [None] * n
        self.applied = 0
        self.refused = 0

    def apply(self, lamp: int, payload: bytes) -> bool:
        """Takes a config message for ``lamp``; False when it is refused or not newer."""
        if not payload:
            return False  # a cleared retained message
        try:
            cfg: dict[str, Any] = codec.decode_config(payload)
        except codec.CodecError:
            self.refused += 1
            return False
        current = self.configs[lamp]
        if current is not None and cfg["cv"] <= current["cv"]:
            return False
        lat, lon = cfg["loc"]
        self.configs[lamp] = cfg
        self._sun[lamp] = partial(_sun, lat, lon, int(cfg["tz"]))
        self.applied += 1
        return True

    def versions(self, lamps: npt.NDArray[np.intp]) -> list[int | None]:
        return [None if (c := self.configs[k]) is None else int(c["cv"]) for k in lamps.tolist()]

    def levels(self, lamps: npt.NDArray[np.intp], ts: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        out = self.fallback.levels(lamps, ts)
        for j, (lamp, t) in enumerate(zip(lamps.tolist(), ts.tolist(), strict=True)):
            cfg = self.configs[lamp]
            if cfg is not None:
                out[j] = level_at(cfg, t, self._sun[lamp])
        return out
