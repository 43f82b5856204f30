# Electrical model of one pole for the simulation HAL: PLN mains, a constant-power LED driver
# and its lamp, and the faults a crew meets in the field. Only hal_sim imports this module, so it
# may use floats freely (the unix port computes in doubles).
#
# What the model must get right is what the controller's fault logic and the server's detectors
# look at: input power follows the dimmed light output through the driver's efficiency plus a
# standby draw, power factor falls at low load, a dead LED string leaves only the standby draw, a
# failed driver stops following the dimming input, a welded relay keeps the lamp fed, a cycling
# lamp drops out and recovers on its own, and mains voltage sags and wanders.

import math


class LampModel:
    def __init__(self, rated_w: float = 100.0, standby_w: float = 0.5, seed: int = 12345) -> None:
        self.rated_w = rated_w
        self.standby_w = standby_w
        self.mains_v = 220.0
        self.noise = 0.004  # relative, uniform
        self.lamp_failed = False
        self.driver_failed = False
        self.relay_stuck = ""  # "", "closed" or "open"
        self.cycling = False
        self.cycle_on_s = 40.0
        self.cycle_off_s = 20.0
        self.ambient_c = 28.0
        # Outputs of the last step.
        self.v = 0.0
        self.i = 0.0
        self.p = 0.0
        self.pf = 0.0
        self.light = 0.0  # fraction of rated light actually emitted
        self.temp_c = self.ambient_c
        self._rng = seed & 0x7FFFFFFF or 1
        self._cycle_t = 0.0

    def _uniform(self) -> float:
        # Park-Miller LCG: deterministic across runtimes, no dependency on `random`.
        self._rng = (self._rng * 48271) % 2147483647
        return self._rng / 2147483647.0

    def step(self, out_frac: float, relay_closed: bool, dt_s: float) -> None:
        """Advances the model by `dt_s` seconds with the dimming input at `out_frac` (0..1)."""
        v = self.mains_v * (1.0 + self.noise * (2.0 * self._uniform() - 1.0))
        if v < 0.0:
            v = 0.0
        if self.relay_stuck == "closed":
            relay_closed = True
        elif self.relay_stuck == "open":
            relay_closed = False
        load = out_frac
        if self.driver_failed:
            load = 1.0
        if load < 0.0:
            load = 0.0
        elif load > 1.0:
            load = 1.0
        if self.cycling and relay_closed and load > 0.0:
            self._cycle_t = (self._cycle_t + dt_s) % (self.cycle_on_s + self.cycle_off_s)
            if self._cycle_t >= self.cycle_on_s:
                load = 0.0
        p = 0.0
        pf = 0.0
        light = 0.0
        # The driver drops out below about 90 V and is fed only through the relay.
        if relay_closed and v >= 90.0:
            if self.lamp_failed or load <= 0.0:
                p = self.standby_w
                pf = 0.3
            else:
                eff = 0.92 - 0.25 * (1.0 - load) * (1.0 - load)
                p = self.rated_w * load / eff + self.standby_w
                pf = 0.97 - 0.5 * (1.0 - load) ** 3
                light = load
        i = p / (v * pf) if p > 0.0 and v > 0.0 else 0.0
        # Controller temperature: ambient plus heat from the luminaire, first-order lag (~10 min).
        target = self.ambient_c + 0.12 * p
        k = 1.0 - math.exp(-dt_s / 600.0) if dt_s > 0 else 0.0
        self.temp_c += (target - self.temp_c) * k
        self.v = v
        self.i = i
        self.p = p
        self.pf = pf
        self.light = light
