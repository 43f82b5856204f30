"""What the alert stream (SSE, ``GET /api/v1/alerts/stream``) sends: the events after a point that a
caller may see, as ``text/event-stream`` frames. Data access and framing; the route does the HTTP."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg

from server.alerts import details, notice
from server.alerts.facts import AlertFacts, EventFacts

EVENT_NAME = "alert"


@dataclass(frozen=True)
class StreamFilter:
    """``restrict_to_crew``: only the alerts of ``crew_id`` (a crew member's stream; none at all when
    the member has no crew)."""

    restrict_to_crew: bool = False
    crew_id: str | None = None
    site_id: str | None = None
    fault_type: str | None = None


async def latest_event_id(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (await conn.execute("SELECT COALESCE(max(id), 0) FROM alert_events")).fetchone()
    return int(row[0]) if row else 0


async def events_after(
    conn: psycopg.AsyncConnection[Any], *, floor: int, skip: Collection[int], only: StreamFilter, limit: int
) -> tuple[list[int], list[tuple[EventFacts, AlertFacts]]]:
    """(ids of every event looked at, the ones the filter lets through with their facts)."""
    cur = await conn.execute(
        # A crew member without a crew sees nothing: crew_id = NULL is never true.
        "SELECT e.id, (NOT %(restrict)s OR COALESCE(a.crew_id = %(crew)s, false))"
        " AND (%(site)s::text IS NULL OR a.site_id = %(site)s)"
        " AND (%(fault)s::text IS NULL OR a.fault_type = %(fault)s)"
        " FROM alert_events e JOIN alerts a ON a.id = e.alert_id"
        " WHERE e.id > %(floor)s AND NOT (e.id = ANY(%(skip)s)) ORDER BY e.id LIMIT %(limit)s",
        {"restrict": only.restrict_to_crew, "crew": only.crew_id, "site": only.site_id, "fault": only.fault_type,
         "floor": floor, "skip": sorted(skip), "limit": limit})
    rows = await cur.fetchall()
    visible = [int(r[0]) for r in rows if r[1]]
    return [int(r[0]) for r in rows], await details.load(conn, event_ids=visible)


def frame(event: EventFacts, alert: AlertFacts) -> bytes:
    data = orjson.dumps(notice.event_document(event, alert))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.event_id, EVENT_NAME.encode(), data)


def comment(text: str) -> bytes:
    return b": " + text.encode() + b"\n\n"


def retry_hint(ms: int) -> bytes:
    """How long a browser's EventSource waits before it reconnects (with Last-Event-ID)."""
    return b"retry: %d\n\n" % ms
