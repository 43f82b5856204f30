"""What a simulator run leaves for the next one: the lamps' flash, in one JSON file.

A real controller keeps its sequence counter, energy counter and unacknowledged journal across
power cycles. Keeping them here means a second ``terang demo`` continues each lamp's sequence
without a gap (the server's watermark would wait for a gap forever) and its energy counter without
going backwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

FORMAT = 1


@dataclass
class LampState:
    next_seq: int
    energy_wh: float
    last_ts: float
    unacked: list[list[Any]] = field(default_factory=list)  # readings as lists, seq first


@dataclass
class SimState:
    site_id: str
    sim_ts: float | None = None  # simulated time the run reached
    lamps: dict[str, LampState] = field(default_factory=dict)


def load(path: Path, site_id: str) -> SimState | None:
    """The saved state for ``site_id``, or None when there is none (or it is for another site)."""
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except orjson.JSONDecodeError:
        return None  # a torn file from a crash long ago: start afresh rather than refuse to run
    if raw.get("format") != FORMAT or raw.get("site_id") != site_id:
        return None
    lamps = {
        lamp_id: LampState(int(v["next_seq"]), float(v["energy_wh"]), float(v["last_ts"]), list(v.get("unacked", [])))
        for lamp_id, v in raw.get("lamps", {}).items()
    }
    return SimState(site_id=site_id, sim_ts=raw.get("sim_ts"), lamps=lamps)


def save(path: Path, state: SimState) -> None:
    """Written to a temporary file and renamed, so a crash leaves the old state or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "format": FORMAT,
        "site_id": state.site_id,
        "sim_ts": state.sim_ts,
        "lamps": {
            lamp_id: {"next_seq": s.next_seq, "energy_wh": s.energy_wh, "last_ts": s.last_ts, "unacked": s.unacked}
            for lamp_id, s in state.lamps.items()
        },
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(orjson.dumps(body))
    os.replace(tmp, path)
