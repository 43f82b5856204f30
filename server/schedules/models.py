"""Schedule and control models at the API boundary, named by role (``*Create``, ``*Update``, ``*Public``)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.registry.models import Id, Name
from server.schedules.evaluate import ANCHOR_CLOCK, ANCHOR_SUNRISE, ANCHOR_SUNSET
from server.schedules.holidays import SETS
from server.schedules.steps import label

Level = Annotated[int, Field(ge=0, le=100, description="0 (off) to 100 (full)")]
# Printable text: PostgreSQL text cannot hold NUL, and a reason is read by people.
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True,
                                          pattern=r"^[^\x00-\x1f\x7f]+$")]
# Row ids (bigint identity).
DbId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# The dates the lamps' calendars can name (docs/protocol.md section 9).
FIRST_DATE = dt.date(2020, 1, 2)
LAST_DATE = dt.date(2099, 12, 30)
TargetType = Literal["site", "district", "cabinet", "group", "lamp"]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HolidaySet = Literal["id-national"]
assert set(SETS) == {"id-national"}  # keep the Literal in step with the data files
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
ANCHORS = {"clock": ANCHOR_CLOCK, "sunset": ANCHOR_SUNSET, "sunrise": ANCHOR_SUNRISE}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Step(_In):
    """One step of a night: at a clock time, or at sunset/sunrise plus or minus minutes."""

    at: Literal["clock", "sunset", "sunrise"]
    time: str | None = Field(default=None, description="HH:MM local time, for at=clock; before noon is the morning")
    offset_min: int = Field(default=0, ge=-720, le=720, description="minutes after (+) or before (-) the sun event")
    level: Level
    fade_s: int = Field(default=0, ge=0, le=4095, description="linear ramp from the previous level, seconds")

    @model_validator(mode="after")
    def _anchor_fields(self) -> Step:
        if self.at == "clock":
            if self.time is None or not _CLOCK.match(self.time):
                raise ValueError("time: give HH:MM (00:00-23:59) for a clock step")
            if self.offset_min:
                raise ValueError("offset_min: only for sunset/sunrise steps")
        elif self.time is not None:
            raise ValueError("time: only for clock steps; use offset_min with sunset/sunrise")
        return self

    def wire(self) -> list[int]:
        if self.at == "clock":
            assert self.time is not None
            h, m = self.time.split(":")
            minutes = int(h) * 60 + int(m)
        else:
            minutes = self.offset_min
        return [ANCHORS[self.at], minutes, self.level, self.fade_s]


class StepPublic(BaseModel):
    at: str
    time: str | None
    offset_min: int
    level: int
    fade_s: int
    label: str

    @classmethod
    def of(cls, wire: list[int]) -> StepPublic:
        anchor, minutes, level, fade = wire
        name = {v: k for k, v in ANCHORS.items()}[anchor]
        clock = f"{minutes // 60:02d}:{minutes % 60:02d}" if anchor == ANCHOR_CLOCK else None
        return cls(at=name, time=clock, offset_min=0 if clock else minutes, level=level, fade_s=fade,
                   label=label(wire))


Steps = Annotated[list[Step], Field(min_length=1, max_length=10)]


class ProfileCreate(_In):
    site_id: Id
    name: Name
    steps: Steps


class ProfileUpdate(_In):
    name: Name | None = None
    steps: Steps | None = None


class ProfilePublic(BaseModel):
    id: int
    site_id: str
    name: str
    steps: list[StepPublic]
    created_at: dt.datetime
    updated_at: dt.datetime


class Rule(_In):
    """Chooses ``profile_id`` for the nights that begin on matching dates."""

    profile_id: DbId
    priority: int = Field(default=0, ge=-1000, le=1000, description="higher wins; equal ones in listed order")
    weekdays: list[Weekday] | None = Field(default=None, min_length=1, description="None: every day")
    from_date: dt.date | None = None
    to_date: dt.date | None = None
    holidays: HolidaySet | None = Field(default=None, description="match the days of this special-day set")
    dates: list[dt.date] = Field(default_factory=list, max_length=64, description="explicit special days")
    note: Annotated[str, StringConstraints(max_length=200, pattern=r"^[^\x00]*$")] | None = None

    @model_validator(mode="after")
    def _range(self) -> Rule:
        if self.from_date and self.to_date and self.from_date > self.to_date:
            raise ValueError("to_date: before from_date")
        for day in (self.from_date, self.to_date, *self.dates):
            if day is not None and not 2020 <= day.year <= 2099:
                raise ValueError(f"{day}: dates must be in 2020..2099")
        return self

    def mask(self) -> int:
        if not self.weekdays:
            return 127
        return sum(1 << WEEKDAYS.index(d) for d in set(self.weekdays))


Rules = Annotated[list[Rule], Field(max_length=64)]


class CalendarCreate(_In):
    site_id: Id
    name: Name
    default_profile_id: DbId
    fallback_level: Level = 100
    rules: Rules = Field(default_factory=list)


class CalendarUpdate(_In):
    name: Name | None = None
    default_profile_id: DbId | None = None
    fallback_level: Level | None = None
    rules: Rules | None = None


class RulePublic(BaseModel):
    profile_id: DbId
    priority: int
    weekdays: list[str] | None
    from_date: dt.date | None
    to_date: dt.date | None
    holidays: str | None
    dates: list[dt.date]
    note: str | None


class CalendarPublic(BaseModel):
    id: int
    site_id: str
    name: str
    default_profile_id: DbId
    fallback_level: int
    rules: list[RulePublic]
    created_at: dt.datetime
    updated_at: dt.datetime


class GroupCreate(_In):
    id: Id
    site_id: Id
    name: Name


class GroupUpdate(_In):
    name: Name | None = None


class GroupPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    site_id: str
    name: str
    created_at: dt.datetime
    updated_at: dt.datetime


class GroupLamps(_In):
    lamp_ids: Annotated[list[Id], Field(max_length=100_000)]


class AssignmentCreate(_In):
    calendar_id: DbId
    target_type: TargetType
    target_id: Id
    priority: int = Field(default=0, ge=-1000, le=1000, description="among a lamp's groups, higher wins")


class AssignmentUpdate(_In):
    calendar_id: DbId | None = None
    priority: int | None = Field(default=None, ge=-1000, le=1000)


class AssignmentPublic(BaseModel):
    id: int
    site_id: str
    calendar_id: DbId
    target_type: str
    target_id: str
    priority: int
    created_at: dt.datetime
    updated_at: dt.datetime


class OverrideCreate(_In):
    target_type: TargetType
    target_id: Id
    level: Level
    starts_at: dt.datetime | None = Field(default=None, description="ISO 8601 with offset; default now")
    until: dt.datetime | None = Field(default=None, description="ISO 8601 with offset; or give duration_s")
    duration_s: int | None = Field(default=None, ge=60, le=30 * 86_400)
    reason: Reason


class EmergencyCreate(_In):
    site_id: Id
    until: dt.datetime | None = None
    duration_s: int | None = Field(default=None, ge=60, le=30 * 86_400)
    reason: Reason


class OverrideUpdate(_In):
    level: Level | None = None
    until: dt.datetime | None = None
    reason: Reason


class OverridePublic(BaseModel):
    id: int
    site_id: str
    target_type: str
    target_id: str
    level: int
    starts_at: dt.datetime
    until: dt.datetime
    emergency: bool
    status: Literal["scheduled", "active", "ended", "cancelled"]
    reason: str
    created_by: str
    created_at: dt.datetime
    cancelled_at: dt.datetime | None
    cancelled_by: str | None
    cancel_reason: str | None


class AuditEntry(BaseModel):
    id: int
    at: dt.datetime
    site_id: str
    subject: str
    action: str
    override_id: int | None
    target_type: str | None
    target_id: str | None
    reason: str | None
    detail: dict[str, Any]
