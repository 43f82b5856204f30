"""The notification outbox and the notifier's cursor: data access (no HTTP, no sending).

Rows are made once per (event, subscription) whoever makes them, so any notifier may make them;
sending is claimed row by row (``FOR UPDATE SKIP LOCKED`` plus a lease on ``next_attempt_at``), so
two notifiers never send the same row at the same time and a notifier that dies mid-send leaves
its rows to be tried again once the lease runs out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from server.alerts.retry import Next

STATUSES = ("pending", "sent", "failed", "dead")
_SCOPE = "(%(sites)s::text[] IS NULL OR n.site_id = ANY(%(sites)s)) AND NOT (n.channel = ANY(%(skip)s))"


@dataclass(frozen=True)
class NewNotification:
    event_id: int
    alert_id: int
    site_id: str
    subscription_id: int
    channel: str
    target: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    id: int
    event_id: int
    subscription_id: int
    channel: str
    target: str
    attempts: int
    payload: dict[str, Any]
    secret: str | None
    enabled: bool


async def read_cursor(conn: psycopg.AsyncConnection[Any]) -> int:
    row = await (await conn.execute("SELECT last_event_id FROM notifier_cursor")).fetchone()
    return int(row[0]) if row else 0


async def save_cursor(conn: psycopg.AsyncConnection[Any], *, floor: int) -> None:
    # Several notifiers may share the cursor; it only ever moves forward.
    await conn.execute("UPDATE notifier_cursor SET last_event_id = GREATEST(last_event_id, %s)", (floor,))


async def event_ids_after(conn: psycopg.AsyncConnection[Any], *, floor: int, skip: Collection[int],
                          limit: int) -> list[int]:
    cur = await conn.execute("SELECT id FROM alert_events WHERE id > %s AND NOT (id = ANY(%s)) ORDER BY id LIMIT %s",
                             (floor, sorted(skip), limit))
    return [int(r[0]) for r in await cur.fetchall()]


async def enqueue(conn: psycopg.AsyncConnection[Any], *, rows: Sequence[NewNotification]) -> None:
    if not rows:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO notifications (event_id, alert_id, site_id, subscription_id, channel, target, payload)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (event_id, subscription_id) DO NOTHING",
            [(r.event_id, r.alert_id, r.site_id, r.subscription_id, r.channel, r.target, Jsonb(r.payload))
             for r in rows])


async def claim(conn: psycopg.AsyncConnection[Any], *, sites: Sequence[str] | None, skip_channels: Sequence[str],
                limit: int, lease_s: float) -> list[Claimed]:
    """Due rows of these sites (all when None), leased for ``lease_s`` seconds."""
    cur = await conn.cursor(row_factory=dict_row).execute(
        "UPDATE notifications n SET next_attempt_at = now() + make_interval(secs => %(lease)s), updated_at = now()"
        " FROM crew_subscriptions s"
        " WHERE s.id = n.subscription_id AND n.id IN ("
        "   SELECT n.id FROM notifications n"
        f"  WHERE n.status IN ('pending', 'failed') AND n.next_attempt_at <= now() AND {_SCOPE}"
        "   ORDER BY n.next_attempt_at, n.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
        " RETURNING n.id, n.event_id, n.subscription_id, n.channel, n.target, n.attempts, n.payload,"
        " s.secret, s.enabled",
        {"lease": lease_s, "sites": list(sites) if sites else None, "skip": list(skip_channels), "limit": limit})
    return [Claimed(**row) for row in await cur.fetchall()]


async def record(conn: psycopg.AsyncConnection[Any], *, notification_id: int, step: Next) -> None:
    await conn.execute(
        "UPDATE notifications SET status = %(status)s, attempts = %(attempts)s, last_error = %(error)s,"
        " next_attempt_at = now() + make_interval(secs => %(delay)s), updated_at = now(),"
        " sent_at = CASE WHEN %(status)s = 'sent' THEN now() ELSE sent_at END"
        " WHERE id = %(id)s",
        {"status": step.status, "attempts": step.attempts, "error": step.error, "delay": step.delay_s,
         "id": notification_id})


async def mark_waiting(conn: psycopg.AsyncConnection[Any], *, sites: Sequence[str] | None, channel: str,
                       reason: str) -> None:
    """Says on rows of a channel this notifier cannot send why they are still pending."""
    await conn.execute(
        "UPDATE notifications n SET last_error = %(reason)s, updated_at = now()"
        " WHERE n.status = 'pending' AND n.channel = %(channel)s AND n.last_error IS DISTINCT FROM %(reason)s"
        " AND (%(sites)s::text[] IS NULL OR n.site_id = ANY(%(sites)s))",
        {"reason": reason, "channel": channel, "sites": list(sites) if sites else None})


async def seconds_to_next_due(conn: psycopg.AsyncConnection[Any], *, sites: Sequence[str] | None,
                              skip_channels: Sequence[str]) -> float | None:
    row = await (await conn.execute(
        f"SELECT extract(epoch FROM min(n.next_attempt_at) - now()) FROM notifications n"
        f" WHERE n.status IN ('pending', 'failed') AND {_SCOPE}",
        {"sites": list(sites) if sites else None, "skip": list(skip_channels)})).fetchone()
    return None if row is None or row[0] is None else max(0.0, float(row[0]))


@dataclass(frozen=True)
class NotificationRow:
    id: int
    event_id: int
    alert_id: int
    site_id: str
    subscription_id: int
    channel: str
    target: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    sent_at: dt.datetime | None
    created_at: dt.datetime
    payload: dict[str, Any]


async def list_rows(conn: psycopg.AsyncConnection[Any], *, alert_id: int | None, status: str | None,
                    subscription_id: int | None, limit: int, offset: int) -> tuple[list[NotificationRow], int]:
    where = ("(%(alert)s::bigint IS NULL OR alert_id = %(alert)s) AND (%(status)s::text IS NULL OR status = %(status)s)"
             " AND (%(sub)s::bigint IS NULL OR subscription_id = %(sub)s)")
    params = {"alert": alert_id, "status": status, "sub": subscription_id, "limit": limit, "offset": offset}
    cur = await conn.cursor(row_factory=dict_row).execute(
        "SELECT id, event_id, alert_id, site_id, subscription_id, channel, target, status, attempts, next_attempt_at,"
        f" last_error, sent_at, created_at, payload FROM notifications WHERE {where}"
        " ORDER BY id DESC LIMIT %(limit)s OFFSET %(offset)s", params)
    rows = [NotificationRow(**row) for row in await cur.fetchall()]
    counted = await (await conn.execute(f"SELECT count(*) FROM notifications WHERE {where}", params)).fetchone()
    return rows, int(counted[0]) if counted else 0
