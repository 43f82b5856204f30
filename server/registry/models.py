"""Registry models at the API boundary, named by role: ``*Create``, ``*Update``, ``*Public``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
Radio = Literal["wifi", "lora", "cellular"]


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


TimeZone = Annotated[str, AfterValidator(_known_zone)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class SiteCreate(_In):
    id: Id
    name: Name
    timezone: TimeZone = "Asia/Jayapura"
    lat: Lat | None = None
    lon: Lon | None = None


class SiteUpdate(_In):
    name: Name | None = None
    timezone: TimeZone | None = None
    lat: Lat | None = None
    lon: Lon | None = None


class SitePublic(_Out):
    id: str
    name: str
    timezone: str
    lat: float | None
    lon: float | None
    created_at: datetime
    updated_at: datetime


class DistrictCreate(_In):
    id: Id
    site_id: Id
    name: Name


class DistrictUpdate(_In):
    name: Name | None = None


class DistrictPublic(_Out):
    id: str
    site_id: str
    name: str
    created_at: datetime
    updated_at: datetime


class CabinetCreate(_In):
    id: Id
    site_id: Id
    district_id: Id | None = None
    name: Name
    lat: Lat | None = None
    lon: Lon | None = None


class CabinetUpdate(_In):
    district_id: Id | None = None
    name: Name | None = None
    lat: Lat | None = None
    lon: Lon | None = None


class CabinetPublic(_Out):
    id: str
    site_id: str
    district_id: str | None
    name: str
    lat: float | None
    lon: float | None
    created_at: datetime
    updated_at: datetime


class GatewayCreate(_In):
    id: Id
    site_id: Id
    district_id: Id | None = None
    name: Name
    lat: Lat | None = None
    lon: Lon | None = None


class GatewayUpdate(_In):
    district_id: Id | None = None
    name: Name | None = None
    lat: Lat | None = None
    lon: Lon | None = None


class GatewayPublic(_Out):
    id: str
    site_id: str
    district_id: str | None
    name: str
    lat: float | None
    lon: float | None
    health: dict[str, Any] | None = Field(description="Latest health report from the gateway's state topic")
    health_at: datetime | None
    created_at: datetime
    updated_at: datetime


class LampCreate(_In):
    id: Id
    site_id: Id
    district_id: Id | None = None
    cabinet_id: Id | None = None
    gateway_id: Id | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    lat: Lat
    lon: Lon
    rated_w: Annotated[float, Field(gt=0, le=2000)]
    radio: Radio
    report_interval_s: Annotated[int, Field(ge=10, le=86400)] = 300
    lamp_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "led"


class LampUpdate(_In):
    district_id: Id | None = None
    cabinet_id: Id | None = None
    gateway_id: Id | None = None
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    lat: Lat | None = None
    lon: Lon | None = None
    rated_w: Annotated[float, Field(gt=0, le=2000)] | None = None
    radio: Radio | None = None
    report_interval_s: Annotated[int, Field(ge=10, le=86400)] | None = None
    lamp_type: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class LampPublic(_Out):
    id: str
    site_id: str
    district_id: str | None
    cabinet_id: str | None
    gateway_id: str | None
    name: str | None
    lat: float
    lon: float
    rated_w: float
    radio: str
    report_interval_s: int
    lamp_type: str
    created_at: datetime
    updated_at: datetime
