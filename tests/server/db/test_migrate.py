"""Numbered migrations: applied once, in order, in the storage mode the database supports."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from typing import Any

import pglast
import psycopg
import pytest
from psycopg import conninfo, sql

from server.db.migrate import available, migrate
from tests.conftest import RUN_TAG

_SCHEMA = """
SELECT 'col', table_name || '.' || column_name || ':' || data_type || ':' || is_nullable
  FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL SELECT 'idx', indexname || ':' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL SELECT 'con', conname || ':' || pg_get_constraintdef(oid) FROM pg_constraint
  WHERE connamespace = 'public'::regnamespace
UNION ALL SELECT 'trg', tgname FROM pg_trigger WHERE NOT tgisinternal
UNION ALL SELECT 'fn', proname FROM pg_proc WHERE pronamespace = 'public'::regnamespace
ORDER BY 1, 2
"""


@pytest.fixture
def scratch_url(postgres_server_url: str) -> Iterator[str]:
    name = f"terang_mig_{RUN_TAG}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield conninfo.make_conninfo(postgres_server_url, dbname=name)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _schema(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return [(kind, text) for kind, text in conn.execute(_SCHEMA).fetchall()]


def test_first_migration_applies_every_file_of_its_mode(scratch_url: str) -> None:
    mode, applied = migrate(scratch_url)
    expected = [f"{m.version:04d}_{m.name}" for m in available() if m.mode in (None, mode)]
    assert applied == expected


def test_migrations_applied_twice_change_nothing(scratch_url: str) -> None:
    migrate(scratch_url)
    before = _schema(scratch_url)
    _, applied = migrate(scratch_url)
    assert applied == []
    assert _schema(scratch_url) == before


def test_without_timescaledb_the_plain_postgres_mode_is_chosen(scratch_url: str) -> None:
    with psycopg.connect(scratch_url) as conn:
        has_timescale = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
        ).fetchone()
    mode, _ = migrate(scratch_url)
    assert mode == ("timescaledb" if has_timescale else "postgres")


def test_recorded_mode_cannot_be_switched(scratch_url: str) -> None:
    migrate(scratch_url, storage_mode="postgres")
    with pytest.raises(RuntimeError, match="postgres mode"):
        migrate(scratch_url, storage_mode="timescaledb")


def test_every_migration_file_is_valid_postgresql_syntax() -> None:
    # The TimescaleDB file cannot run here (the extension is not packaged), but it must parse.
    for entry in resources.files("server.db.migrations").iterdir():
        if entry.name.endswith(".sql"):
            pglast.parse_sql(entry.read_text())


def test_both_modes_define_the_same_readings_columns() -> None:
    def columns(name: str) -> list[str]:
        text = resources.files("server.db.migrations").joinpath(name).read_text()
        stmt: Any = next(s.stmt for s in pglast.parse_sql(text) if type(s.stmt).__name__ == "CreateStmt")
        return [elt.colname for elt in stmt.tableElts if hasattr(elt, "colname")]

    assert columns("0002_readings.postgres.sql") == columns("0002_readings.timescale.sql")
