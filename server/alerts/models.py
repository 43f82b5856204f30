"""Alert and crew models at the API boundary: ``*Create``, ``*Update``, ``*Public``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from server.alerts.lifecycle import Status
from server.registry.models import Id, Name

Note = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CrewCreate(_In):
    id: Id
    site_id: Id
    name: Name
    districts: list[Id] = Field(default_factory=list, max_length=100,
                                description="districts whose alerts the crew gets; none: the site's fallback crew")
    language: Literal["id", "en"] = "id"

    @field_validator("districts")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a district is named twice")
        return value


class CrewUpdate(_In):
    name: Name | None = None
    districts: list[Id] | None = Field(default=None, max_length=100)
    language: Literal["id", "en"] | None = None


class CrewPublic(BaseModel):
    id: str
    site_id: str
    name: str
    districts: list[str]
    language: str
    created_at: datetime
    updated_at: datetime


class AlertPublic(BaseModel):
    id: int
    site_id: str
    fault_type: str
    subject_type: Literal["lamp", "cabinet", "gateway"]
    subject_id: str
    district_id: str | None
    cabinet_id: str | None
    severity: Literal["critical", "major", "minor"]
    status: Status
    suppressed_by: int | None = Field(description="the cabinet or gateway alert that explains this one")
    crew_id: str | None
    first_evidence_at: datetime
    detected_at: datetime
    cleared_at: datetime | None = Field(description="when the condition stopped holding (auto-resolve follows)")
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    escalation_level: int
    escalated_at: datetime | None
    flaps: int
    evidence: dict[str, Any]
    updated_at: datetime


class AlertPage(BaseModel):
    items: list[AlertPublic]
    total: int
    limit: int
    offset: int


class AlertEvent(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    detail: dict[str, Any]


class Comment(BaseModel):
    id: int
    at: datetime
    author: str
    body: str


class AlertDetail(AlertPublic):
    history: list[AlertEvent]
    comments: list[Comment]
    allowed_transitions: list[str]


class TransitionCreate(_In):
    status: Status = Field(description="the status to move to")
    note: Note | None = None


class CommentCreate(_In):
    body: Note


class AlertUpdate(_In):
    crew_id: Id | None = Field(description="assign to this crew; null takes the alert off any crew")
