"""Numbered SQL migrations, applied in order, each once.

Files are ``NNNN_name.sql`` (both storage modes) or ``NNNN_name.<mode>.sql`` (only that mode, where
mode is ``timescaledb`` or ``postgres``). The mode is chosen once, at the first migration: TimescaleDB
when ``CREATE EXTENSION timescaledb`` succeeds, plain PostgreSQL otherwise; it is recorded in the
database and never changes afterwards.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

import psycopg

log = logging.getLogger(__name__)

StorageMode = Literal["timescaledb", "postgres"]
_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+?)(?:\.(timescale|postgres))?\.sql$")
# Serialises concurrent migrators (several server processes starting together).
_LOCK_ID = 0x7465_7261_6E67_0001


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    mode: StorageMode | None
    sql: str


def available() -> list[Migration]:
    found: dict[tuple[int, str | None], Migration] = {}
    for entry in resources.files("server.db.migrations").iterdir():
        m = _FILE.match(entry.name)
        if m is None:
            continue
        mode: StorageMode | None = None
        if m.group(3) == "timescale":
            mode = "timescaledb"
        elif m.group(3) == "postgres":
            mode = "postgres"
        found[(int(m.group(1)), mode)] = Migration(int(m.group(1)), m.group(2), mode, entry.read_text())
    return sorted(found.values(), key=lambda mig: (mig.version, mig.mode or ""))


def _choose_mode(conn: psycopg.Connection, wanted: str) -> StorageMode:
    if wanted == "postgres":
        return "postgres"
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    except psycopg.Error as exc:
        if wanted == "timescaledb":
            raise MigrationError(f"storage_mode=timescaledb but the extension is unavailable: {exc}") from exc
        log.info("TimescaleDB unavailable (%s); using plain PostgreSQL partitions", exc.diag.message_primary)
        return "postgres"
    return "timescaledb"


def migrate(url: str, *, storage_mode: str = "auto") -> tuple[StorageMode, list[str]]:
    """Applies pending migrations; returns the storage mode and the names applied now."""
    applied_now: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_ID,))
        try:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS storage_info ("
                " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
                " mode text NOT NULL CHECK (mode IN ('timescaledb', 'postgres')))"
            )
            row = conn.execute("SELECT mode FROM storage_info").fetchone()
            if row is None:
                mode = _choose_mode(conn, storage_mode)
                conn.execute("INSERT INTO storage_info (mode) VALUES (%s)", (mode,))
            else:
                mode = row[0]
                if storage_mode not in ("auto", mode):
                    raise MigrationError(f"database was created in {mode} mode; storage_mode={storage_mode}")
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for mig in available():
                if mig.version in done or mig.mode not in (None, mode):
                    continue
                with conn.transaction():
                    conn.execute(mig.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (mig.version, mig.name),
                    )
                applied_now.append(f"{mig.version:04d}_{mig.name}")
                log.info("applied migration %04d_%s", mig.version, mig.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_ID,))
    return mode, applied_now


def storage_mode_of(conn: psycopg.Connection) -> StorageMode:
    row = conn.execute("SELECT mode FROM storage_info").fetchone()
    if row is None:
        raise MigrationError("database is not migrated; run `terang db migrate`")
    mode: StorageMode = row[0]
    return mode
