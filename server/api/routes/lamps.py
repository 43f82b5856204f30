"""Lamps: CRUD, bulk import (GeoJSON/CSV), GeoJSON export, current state and readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel

from firmware.device import codec
from server.api.access import READ, REGISTRY_WRITE, allow
from server.api.crud_router import crud_router
from server.api.deps import ConnDep, SettingsDep
from server.api.errors import ApiError
from server.ingest.watermark import missing_ranges
from server.readings import queries
from server.registry import crud
from server.registry import lamps as lamp_data
from server.registry.lamp_import import ImportFormatError, rows_from_csv, rows_from_geojson, validate
from server.registry.models import LampCreate, LampPublic, LampUpdate

router = APIRouter(prefix="/lamps", tags=["lamps"])
crud_routes = crud_router(table=crud.LAMPS, prefix="/lamps", tag="lamps", create_model_=LampCreate,
                          update_model=LampUpdate, public_model=LampPublic, write_roles=REGISTRY_WRITE)

# A bucketed query may return at most this many buckets; a raw one at most the page cap.
MAX_BUCKETS = 10_000
DEFAULT_WINDOW = timedelta(hours=24)

class ImportResult(BaseModel):
    created: int
    updated: int

_IMPORT_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/geo+json": {"schema": {"type": "object", "description": "GeoJSON FeatureCollection"}},
            "text/csv": {"schema": {"type": "string", "description": "CSV with a header row"}},
        },
    }
}

@router.post("/import", response_model=ImportResult, summary="Create or update lamps from GeoJSON or CSV",
             openapi_extra=_IMPORT_DOC, responses={422: {"description": "Every bad row, by index and field"}},
             dependencies=[allow(*REGISTRY_WRITE)])
async def import_lamps(request: Request, conn: ConnDep, settings: SettingsDep) -> ImportResult:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > settings.api_body_max_bytes:
        raise ApiError(413, f"body is {len(body)} bytes; the cap is {settings.api_body_max_bytes}")
    try:
        if content_type in ("application/geo+json", "application/json"):
            rows = rows_from_geojson(body)
        elif content_type in ("text/csv", "application/csv"):
            rows = rows_from_csv(body)
        else:
            raise ApiError(415, "send application/geo+json or text/csv", field="content-type")
    except ImportFormatError as exc:
        raise ApiError(422, str(exc), field="body") from exc
    lamps, errors = validate(rows)
    if not errors:
        errors = await lamp_data.check_references(conn, lamps=lamps)
    if errors:
        detail = [e.as_dict() for e in errors[:1000]]
        message = f"{len(errors)} bad rows; nothing imported. First: row {errors[0].index} " \
                  f"{errors[0].field}: {errors[0].message}"
        return JSONResponse(status_code=422, content={"message": message, "detail": detail})  # type: ignore[return-value]
    created, updated = await lamp_data.upsert_many(conn, lamps=lamps)
    return ImportResult(created=created, updated=updated)

@router.get("/geojson", summary="All lamps as a GeoJSON FeatureCollection",
            responses={200: {"content": {"application/geo+json": {}}}}, dependencies=[allow(*READ)])
async def export_geojson(
    conn: ConnDep,
    site_id: Annotated[str | None, Query(max_length=32)] = None,
    district_id: Annotated[str | None, Query(max_length=32)] = None,
    cabinet_id: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    doc = await lamp_data.geojson(conn, site_id=site_id, district_id=district_id, cabinet_id=cabinet_id)
    return Response(orjson.dumps(doc), media_type="application/geo+json")

class Reading(BaseModel):
    seq: int
    ts: datetime
    p: float
    v: float
    i: float
    pf: float
    e: float
    dim: int
    t: float | None
    f: int | None
    cv: int | None
    q: int = 0

class LampState(BaseModel):
    lamp_id: str
    online: bool | None
    reporting: bool
    last_seen: datetime | None
    state: dict[str, Any] | None
    state_at: datetime | None
    ack_seq: int | None
    gaps: list[list[int]]
    latest: Reading | None
    flags: list[str]

@router.get("/{lamp_id}/state", response_model=LampState, summary="Latest reading, online/offline, last seen",
            dependencies=[allow(*READ)])
async def lamp_state(lamp_id: str, conn: ConnDep) -> LampState:
    row = await lamp_data.state(conn, lamp_id=lamp_id)
    now = datetime.now(UTC)
    last_seen = row["last_seen"]
    # Silent for longer than three report intervals: not reporting, whatever the last state said.
    reporting = last_seen is not None and now - last_seen <= timedelta(seconds=3 * row["report_interval_s"])
    latest = None
    if row["last_seq"] is not None:
        latest = Reading(seq=row["last_seq"], ts=row["last_ts"], p=row["last_p"], v=row["last_v"], i=row["last_i"],
                         pf=row["last_pf"], e=row["last_e"], dim=row["last_dim"], t=row["last_t"],
                         f=row["last_f"], cv=row["last_cv"])

    ack = row["ack_seq"]
    gaps = missing_ranges(ack, list(row["pending"] or [])) if ack is not None else []
    flags = codec.flag_names(latest.f) if latest and latest.f else []
    return LampState(lamp_id=lamp_id, online=row["online"], reporting=reporting, last_seen=last_seen,
                     state=row["state"], state_at=row["state_at"], ack_seq=ack, gaps=gaps, latest=latest,
                     flags=flags)

class Bucket(BaseModel):
    bucket: datetime
    samples: int
    p_mean: float
    p_min: float
    p_max: float
    v_mean: float
    v_min: float
    v_max: float
    i_mean: float
    pf_mean: float
    energy_wh: float
    dim_mean: float
    f_any: int

class ReadingsPage(BaseModel):
    lamp_id: str
    start: datetime
    end: datetime
    bucket_s: int | None
    readings: list[Reading] | None = None
    buckets: list[Bucket] | None = None

@router.get("/{lamp_id}/readings", response_model=ReadingsPage, summary="Raw or time-bucketed readings",
            dependencies=[allow(*READ)])
async def lamp_readings(
    lamp_id: str,
    conn: ConnDep,
    settings: SettingsDep,
    start: Annotated[datetime | None, Query(description="ISO 8601 with offset; default end - 24 h")] = None,
    end: Annotated[datetime | None, Query(description="ISO 8601 with offset; default now")] = None,
    bucket: Annotated[int | None, Query(ge=60, le=31 * 86400, description="Bucket width in seconds")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
) -> ReadingsPage:
    end = end or datetime.now(UTC)
    start = start or end - DEFAULT_WINDOW
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise ApiError(422, f"{name}: give a time zone offset (e.g. 2026-11-28T18:00:00+09:00)", field=name)
    if end <= start:
        raise ApiError(422, "end: must be after start", field="end")
    key = await lamp_data.key_of(conn, lamp_id=lamp_id)
    if bucket is None:
        rows = await queries.raw(conn, lamp_key=key, start=start, end=end, limit=min(limit, settings.api_page_max))
        return ReadingsPage(lamp_id=lamp_id, start=start, end=end, bucket_s=None,
                            readings=[Reading.model_validate(r) for r in rows])
    if (end - start).total_seconds() / bucket > MAX_BUCKETS:
        raise ApiError(422, f"bucket: {bucket} s gives more than {MAX_BUCKETS} buckets; widen it", field="bucket")
    rows = await queries.bucketed(conn, lamp_key=key, start=start, end=end, bucket=timedelta(seconds=bucket))
    return ReadingsPage(lamp_id=lamp_id, start=start, end=end, bucket_s=bucket,
                        buckets=[Bucket.model_validate(r) for r in rows])
