"""What the engine remembers about each lamp between ticks: its previous reading, its recent on/off
changes, and per detector how many readings in a row confirmed or cleared the condition."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from server.faults.detectors import READING_TYPES, ROW
from server.faults.fleet import Bools, Fleet, Floats, Ints

# On/off changes remembered per lamp: enough for any cycling threshold (config allows up to 8).
RING = 8

# Conditions that are events rather than states: one reading proves them (a counter that went
# backwards does not go backwards twice), and the firmware debounces its own flags.
CONFIRM_AT_ONCE = frozenset({"energy_anomaly", "device_fault"})


class LampState:
    def __init__(self, n: int) -> None:
        t = len(READING_TYPES)
        self.keys: Ints = np.zeros(n, dtype=np.int64)
        self.seq: Ints = np.full(n, -1, dtype=np.int64)
        self.ts: Floats = np.full(n, np.nan)
        self.p: Floats = np.full(n, np.nan)
        self.e: Floats = np.full(n, np.nan)
        self.dim: Floats = np.full(n, np.nan)
        self.flat_wh: Floats = np.zeros(n)
        self.changes: Floats = np.full((n, RING), -np.inf)
        self.change_pos: Ints = np.zeros(n, dtype=np.int64)
        self.hits: npt.NDArray[np.int16] = np.zeros((t, n), dtype=np.int16)
        self.misses: npt.NDArray[np.int16] = np.zeros((t, n), dtype=np.int16)
        self.active: Bools = np.zeros((t, n), dtype=bool)
        # Reading time of the first reading of the current run of hits: the first evidence.
        self.since: Floats = np.full((t, n), np.nan)

    @classmethod
    def for_fleet(cls, fleet: Fleet, old: LampState | None = None) -> LampState:
        """A state for ``fleet``, carrying over what ``old`` knew of lamps still in it."""
        new = cls(len(fleet))
        new.keys = fleet.keys.copy()
        if old is None or len(old.keys) == 0 or len(fleet) == 0:
            return new
        pos = np.clip(np.searchsorted(old.keys, fleet.keys), 0, len(old.keys) - 1)
        kept = old.keys[pos] == fleet.keys
        src, dst = pos[kept], np.nonzero(kept)[0]
        for name in ("seq", "ts", "p", "e", "dim", "flat_wh", "change_pos"):
            getattr(new, name)[dst] = getattr(old, name)[src]
        new.changes[dst] = old.changes[src]
        for name in ("hits", "misses", "active", "since"):
            getattr(new, name)[:, dst] = getattr(old, name)[:, src]
        return new

    def record_changes(self, rows: Ints, ts: Floats, changed: Bools, window_s: Floats) -> Ints:
        """Adds an on/off change at ``ts`` for ``rows`` where ``changed``; returns changes within the window."""
        at = rows[changed]
        slot = self.change_pos[at] % RING
        self.changes[at, slot] = ts[changed]
        self.change_pos[at] += 1
        recent = self.changes[rows] > (ts - window_s)[:, None]
        counts: Ints = recent.sum(axis=1).astype(np.int64)
        return counts

    def debounce(self, rows: Ints, ts: Floats, cond: Bools, known: Bools, confirm: int, clear: int) -> None:
        """Counts confirming and clearing readings; a condition turns active after ``confirm`` hits in a
        row and inactive after ``clear`` misses in a row. Readings that can not judge change nothing."""
        hit = cond & known
        miss = ~cond & known
        hits = self.hits[:, rows]
        misses = self.misses[:, rows]
        since = self.since[:, rows]
        starting = hit & (hits == 0)
        since = np.where(starting, ts[None, :], since)
        hits = np.where(hit, np.minimum(hits + 1, 10_000), np.where(miss, 0, hits))
        misses = np.where(miss, np.minimum(misses + 1, 10_000), np.where(hit, 0, misses))
        need = np.full((len(READING_TYPES), 1), confirm, dtype=np.int16)
        for name in CONFIRM_AT_ONCE:
            need[ROW[name]] = 1
        active = self.active[:, rows]
        active = np.where(hits >= need, True, np.where(misses >= clear, False, active))
        since = np.where(active | (hits > 0), since, np.nan)
        self.hits[:, rows] = hits
        self.misses[:, rows] = misses
        self.active[:, rows] = active
        self.since[:, rows] = since
