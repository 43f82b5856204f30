"""Commanded against in effect: lamps out of step, a lamp's config, and the control audit trail."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel

from firmware.device import codec
from server.api.access import READ, Role, allow
from server.api.deps import ConnDep, PagingDep, SettingsDep
from server.api.params import RowIdQuery
from server.schedules import configs, overrides
from server.schedules.models import AuditEntry

router = APIRouter(tags=["control"])


async def _in_site_zone(conn: ConnDep, rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """Times shown to people are in the site's zone (rows of several sites keep their own)."""
    zones: dict[str, ZoneInfo] = {}
    for row in rows:
        site = row["site_id"]
        if site not in zones:
            found = await (await conn.execute("SELECT timezone FROM sites WHERE id = %s", (site,))).fetchone()
            zones[site] = ZoneInfo(found[0] if found else "UTC")
        for key in keys:
            if row.get(key) is not None:
                row[key] = row[key].astimezone(zones[site])


class OutOfStep(BaseModel):
    lamp_id: str
    site_id: str
    district_id: str | None
    cabinet_id: str | None
    commanded_cv: int
    in_effect_cv: int | None
    compiled_at: dt.datetime
    published_at: dt.datetime | None
    attempts: int
    online: bool | None
    last_seen: dt.datetime | None
    status: str  # unpublished | pending (within the re-send wait) | late


class OutOfStepPage(BaseModel):
    items: list[OutOfStep]
    total: int
    limit: int
    offset: int


@router.get("/control/out-of-step", response_model=OutOfStepPage,
            summary="Lamps whose config in effect is not the one commanded", dependencies=[allow(*READ)])
async def out_of_step(
    conn: ConnDep, paging: PagingDep, settings: SettingsDep,
    site_id: Annotated[str | None, Query(max_length=32)] = None,
    district_id: Annotated[str | None, Query(max_length=32)] = None,
) -> OutOfStepPage:
    rows, total = await configs.out_of_step(conn, site_id=site_id, district_id=district_id, limit=paging.limit,
                                            offset=paging.offset)
    now = dt.datetime.now(dt.UTC)
    await _in_site_zone(conn, rows, ("compiled_at", "published_at", "last_seen"))
    items = []
    for row in rows:
        published = row["published_at"]
        if published is None:
            state = "unpublished"
        elif (now - published).total_seconds() < settings.schedule_resend_after_s:
            state = "pending"
        else:
            state = "late"
        items.append(OutOfStep(**row, status=state))
    return OutOfStepPage(items=items, total=total, limit=paging.limit, offset=paging.offset)


class LampConfig(BaseModel):
    lamp_id: str
    site_id: str
    commanded_cv: int | None
    in_effect_cv: int | None
    in_step: bool
    compiled_at: dt.datetime | None
    published_at: dt.datetime | None
    attempts: int | None
    warnings: list[str]
    config: dict[str, Any] | None
    config_bytes: int | None
    # The LoRa downlink for the common case (the lamp runs the previous version), hex per fragment.
    lora_delta: list[str] | None


@router.get("/lamps/{lamp_id}/config", response_model=LampConfig,
            summary="The lamp's commanded config, the version in effect, and its LoRa delta",
            dependencies=[allow(*READ)])
async def lamp_config(lamp_id: str, conn: ConnDep) -> LampConfig:
    row = await configs.of_lamp(conn, lamp_id=lamp_id)
    cfg = row["config"]
    delta = None
    if cfg is not None and row["prev_config"] is not None and row["in_effect_cv"] == row["prev_cv"]:
        delta = [frame.hex() for frame in codec.encode_config_delta(row["prev_config"], cfg)]
    return LampConfig(
        lamp_id=lamp_id, site_id=row["site_id"], commanded_cv=row["commanded_cv"], in_effect_cv=row["in_effect_cv"],
        in_step=row["commanded_cv"] is not None and row["commanded_cv"] == row["in_effect_cv"],
        compiled_at=row["compiled_at"], published_at=row["published_at"], attempts=row["attempts"],
        warnings=list(row["warnings"] or []), config=cfg,
        config_bytes=len(codec.encode_config(cfg)) if cfg is not None else None, lora_delta=delta)


class AuditPage(BaseModel):
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


@router.get("/control/audit", response_model=AuditPage, summary="Who overrode what, when and why; newest first",
            dependencies=[allow(Role.ADMIN, Role.OPERATOR)])
async def audit(
    conn: ConnDep, paging: PagingDep, site_id: Annotated[str | None, Query(max_length=32)] = None,
    override_id: RowIdQuery = None,
) -> AuditPage:
    rows, total = await overrides.audit_trail(conn, site_id=site_id, override_id=override_id, limit=paging.limit,
                                              offset=paging.offset)
    await _in_site_zone(conn, rows, ("at",))
    return AuditPage(items=[AuditEntry(**r) for r in rows], total=total, limit=paging.limit, offset=paging.offset)
