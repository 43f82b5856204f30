"""Plain-PostgreSQL storage jobs: partitions ahead, hourly rollup, retention."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from psycopg import conninfo, sql

from server.db import partitions, retention, rollup
from server.db.migrate import migrate
from tests.conftest import RUN_TAG


@pytest.fixture
def conn(postgres_server_url: str) -> Iterator[psycopg.Connection]:
    name = f"terang_jobs_{RUN_TAG}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = conninfo.make_conninfo(postgres_server_url, dbname=name)
    migrate(url, storage_mode="postgres")
    with psycopg.connect(url, autocommit=True) as c:
        yield c
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _insert(conn: psycopg.Connection, key: int, seq: int, ts: datetime, p: float, e: float) -> None:
    conn.execute(
        "INSERT INTO readings (lamp_key, seq, ts, p, v, i, pf, e, dim)"
        " VALUES (%s, %s, %s, %s, 220, 0.4, 0.95, %s, 100)",
        (key, seq, ts, p, e),
    )


def test_partitions_are_created_ahead(conn: psycopg.Connection) -> None:
    today = date(2026, 11, 28)
    created = partitions.ensure_ahead(conn, today=today, ahead_days=3)
    assert created == 5  # yesterday, today and three days ahead
    assert partitions.existing_days(conn) == {today + timedelta(days=d) for d in range(-1, 4)}


def test_creating_partitions_again_creates_none(conn: psycopg.Connection) -> None:
    partitions.ensure_ahead(conn, today=date(2026, 11, 28), ahead_days=3)
    assert partitions.ensure_ahead(conn, today=date(2026, 11, 28), ahead_days=3) == 0


def test_retention_drops_only_partitions_older_than_the_cutoff(conn: psycopg.Connection) -> None:
    partitions.ensure_ahead(conn, today=date(2026, 11, 28), ahead_days=0, behind_days=5)
    retention.apply_retention(conn, mode="postgres", retention_days=2, today=date(2026, 11, 28))
    assert min(partitions.existing_days(conn)) == date(2026, 11, 26)


def test_rollup_sums_energy_and_mean_power_of_dirty_hours(conn: psycopg.Connection) -> None:
    hour = datetime(2026, 11, 27, 18, tzinfo=UTC)
    partitions.ensure_ahead(conn, today=hour.date(), ahead_days=1)
    for n in range(4):
        _insert(conn, 1, n, hour + timedelta(minutes=15 * n), p=80 + n, e=1000 + 20 * n)
    conn.execute("INSERT INTO rollup_dirty (bucket) VALUES (%s)", (hour,))
    assert rollup.refresh_dirty_hours(conn) == 1
    row = conn.execute("SELECT energy_wh, mean_p, samples FROM readings_hourly WHERE lamp_key = 1").fetchone()
    assert row == (60.0, 81.5, 4)
    assert conn.execute("SELECT count(*) FROM rollup_dirty").fetchone() == (0,)
