"""Retention of raw readings: drop what is older than ``retention_days``."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg

from server.db.migrate import StorageMode
from server.db.partitions import drop_older_than


def apply_retention(conn: psycopg.Connection, *, mode: StorageMode, retention_days: int, today: date) -> str:
    if mode == "timescaledb":
        # TimescaleDB's documented policy API; replacing the policy makes a changed setting take effect.
        conn.execute("SELECT remove_retention_policy('readings', if_exists => true)")
        conn.execute(
            "SELECT add_retention_policy('readings', drop_after => make_interval(days => %s))",
            (retention_days,),
        )
        return f"retention policy {retention_days} days"
    dropped = drop_older_than(conn, cutoff=today - timedelta(days=retention_days))
    return f"dropped {len(dropped)} partitions"
