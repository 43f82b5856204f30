"""Crews' notification subscriptions: data access (no HTTP). A webhook's secret is written here and
read only by the notifier when it signs a delivery (``outbox.claim``); nothing here returns it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from server.alerts.matching import Rule
from server.registry.errors import NotFound

# What callers may set; crew_id and channel are fixed at creation.
WRITABLE = ("target", "secret", "language", "min_severity", "fault_types", "actions", "include_suppressed",
            "enabled")
_COLUMNS = """s.id, s.crew_id, c.site_id, s.channel, s.target, s.secret IS NOT NULL AS has_secret, s.language,
              c.language AS crew_language, s.min_severity, s.fault_types, s.actions, s.include_suppressed,
              s.enabled, s.created_at, s.updated_at"""


@dataclass(frozen=True)
class Subscription:
    id: int
    crew_id: str
    site_id: str
    channel: str
    target: str | None
    has_secret: bool
    language: str | None
    crew_language: str
    min_severity: str
    fault_types: list[str] | None
    actions: list[str]
    include_suppressed: bool
    enabled: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def rule(self) -> Rule:
        return Rule(min_severity=self.min_severity, fault_types=self.fault_types, actions=self.actions,
                    include_suppressed=self.include_suppressed)

    @property
    def effective_language(self) -> str:
        return self.language or self.crew_language


async def crew_site(conn: psycopg.AsyncConnection[Any], *, crew_id: str) -> str:
    """The crew's site; NotFound when there is no such crew."""
    row = await (await conn.execute("SELECT site_id FROM crews WHERE id = %s", (crew_id,))).fetchone()
    if row is None:
        raise NotFound(f"crew {crew_id!r} not found")
    return str(row[0])


async def _one(conn: psycopg.AsyncConnection[Any], *, crew_id: str, subscription_id: int) -> Subscription:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS} FROM crew_subscriptions s JOIN crews c ON c.id = s.crew_id"
        " WHERE s.id = %s AND s.crew_id = %s", (subscription_id, crew_id))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"subscription {subscription_id} of crew {crew_id!r} not found")
    return Subscription(**row)


async def create(conn: psycopg.AsyncConnection[Any], *, crew_id: str, channel: str,
                 values: dict[str, Any]) -> Subscription:
    await crew_site(conn, crew_id=crew_id)
    cols = ["crew_id", "channel", *(c for c in WRITABLE if c in values)]
    params = [crew_id, channel, *(values[c] for c in cols[2:])]
    query = sql.SQL("INSERT INTO crew_subscriptions ({}) VALUES ({}) RETURNING id").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(sql.Placeholder() * len(cols)))
    row = await (await conn.execute(query, params)).fetchone()
    assert row is not None
    return await _one(conn, crew_id=crew_id, subscription_id=int(row[0]))


async def get(conn: psycopg.AsyncConnection[Any], *, crew_id: str, subscription_id: int) -> Subscription:
    await crew_site(conn, crew_id=crew_id)
    return await _one(conn, crew_id=crew_id, subscription_id=subscription_id)


async def list_rows(conn: psycopg.AsyncConnection[Any], *, crew_id: str, limit: int,
                    offset: int) -> tuple[list[Subscription], int]:
    await crew_site(conn, crew_id=crew_id)
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS}, count(*) OVER () AS _total FROM crew_subscriptions s JOIN crews c ON c.id = s.crew_id"
        " WHERE s.crew_id = %s ORDER BY s.id LIMIT %s OFFSET %s", (crew_id, limit, offset))
    rows = await cur.fetchall()
    total = int(rows[0]["_total"]) if rows else 0
    if not rows and offset:
        counted = await (await conn.execute("SELECT count(*) FROM crew_subscriptions WHERE crew_id = %s",
                                            (crew_id,))).fetchone()
        total = int(counted[0]) if counted else 0
    for row in rows:
        del row["_total"]
    return [Subscription(**row) for row in rows], total


async def update(conn: psycopg.AsyncConnection[Any], *, crew_id: str, subscription_id: int,
                 values: dict[str, Any]) -> Subscription:
    await get(conn, crew_id=crew_id, subscription_id=subscription_id)
    cols = [c for c in WRITABLE if c in values]
    if cols:
        sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols)
        await conn.execute(
            sql.SQL("UPDATE crew_subscriptions SET {}, updated_at = now() WHERE id = %s AND crew_id = %s").format(sets),
            [*(values[c] for c in cols), subscription_id, crew_id])
    return await _one(conn, crew_id=crew_id, subscription_id=subscription_id)


async def delete(conn: psycopg.AsyncConnection[Any], *, crew_id: str, subscription_id: int) -> None:
    await crew_site(conn, crew_id=crew_id)
    cur = await conn.execute("DELETE FROM crew_subscriptions WHERE id = %s AND crew_id = %s",
                             (subscription_id, crew_id))
    if cur.rowcount == 0:
        raise NotFound(f"subscription {subscription_id} of crew {crew_id!r} not found")


async def enabled_for_crews(conn: psycopg.AsyncConnection[Any], *,
                            crew_ids: Iterable[str]) -> dict[str, list[Subscription]]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        f"SELECT {_COLUMNS} FROM crew_subscriptions s JOIN crews c ON c.id = s.crew_id"
        " WHERE s.crew_id = ANY(%s) AND s.enabled ORDER BY s.id", (sorted(set(crew_ids)),))
    found: dict[str, list[Subscription]] = {}
    for row in await cur.fetchall():
        sub = Subscription(**row)
        found.setdefault(sub.crew_id, []).append(sub)
    return found
