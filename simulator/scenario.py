"""Fault-evaluation scenario files (TOML, ``tests/scenarios/``), validated field by field.

A scenario names a fleet (size, seed, report interval per bearer), a span of simulated time, the
dimming schedule, the incidents to inject (a count per fault type for the random generator, and/or
explicit ones), the noise that must not alert, how alerts are scored and the bar to meet.
docs/simulator.md ("Fault injection and evaluation") shows every key.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulator.fault_kinds import FaultType, Radio, Starts, SubjectChoice

_ID_PATTERN = r"^[A-Za-z0-9_-]{1,12}$"


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _default_intervals() -> dict[Radio, int]:
    # LoRa controllers report hourly (1 % duty cycle); Wi-Fi and 4G every five minutes.
    return {"wifi": 300, "cellular": 300, "lora": 3600}


class FleetSpec(_Strict):
    lamps: int = Field(ge=1, le=50_000)
    # Short: generated ids carry it (docs/simulator.md, "Ids").
    site: str = Field(default="eval", pattern=_ID_PATTERN)
    intervals_s: dict[Radio, int] = Field(default_factory=_default_intervals)

    @field_validator("intervals_s")
    @classmethod
    def _every_bearer(cls, value: dict[Radio, int]) -> dict[Radio, int]:
        merged = {**_default_intervals(), **value}
        for radio, seconds in merged.items():
            if not 10 <= seconds <= 86_400:
                raise ValueError(f"{radio}: a report interval is 10..86400 s")
        return merged


class TimeSpec(_Strict):
    start: dt.datetime = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    duration_h: float = Field(gt=0, le=24 * 14)
    tick_s: int = Field(default=60, ge=10, le=600)
    # No generated incident starts before this: the engine first learns what normal looks like.
    warmup_h: float = Field(default=6.0, ge=0)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("give a UTC offset, e.g. 2025-07-01T12:00:00+09:00")
        return value

    @model_validator(mode="after")
    def _warmup_inside(self) -> TimeSpec:
        if self.warmup_h >= self.duration_h:
            raise ValueError("warmup_h must be shorter than duration_h")
        return self


class ScheduleSpec(_Strict):
    """Dusk to dawn at 100 %, dimmed in the small hours; some feeders switched off part of the night."""

    dim_level: int = Field(default=50, ge=0, le=100)
    dim_from: dt.time = dt.time(23, 0)
    dim_to: dt.time = dt.time(4, 0)
    part_night_cabinets: int = Field(default=0, ge=0)
    part_night_from: dt.time = dt.time(0, 30)
    part_night_to: dt.time = dt.time(4, 30)


class GenerateSpec(_Strict):
    """Random incidents of one type; unset fields take the type's defaults (simulator/fault_kinds.py)."""

    count: int = Field(ge=0, le=10_000)
    duration_h: tuple[float, float] | None = None
    starts: Starts | None = None
    subject: SubjectChoice | None = None
    radios: list[Radio] | None = Field(default=None, min_length=1)

    @field_validator("duration_h")
    @classmethod
    def _ordered(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 < value[0] <= value[1]:
            raise ValueError("give [shortest, longest] hours, both > 0")
        return value


class IncidentSpec(_Strict):
    """One explicit incident; its subject is a lamp, cabinet or gateway id of the generated topology."""

    type: FaultType
    subject: str = Field(min_length=1, max_length=32)
    start_h: float = Field(ge=0)
    # None: open-ended (not repaired within the run).
    duration_h: float | None = Field(default=None, ge=0)
    params: dict[str, float | str] = Field(default_factory=dict)


class NoiseSpec(_Strict):
    """Events that must not alert (counts of episodes)."""

    late_lora: int = Field(default=0, ge=0)  # a LoRa lamp's reports arrive up to an interval late for hours
    wifi_gaps: int = Field(default=0, ge=0)  # a Wi-Fi/4G lamp misses one report (its journal re-sends it)
    voltage_dips: int = Field(default=0, ge=0)  # a town feeder sags a few per cent for an hour or two


class ScoringSpec(_Strict):
    # An alert still counts for an incident this long after the incident ended.
    grace_h: float = Field(default=2.0, ge=0)


class BarSpec(_Strict):
    precision: float = Field(default=0.95, ge=0, le=1)
    recall: float = Field(default=0.95, ge=0, le=1)
    # Crew-visible alerts each incident of the type must yield, exactly (a cabinet outage: 1).
    alerts_per_incident: dict[FaultType, int] = Field(default_factory=dict)


class Scenario(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str = ""
    seed: int = Field(default=1, ge=0)
    fleet: FleetSpec
    time: TimeSpec
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    generate: dict[FaultType, GenerateSpec] = Field(default_factory=dict)
    incidents: list[IncidentSpec] = Field(default_factory=list)
    noise: NoiseSpec = Field(default_factory=NoiseSpec)
    scoring: ScoringSpec = Field(default_factory=ScoringSpec)
    bar: BarSpec = Field(default_factory=BarSpec)

    @field_validator("generate", mode="before")
    @classmethod
    def _count_shorthand(cls, value: Any) -> Any:
        # `lamp_failure = 24` is short for `[generate.lamp_failure] count = 24`.
        if isinstance(value, dict):
            return {k: {"count": v} if isinstance(v, int) and not isinstance(v, bool) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _intervals_fit_the_tick(self) -> Scenario:
        short = min(self.fleet.intervals_s.values())
        if short < self.time.tick_s:
            raise ValueError(f"fleet.intervals_s: {short} s is shorter than time.tick_s ({self.time.tick_s} s); "
                             "a lamp reports at most once per tick")
        return self

    @property
    def start_ts(self) -> float:
        return self.time.start.timestamp()

    @property
    def end_ts(self) -> float:
        return self.start_ts + self.time.duration_h * 3600.0


def parse(data: dict[str, Any], source: str = "scenario") -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ScenarioError(f"{source}: {where}: {first['msg']}{more}") from exc


def load(path: Path) -> Scenario:
    """The scenario in ``path``; ScenarioError names the bad field."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"{path}: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from exc
    return parse(data, str(path))
