"""The live alert stream: every alert history event as a server-sent event (SSE).

Registered before the alerts router, whose ``/alerts/{alert_id}`` would otherwise take "stream" for
an alert id.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse
from psycopg_pool import AsyncConnectionPool

from server.alerts import stream
from server.alerts.event_cursor import EventCursor
from server.alerts.feed import AlertFeed
from server.api.access import READ, Principal, PrincipalDep, Role, allow
from server.api.deps import PoolDep
from server.api.errors import ApiError
from server.api.params import BIGINT_MAX

router = APIRouter(prefix="/alerts", tags=["alerts"])

# Proxies and load balancers drop connections that stay silent for a minute or so.
KEEPALIVE_S = 15.0
# How long a browser waits before reconnecting (it then sends Last-Event-ID).
RETRY_MS = 3000
BATCH = 200
# Event ids committed out of order are waited for this long (see server/alerts/event_cursor.py).
GAP_GRACE_S = 10.0
_EVENT_ID = r"^[0-9]{1,19}$"


def _feed(request: Request) -> AlertFeed:
    feed: AlertFeed | None = getattr(request.app.state, "alert_feed", None)
    if feed is None:
        feed = AlertFeed(request.app.state.database_url)
        request.app.state.alert_feed = feed
    return feed


def _scope(principal: Principal, site_id: str | None, fault_type: str | None) -> stream.StreamFilter:
    # A user who is only crew sees their own crew's alerts; any other role sees them all.
    crew_only = principal.roles <= {Role.CREW}
    return stream.StreamFilter(restrict_to_crew=crew_only, crew_id=principal.crew_id if crew_only else None,
                               site_id=site_id, fault_type=fault_type)


def _start(header: str | None, after: int | None) -> int | None:
    if header is None:
        return after
    value = int(header) if header.strip().isdigit() else -1
    if not 0 <= value <= BIGINT_MAX:
        raise ApiError(422, "Last-Event-ID: give the id of the last event received (a whole number)",
                       field="Last-Event-ID")
    return value


async def _frames(pool: AsyncConnectionPool, feed: AlertFeed, only: stream.StreamFilter,
                  after: int | None) -> AsyncIterator[bytes]:
    # Subscribed before the starting point is read, so nothing committed in between is missed.
    async with feed.subscribe() as wake:
        if after is None:
            async with pool.connection() as conn:
                after = await stream.latest_event_id(conn)
        cursor = EventCursor(floor=after, grace_s=GAP_GRACE_S)
        yield stream.retry_hint(RETRY_MS)
        while True:
            wake.clear()
            async with pool.connection() as conn:
                ids, visible = await stream.events_after(conn, floor=cursor.floor, skip=cursor.handled, only=only,
                                                         limit=BATCH)
            cursor.mark(ids, time.monotonic())
            for event, alert in visible:
                yield stream.frame(event, alert)
            if len(ids) == BATCH:
                continue
            try:
                await asyncio.wait_for(wake.wait(), KEEPALIVE_S)
            except TimeoutError:
                yield stream.comment("keep-alive")


@router.get("/stream", summary="Alert history as it happens (server-sent events)", dependencies=[allow(*READ)],
            response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "`id: <event id>`, `event: alert`, `data: <JSON>` frames"}})
async def alert_stream(
    request: Request, principal: PrincipalDep, pool: PoolDep,
    site_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = None,
    fault_type: Annotated[str | None, Query(pattern=r"^[a-z][a-z0-9_]{0,63}$")] = None,
    after: Annotated[int | None, Query(ge=0, le=BIGINT_MAX,
                                       description="replay events after this id (for clients that cannot "
                                                   "send Last-Event-ID)")] = None,
    last_event_id: Annotated[str | None, Header(description="replay events after this id (browsers send it "
                                                            "when they reconnect)")] = None,
) -> StreamingResponse:
    start = _start(last_event_id, after)
    frames = _frames(pool, _feed(request), _scope(principal, site_id, fault_type), start)
    return StreamingResponse(frames, media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
