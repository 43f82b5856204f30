"""Fault thresholds per lamp type, bearer reporting expectations and alert timings.

Loaded from the TOML file named by ``faults_config_file`` (docs/faults.md shows every key); the
defaults below are what a fresh installation runs with. A bad file is refused with the field named.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LampTypeThresholds(_Strict):
    """Electrical expectations of one lamp type (``lamps.lamp_type``)."""

    # Expected input power at dim level d (0..1): standby_w + rated_w * (d + loss) / (1 + loss);
    # the driver's fixed losses do not shrink with dimming.
    driver_loss: float = Field(default=0.07, ge=0, le=1)
    standby_w: float = Field(default=0.7, ge=0, le=50)
    # Lamp failure: commanded to at least min_on_level but drawing under this share of the expected
    # power (and under fail_abs_w at the very least).
    min_on_level: int = Field(default=10, ge=1, le=100)
    fail_fraction: float = Field(default=0.2, gt=0, lt=1)
    fail_abs_w: float = Field(default=3.0, ge=0)
    # Day burner: commanded off yet drawing more than this share of rated power.
    burn_fraction: float = Field(default=0.25, gt=0, le=1)
    # Power anomaly: |measured - expected| / expected beyond this, judged from power_min_level up.
    power_tolerance: float = Field(default=0.3, gt=0, le=5)
    power_min_level: int = Field(default=20, ge=1, le=100)
    # Supply voltage limits (PLN 220 V; IEC 60038 allows 230 V +/- 10 %).
    over_voltage_v: float = Field(default=253.0, gt=0)
    under_voltage_v: float = Field(default=190.0, gt=0)
    # Power factor below this at pf_min_level or above (a dimmed driver's pf is low by nature).
    pf_min: float = Field(default=0.8, gt=0, le=1)
    pf_min_level: int = Field(default=60, ge=1, le=100)
    # Cycling: this many on/off changes within cycling_window_s while the level stays the same.
    cycling_transitions: int = Field(default=4, ge=2, le=8)
    cycling_window_s: int = Field(default=7200, ge=60)

    @model_validator(mode="after")
    def _voltages_ordered(self) -> LampTypeThresholds:
        if self.under_voltage_v >= self.over_voltage_v:
            raise ValueError("under_voltage_v must be below over_voltage_v")
        return self


class Bearer(_Strict):
    """Silence beyond factor * the lamp's report interval + grace_s is a communication loss."""

    factor: float = Field(default=3.0, ge=1)
    grace_s: int = Field(default=120, ge=0)
    # How late, in intervals, a reading may normally arrive: a lamp is not counted silent towards a
    # cabinet outage before interval * (1 + late_intervals) + the correlation grace.
    late_intervals: float = Field(default=0.0, ge=0)


def _bearers() -> dict[str, Bearer]:
    # LoRa readings wait in gateway queues and go out under a 1 % duty cycle: they arrive late by
    # up to an interval, so silence is judged more patiently than on Wi-Fi or 4G.
    return {"wifi": Bearer(), "cellular": Bearer(), "lora": Bearer(factor=2.5, grace_s=600, late_intervals=1.0)}


class Correlation(_Strict):
    # A cabinet is out when, of its lamps heard from since the first went dark, this share is dark or
    # silent, and they are at least outage_min_share of all its lamps ...
    outage_fraction: float = Field(default=0.8, gt=0, le=1)
    outage_min_share: float = Field(default=0.5, gt=0, le=1)
    # ... and clear again when no more than this share of its lamps is dark (hysteresis).
    outage_clear_fraction: float = Field(default=0.3, ge=0, lt=1)
    outage_min_lamps: int = Field(default=3, ge=1)
    # A lamp counts as silent for the cabinet verdict after its interval (and its bearer's normal
    # lateness) + this: sooner than its communication loss.
    outage_silence_grace_s: int = Field(default=120, ge=0)
    # While this share of a cabinet is dark, its lamps' own alerts wait (up to hold_s) for the verdict.
    hold_fraction: float = Field(default=0.3, gt=0, le=1)
    hold_s: int = Field(default=900, ge=0)
    # A gateway whose state topic is silent this long is down (gateways report every 60 s).
    gateway_silence_s: int = Field(default=600, ge=60)
    # Supply-voltage faults seen by this share of a cabinet's reporting lamps are one cabinet alert,
    # until fewer than voltage_clear_fraction see it.
    voltage_fraction: float = Field(default=0.5, gt=0, le=1)
    voltage_clear_fraction: float = Field(default=0.25, ge=0, lt=1)


class Lifecycle(_Strict):
    # Readings in a row a condition must hold before it opens an alert, and be absent before it clears.
    confirm_readings: int = Field(default=2, ge=1, le=20)
    clear_readings: int = Field(default=3, ge=1, le=20)
    # After its condition cleared, an alert is auto-resolved once it stays clear this long.
    clear_hold_s: int = Field(default=600, ge=0)
    # A condition back within this long after auto-resolve re-opens the same alert (a flap).
    flap_window_s: int = Field(default=6 * 3600, ge=0)
    # From this many flaps on the alert is flapping: it is resolved only after 4x clear_hold_s.
    flap_limit: int = Field(default=3, ge=1)
    # Open and not acknowledged this long (per severity): escalate, and again each time it passes.
    escalate_after_s: dict[str, int] = Field(
        default_factory=lambda: {"critical": 1800, "major": 4 * 3600, "minor": 24 * 3600})
    escalation_max: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _every_severity(self) -> Lifecycle:
        missing = {"critical", "major", "minor"} - set(self.escalate_after_s)
        if missing:
            raise ValueError(f"escalate_after_s: give a time for {', '.join(sorted(missing))}")
        if any(v <= 0 for v in self.escalate_after_s.values()):
            raise ValueError("escalate_after_s: times must be positive")
        return self


class FaultConfig(_Strict):
    lamp_types: dict[str, LampTypeThresholds] = Field(default_factory=lambda: {"led": LampTypeThresholds()})
    # Thresholds for a lamp type the file does not name.
    default_type: LampTypeThresholds = Field(default_factory=LampTypeThresholds)
    bearers: dict[str, Bearer] = Field(default_factory=_bearers)
    correlation: Correlation = Field(default_factory=Correlation)
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)

    def thresholds(self, lamp_type: str) -> LampTypeThresholds:
        return self.lamp_types.get(lamp_type, self.default_type)

    def bearer(self, radio: str) -> Bearer:
        return self.bearers.get(radio, Bearer())


class FaultConfigError(ValueError):
    pass


def load(path: Path | None) -> FaultConfig:
    """The configuration in ``path`` (TOML), or the defaults; FaultConfigError names the bad field."""
    if path is None:
        return FaultConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FaultConfigError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise FaultConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return FaultConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise FaultConfigError(f"{path}: {where}: {first['msg']}") from exc
