"""Operational endpoints: health, ingestion counters, dead letters."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from psycopg.rows import dict_row
from pydantic import BaseModel

from server import __version__
from server.api.access import READ, Role, allow, public
from server.api.deps import ConnDep, PagingDep

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    storage_mode: str
    database: str
    mqtt: str
    version: str


@router.get("/health", response_model=Health, summary="Service health and storage mode", dependencies=[public()])
async def health(request: Request, conn: ConnDep) -> Health:
    row = await (await conn.execute("SELECT mode FROM storage_info")).fetchone()
    worker = getattr(request.app.state, "ingest", None)
    mqtt = "disabled" if worker is None else "connected" if worker.stats.connected else "disconnected"

    return Health(status="ok", storage_mode=row[0] if row else "unmigrated", database="ok", mqtt=mqtt,
                  version=__version__)


class IngestStats(BaseModel):
    messages: int
    received: int
    stored: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    # Messages the broker said it dropped ($SYS), as seen by the workers.
    broker_dropped: int = 0
    workers: list[str]


@router.get("/stats/ingest", response_model=IngestStats, summary="Ingestion counters summed over all workers",
            dependencies=[allow(*READ)])
async def ingest_stats(conn: ConnDep) -> IngestStats:
    cur = await conn.execute("SELECT worker_id, metric, value FROM ingest_counters")
    totals: dict[str, int] = {}
    workers: set[str] = set()
    for worker_id, metric, value in await cur.fetchall():
        workers.add(worker_id)
        totals[metric] = totals.get(metric, 0) + int(value)
    by_reason = {m.split(":", 1)[1]: v for m, v in totals.items() if m.startswith("rejected:")}
    return IngestStats(messages=totals.get("messages", 0), received=totals.get("readings_received", 0),
                       stored=totals.get("readings_stored", 0), duplicates=totals.get("duplicates", 0),
                       rejected=totals.get("rejected", 0), rejected_by_reason=dict(sorted(by_reason.items())),
                       broker_dropped=totals.get("broker_dropped", 0),
                       workers=sorted(workers))


class DeadLetter(BaseModel):
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload_size: int
    payload_text: str | None
    payload_base64: str


class DeadLetterPage(BaseModel):
    items: list[DeadLetter]
    total: int
    limit: int
    offset: int


@router.get("/dead-letters", response_model=DeadLetterPage, summary="Rejected MQTT messages, newest first",
            dependencies=[allow(Role.ADMIN, Role.OPERATOR, Role.TECHNICIAN)])
async def dead_letters(
    conn: ConnDep,
    paging: PagingDep,
    reason: Annotated[str | None, Query(max_length=64)] = None,
    topic_prefix: Annotated[str | None, Query(max_length=256)] = None,
) -> DeadLetterPage:
    params: dict[str, Any] = {"reason": reason, "prefix": topic_prefix, "limit": paging.limit,
                              "offset": paging.offset}
    where = ("WHERE (%(reason)s::text IS NULL OR reason = %(reason)s)"
             " AND (%(prefix)s::text IS NULL OR starts_with(topic, %(prefix)s))")
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT id, received_at, topic, reason, detail, payload_size, payload FROM dead_letters {where}"
        " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s", params)
    rows = await cur.fetchall()
    total_row = await (await conn.execute(f"SELECT count(*) FROM dead_letters {where}", params)).fetchone()
    items = []
    for row in rows:
        raw = bytes(row.pop("payload"))
        try:
            text: str | None = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        items.append(DeadLetter(**row, payload_text=text, payload_base64=base64.b64encode(raw).decode()))
    return DeadLetterPage(items=items, total=int(total_row[0]) if total_row else 0, limit=paging.limit,
                          offset=paging.offset)
