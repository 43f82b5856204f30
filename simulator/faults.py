"""Fault injection into the vectorised fleet: what each physical fault does to a controller's readings.

Every effect is a per-lamp window [from, to) with a parameter, set when its incident starts, and
applied with numpy masks to whichever lamps report in a tick. What the wire shows:

- lamp_failure: commanded on (dim > 0) yet only standby power (0.5-1 W): the LED string is dead.
- day_burner: the schedule says off, so the controller reports dim 0, but power is as at full (a welded
  relay or a photocell stuck dark).
- cycling: at a steady dim level, power alternates between on and standby from one reading to the next.
- power_anomaly: power off by a factor (half a string dark, or a driver overdriving) while lit.
- over_voltage / under_voltage: the supply of a feeder (or of one pole, a loose neutral) held near a
  target; constant-power drivers keep power, current follows; the controller raises its voltage flags.
- low_power_factor: a driver whose power-factor correction failed: pf capped well below 0.8.
- energy_anomaly: the counter resets to near 0 and counts on, jumps by kWh in a moment, or stops
  counting while power flows.
- device_fault: the controller flags F_DRIVER_FAILURE (the driver ignores dimming: full power at any
  level) or F_RELAY_FAILURE (contacts stuck open: nothing flows at all).
- cabinet_outage: the feeder loses supply; its controllers are unpowered and report nothing, and their
  energy counters stand still.
Radio faults (comm_loss, gateway_down) change when readings arrive, not what they say: see
simulator/delivery.py. The noise "voltage_dip" (a town feeder sagging a few per cent) is applied here.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from firmware.device import codec
from simulator.electrical import Sample
from simulator.fleet import Block, Fleet
from simulator.incidents import Incident, NoiseEvent, Plan

Lamps = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]

FULL = 100
DEVICE_FLAGS = {"driver": codec.F_DRIVER_FAILURE, "relay": codec.F_RELAY_FAILURE}
# A dead LED string leaves the driver's own draw; the model's standby is 0.4-0.9 W, the brief 0.5-1 W.
FAILED_EXTRA_W = 0.1


class Windows:
    """Per lamp one span [frm, to) of an effect and its parameter; ``to`` is +inf while open-ended."""

    def __init__(self, n: int) -> None:
        self.frm = np.full(n, np.inf)
        self.to = np.full(n, -np.inf)
        self.value = np.zeros(n)

    def set(self, lamps: Lamps, start: float, end: float | None, value: float = 0.0) -> None:
        self.frm[lamps] = start
        self.to[lamps] = np.inf if end is None else end
        self.value[lamps] = value

    def active(self, lamps: Lamps, ts: Floats) -> Mask:
        return (ts >= self.frm[lamps]) & (ts < self.to[lamps])


class FaultInjector:
    """Applies a plan's electrical incidents to a fleet. Call ``advance`` once per tick, then
    ``powered`` to drop unpowered lamps, ``before``, ``fleet.sample(..., adjust=injector.adjust)`` and
    ``after`` on what the lamps report."""

    def __init__(self, fleet: Fleet, plan: Plan, seed: int) -> None:
        self.fleet = fleet
        self.model = fleet.model
        n = len(fleet)
        self.rng = np.random.default_rng([seed, 0xFA01])
        names = ("failed", "burning", "cycling", "power", "volt", "pf", "stuck", "driver", "relay", "unpowered",
                 "dip", "flags")
        self.w: dict[str, Windows] = {name: Windows(n) for name in names}
        self.cycle_off = np.zeros(n, dtype=bool)
        self.frozen_e = np.full(n, np.nan)
        # Instant energy events, consumed by the lamp's first reading at or after them.
        self.reset_at = np.full(n, np.inf)
        self.reset_to = np.zeros(n)
        self.jump_at = np.full(n, np.inf)
        self.jump_wh = np.zeros(n)
        cab_base = self.model.cab_base[self.model.cabinet]
        self.cab_base: Floats = np.asarray(cab_base, dtype=np.float64)
        events: list[Incident | NoiseEvent] = [*plan.incidents, *(e for e in plan.noise if e.kind == "voltage_dip")]
        self._queue = sorted(events, key=lambda e: e.start)
        self._next = 0

    def advance(self, now: float) -> None:
        """Switches on the effects of incidents that have started by ``now``."""
        while self._next < len(self._queue) and self._queue[self._next].start <= now:
            self._start(self._queue[self._next])
            self._next += 1

    def _start(self, e: Incident | NoiseEvent) -> None:
        lamps, start, end, p = e.lamps, e.start, e.end, e.params
        kind: str = e.type if isinstance(e, Incident) else e.kind
        w = self.w
        if kind == "lamp_failure":
            w["failed"].set(lamps, start, end)
        elif kind == "day_burner":
            w["burning"].set(lamps, start, end)
        elif kind == "cycling":
            w["cycling"].set(lamps, start, end)
            self.cycle_off[lamps] = False
        elif kind == "power_anomaly":
            w["power"].set(lamps, start, end, float(p["factor"]))
        elif kind in ("over_voltage", "under_voltage"):
            w["volt"].set(lamps, start, end, float(p["v"]))
        elif kind == "low_power_factor":
            w["pf"].set(lamps, start, end, float(p["pf"]))
        elif kind == "energy_anomaly":
            self._energy(lamps, start, end, p)
        elif kind == "device_fault":
            variant = str(p["variant"])
            w[variant].set(lamps, start, end)
            w["flags"].set(lamps, start, end, float(DEVICE_FLAGS[variant]))
        elif kind == "cabinet_outage":
            w["unpowered"].set(lamps, start, end)
        elif kind == "voltage_dip":
            w["dip"].set(lamps, start, end, float(p["depth"]))
        # comm_loss, gateway_down and the other noise are delivery matters (simulator/delivery.py).

    def _energy(self, lamps: Lamps, start: float, end: float | None, p: dict[str, Any]) -> None:
        what = p["kind"]
        if what == "reset":
            self.reset_at[lamps] = start
            self.reset_to[lamps] = float(p.get("to_wh", 0.0))
        elif what == "jump":
            self.jump_at[lamps] = start
            self.jump_wh[lamps] = float(p["jump_wh"])
        else:
            self.w["stuck"].set(lamps, start, end)

    def powered(self, lamps: Lamps, ts: Floats) -> Mask:
        """Lamps whose controller has supply at ``ts`` (an unpowered one reports nothing)."""
        return ~self.w["unpowered"].active(lamps, ts)

    def restored_at(self, lamps: Lamps) -> Floats:
        """When each lamp's supply comes back from its outage (+inf: not within the run)."""
        return self.w["unpowered"].to[lamps]

    def before(self, lamps: Lamps, ts: Floats) -> None:
        """Counter events due before these readings are measured."""
        model = self.model
        # Back from an outage: nothing was counted while the supply was off.
        back = self.w["unpowered"].to[lamps]
        resumed = np.isfinite(back) & (model.last_ts[lamps] < back) & (back <= ts)
        if resumed.any():
            model.last_ts[lamps[resumed]] = back[resumed]
            model.last_p[lamps[resumed]] = np.nan
        reset = ts >= self.reset_at[lamps]
        if reset.any():
            model.energy[lamps[reset]] = self.reset_to[lamps[reset]]
            self.reset_at[lamps[reset]] = np.inf
        jump = ts >= self.jump_at[lamps]
        if jump.any():
            model.energy[lamps[jump]] += self.jump_wh[lamps[jump]]
            self.jump_at[lamps[jump]] = np.inf
        stuck = self.w["stuck"].active(lamps, ts)
        frozen = self.frozen_e[lamps]
        entering = stuck & np.isnan(frozen)
        self.frozen_e[lamps[entering]] = model.energy[lamps[entering]]
        self.frozen_e[lamps[~stuck & ~np.isnan(frozen)]] = np.nan

    def adjust(self, lamps: Lamps, ts: Floats, dim: npt.NDArray[np.int64], s: Sample) -> None:
        """``ElectricalModel.step``'s hook: what flows at these lamps while their incidents last."""
        model, w = self.model, self.w
        n = lamps.size
        lit = dim > 0
        jitter = 1.0 + self.rng.normal(0.0, 0.003, n)
        full = np.full(n, FULL, dtype=np.int64)
        standby = model.standby_w[lamps] + FAILED_EXTRA_W
        pf_standby = model.pf_standby[lamps]

        m = w["power"].active(lamps, ts) & lit
        if m.any():
            sb = model.standby_w[lamps[m]]
            s.p[m] = sb + (s.p[m] - sb) * w["power"].value[lamps[m]]
        # Lit as at full: a day burner while the schedule says off, a driver ignoring its dimming input.
        m = (w["burning"].active(lamps, ts) & ~lit) | (w["driver"].active(lamps, ts) & lit)
        if m.any():
            s.p[m] = model.power(lamps[m], full[m]) * jitter[m]
            s.pf[m] = model.power_factor(lamps[m], full[m])
        m = w["cycling"].active(lamps, ts) & lit
        if m.any():
            # Drops out and recovers between two reports, whatever the report interval.
            self.cycle_off[lamps[m]] = ~self.cycle_off[lamps[m]]
            off = m & self.cycle_off[lamps]
            s.p[off] = standby[off] * jitter[off]
            s.pf[off] = pf_standby[off]
        m = w["failed"].active(lamps, ts) & lit
        if m.any():
            s.p[m] = standby[m] * jitter[m]
            s.pf[m] = pf_standby[m]
        m = w["pf"].active(lamps, ts)
        if m.any():
            s.pf[m] = np.minimum(s.pf[m], w["pf"].value[lamps[m]] + self.rng.normal(0.0, 0.01, int(m.sum())))
        m = w["relay"].active(lamps, ts)
        if m.any():
            s.p[m] = 0.0
            s.pf[m] = 0.0
        # Supply: the feeder (or pole) is held near the target; drop along the feeder and wander remain.
        m = w["volt"].active(lamps, ts)
        if m.any():
            s.v[m] += w["volt"].value[lamps[m]] - self.cab_base[lamps[m]]
        m = w["dip"].active(lamps, ts)
        if m.any():
            s.v[m] *= 1.0 - w["dip"].value[lamps[m]]

    def after(self, block: Block) -> None:
        """Counter and flag effects on what the controllers report."""
        lamps, ts = block.lamps, block.ts.astype(np.float64)
        stuck = ~np.isnan(self.frozen_e[lamps])
        if stuck.any():
            block.e[stuck] = self.frozen_e[lamps[stuck]]
            self.model.energy[lamps[stuck]] = self.frozen_e[lamps[stuck]]
        flagged = self.w["flags"].active(lamps, ts)
        if flagged.any():
            block.f[flagged] |= self.w["flags"].value[lamps[flagged]].astype(np.int64)

    def sample(self, lamps: Lamps, ts: npt.NDArray[np.int64]) -> Block:
        """The readings of ``lamps`` (all powered) at ``ts``, with every active incident applied."""
        tsf = ts.astype(np.float64)
        self.before(lamps, tsf)
        block = self.fleet.sample(lamps, ts, self.adjust)
        self.after(block)
        return block
