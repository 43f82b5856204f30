"""Daily range partitions of ``readings`` in plain-PostgreSQL mode.

The server creates partitions ahead of time; ingestion creates any missing ones for late or early
readings before it writes them (a journal replay can bring readings from days ago).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

PARTITION_PREFIX = "readings_p"


def partition_name(day: date) -> str:
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def existing_days(conn: psycopg.Connection) -> set[date]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'readings'::regclass"
    ).fetchall()
    days = set()
    for (name,) in rows:
        if name.startswith(PARTITION_PREFIX):
            days.add(datetime.strptime(name[len(PARTITION_PREFIX) :], "%Y%m%d").date())
    return days


def create_partition_sql(day: date) -> sql.Composed:
    start, end = _bounds(day)
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} PARTITION OF readings FOR VALUES FROM ({}) TO ({})").format(
        sql.Identifier(partition_name(day)), sql.Literal(start), sql.Literal(end)
    )


def ensure_days(conn: psycopg.Connection, days: set[date], known: set[date]) -> set[date]:
    """Creates the partitions for ``days`` not in ``known``; returns the days now known to exist.

    Runs in autocommit mode so each partition is visible to every worker at once.
    """
    created = set()
    for day in sorted(days - known):
        # Another worker may create it between our check and our CREATE.
        with contextlib.suppress(psycopg.errors.DuplicateTable):
            conn.execute(create_partition_sql(day))
        created.add(day)
    return known | created


def ensure_ahead(conn: psycopg.Connection, *, today: date, ahead_days: int, behind_days: int = 1) -> int:
    known = existing_days(conn)
    wanted = {today + timedelta(days=d) for d in range(-behind_days, ahead_days + 1)}
    return len(ensure_days(conn, wanted, known) - known)


def drop_older_than(conn: psycopg.Connection, *, cutoff: date) -> list[str]:
    """Drops whole partitions whose day ends before ``cutoff``; returns their names."""
    dropped = []
    for day in sorted(existing_days(conn)):
        if day < cutoff:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(partition_name(day))))
            dropped.append(partition_name(day))
    return dropped
