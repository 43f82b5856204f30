"""Writes one batch of ingested messages in one transaction and computes the new watermarks.

Readings whose seq is above the lamp's highest stored seq cannot already be stored, so they are
COPYed straight into ``readings``. The rest (replays, re-sends, gap fills) go through a staging
table and ``INSERT ... ON CONFLICT DO NOTHING``, because COPY cannot skip duplicates. The lamps'
status rows are locked for the transaction, which keeps workers sharing a subscription consistent.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
import psycopg
from psycopg import sql

from server.db import partitions
from server.ingest import watermark
from server.ingest.messages import DeviceMessage, Rejected

log = logging.getLogger(__name__)

READING_COLUMNS = ("lamp_key", "seq", "ts", "p", "v", "i", "pf", "e", "dim", "t", "f", "cv", "q", "ingested_at")
_COPY_TYPES = ["int4", "int8", "timestamptz", "float4", "float4", "float4", "float4", "float8",
               "int2", "float4", "int4", "int4", "int2", "timestamptz"]
# Quality flag bits in readings.q.
Q_ENERGY_BACKWARDS = 1

_fromts = datetime.fromtimestamp


@dataclass(slots=True)
class LampReadings:
    site_id: str
    lamp_id: str
    # (seq, ts) -> reading tuple; a reading repeated within one batch is written once.
    readings: dict[tuple[int, int], tuple[Any, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    lamps: dict[int, LampReadings] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    device_messages: list[tuple[int | None, DeviceMessage]] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    readings_in: int = 0
    # Receive time of the worker's very first message, for throughput measurements.
    first_message_at: float | None = None

    def __len__(self) -> int:
        return self.readings_in + len(self.rejected) + len(self.device_messages)


@dataclass(frozen=True, slots=True)
class Ack:
    site_id: str
    lamp_id: str
    seq: int
    missing: list[list[int]]


@dataclass(slots=True)
class FlushResult:
    stored: int = 0
    duplicates: int = 0
    acks: list[Ack] = field(default_factory=list)


class Writer:
    """Owns one connection; creates its staging table and the partitions it needs."""

    def __init__(
        self,
        conn: psycopg.AsyncConnection,
        *,
        mode: str,
        worker_id: str,
        payload_cap: int,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.conn = conn
        # Receive time stamped on readings and lamp status; the fault evaluation runs it on simulated time.
        self.clock = clock or _utcnow
        self.mode = mode
        self.worker_id = worker_id
        self.payload_cap = payload_cap
        self._known_days: set[date] = set()
        self._staging_ready = False

    async def _prepare(self) -> None:
        if not self._staging_ready:
            async with self.conn.transaction():
                await self.conn.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS readings_staging"
                    " (LIKE readings INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
                )
            self._staging_ready = True

    async def _ensure_partitions(self, batch: Batch) -> None:
        if self.mode != "postgres":
            return
        days = {
            _fromts(key[1], UTC).date() for lamp in batch.lamps.values() for key in lamp.readings
        }
        if days <= self._known_days:
            return
        async with self.conn.transaction():
            cur = await self.conn.execute(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = 'readings'::regclass"
            )
            existing = {
                datetime.strptime(name[len(partitions.PARTITION_PREFIX):], "%Y%m%d").date()
                for (name,) in await cur.fetchall()
                if name.startswith(partitions.PARTITION_PREFIX)
            }
        for day in sorted(days - existing):
            try:
                async with self.conn.transaction():
                    await self.conn.execute(partitions.create_partition_sql(day))
            except psycopg.errors.DuplicateTable:
                pass  # another worker created it first
        self._known_days = existing | days

    async def write(self, batch: Batch) -> FlushResult:
        await self._prepare()
        await self._ensure_partitions(batch)
        try:
            return await self._write(batch, fast_path=True)
        except psycopg.errors.UniqueViolation:
            # Someone stored readings behind ingestion's back, so "above the highest stored seq"
            # did not mean "new": write everything through the de-duplicating path.
            log.warning("fast path hit an existing reading; retrying batch through staging")
            return await self._write(batch, fast_path=False)

    async def _write(self, batch: Batch, *, fast_path: bool) -> FlushResult:
        now = self.clock()
        result = FlushResult()
        # A drop event settles a range of seqs the device lost for good (docs/protocol.md section 5).
        drops: dict[int, list[tuple[int, int]]] = defaultdict(list)
        names: dict[int, tuple[str, str]] = {k: (v.site_id, v.lamp_id) for k, v in batch.lamps.items()}
        for key, msg in batch.device_messages:
            if key is not None and msg.kind == "event" and msg.body.get("ev") == "drop":
                drops[key].append((int(msg.body["from"]), int(msg.body["to"])))
                names.setdefault(key, (msg.site_id, msg.device_id))
        keys = sorted(names)
        async with self.conn.transaction():
            status = await self._lock_status(keys)
            fast: list[tuple[Any, ...]] = []
            slow: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            hours: set[int] = set()
            for key in keys:
                ack, pending, last_seq, last_e = status[key]
                for first, last in drops.get(key, ()):
                    ack, pending = watermark.skip_lost(ack, pending, first, last)
                site_id, lamp_id = names[key]
                lamp = batch.lamps.get(key) or LampReadings(site_id, lamp_id)
                prev_e = last_e
                newest: tuple[Any, ...] | None = None
                for (seq, ts), r in sorted(lamp.readings.items()):
                    hours.add(ts - ts % 3600)
                    if fast_path and (last_seq is None or seq > last_seq):
                        e = r[6]
                        q = Q_ENERGY_BACKWARDS if prev_e is not None and e < prev_e else 0
                        prev_e = e
                        fast.append((key, seq, _fromts(ts, UTC), r[2], r[3], r[4], r[5], e, r[7],
                                     r[8], r[9], r[10], q, now))
                        newest = r
                    else:
                        slow.append((key, seq, _fromts(ts, UTC), r[2], r[3], r[4], r[5], r[6], r[7],
                                     r[8], r[9], r[10], 0, now))
                        if not fast_path and (last_seq is None or seq > last_seq):
                            newest = r
                seqs = [s for s, _ in lamp.readings]
                new_ack, new_pending = watermark.advance(ack, pending, seqs)
                missing = watermark.missing_ranges(new_ack, new_pending)
                if newest is None:
                    updates.append((key, new_ack, _pg_array(new_pending), None, None, None, None, None,
                                    None, None, None, None, None, None, now))
                else:
                    n = newest
                    updates.append((key, new_ack, _pg_array(new_pending), n[0], _fromts(n[1], UTC),
                                    n[2], n[3], n[4], n[5], n[6], n[7], n[8], n[9], n[10], now))
                result.acks.append(Ack(site_id, lamp_id, new_ack, missing))

            if fast:
                await self._copy("readings", fast)
            stored_slow = 0
            if slow:
                await self._copy("readings_staging", slow)
                cur = await self.conn.execute(
                    "INSERT INTO readings SELECT * FROM readings_staging ON CONFLICT DO NOTHING"
                )
                stored_slow = max(cur.rowcount, 0)
            result.stored = len(fast) + stored_slow
            result.duplicates = batch.readings_in - result.stored
            if updates:
                await self._update_status(updates)
            if hours and self.mode == "postgres":
                await self.conn.execute(
                    "INSERT INTO rollup_dirty (bucket, marked_at)"
                    " SELECT to_timestamp(h), now() FROM unnest(%s::bigint[]) AS h"
                    " ON CONFLICT (bucket) DO UPDATE SET marked_at = now()",
                    (sorted(hours),),
                )
            await self._write_device_messages(batch)
            await self._write_dead_letters(batch.rejected)
            counters = dict(batch.counters)
            counters["readings_stored"] = counters.get("readings_stored", 0) + result.stored
            counters["duplicates"] = counters.get("duplicates", 0) + result.duplicates
            await self._add_counters(counters)
            await self.conn.execute(
                "INSERT INTO ingest_workers (worker_id, first_message_at, last_flush_at) VALUES (%s, %s, now())"
                " ON CONFLICT (worker_id) DO UPDATE SET last_flush_at = now(),"
                " first_message_at = COALESCE(ingest_workers.first_message_at, EXCLUDED.first_message_at)",
                (self.worker_id, None if batch.first_message_at is None else _fromts(batch.first_message_at, UTC)),
            )
        return result

    async def _lock_status(self, keys: list[int]) -> dict[int, tuple[int, list[int], int | None, float | None]]:
        if not keys:
            return {}
        query = (
            "SELECT lamp_key, ack_seq, pending, last_seq, last_e FROM lamp_status"
            " WHERE lamp_key = ANY(%s) ORDER BY lamp_key FOR UPDATE"
        )
        cur = await self.conn.execute(query, (keys,))
        rows = await cur.fetchall()
        if len(rows) < len(keys):
            # Status rows are made with the lamp; this covers lamps created before that trigger.
            await self.conn.execute(
                "INSERT INTO lamp_status (lamp_key) SELECT unnest(%s::int[]) ON CONFLICT DO NOTHING", (keys,)
            )
            cur = await self.conn.execute(query, (keys,))
            rows = await cur.fetchall()
        return {k: (ack, list(pending), last_seq, last_e) for k, ack, pending, last_seq, last_e in rows}

    async def _copy(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        cols = sql.SQL(", ").join(map(sql.Identifier, READING_COLUMNS))
        stmt = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), cols)
        async with self.conn.cursor().copy(stmt) as copy:
            copy.set_types(_COPY_TYPES)
            for row in rows:
                await copy.write_row(row)

    async def _update_status(self, updates: list[tuple[Any, ...]]) -> None:
        columns = list(zip(*updates, strict=True))
        await self.conn.execute(
            """
            UPDATE lamp_status s SET
                ack_seq = u.ack, pending = u.pending::bigint[],
                last_seq = COALESCE(u.seq, s.last_seq), last_ts = COALESCE(u.ts, s.last_ts),
                last_p = COALESCE(u.p, s.last_p), last_v = COALESCE(u.v, s.last_v),
                last_i = COALESCE(u.i, s.last_i), last_pf = COALESCE(u.pf, s.last_pf),
                last_e = COALESCE(u.e, s.last_e), last_dim = COALESCE(u.dim, s.last_dim),
                last_t = CASE WHEN u.seq IS NULL THEN s.last_t ELSE u.t END,
                last_f = CASE WHEN u.seq IS NULL THEN s.last_f ELSE u.f END,
                last_cv = CASE WHEN u.seq IS NULL THEN s.last_cv ELSE u.cv END,
                last_seen = u.seen
            FROM unnest(%s::int[], %s::bigint[], %s::text[], %s::bigint[], %s::timestamptz[],
                        %s::real[], %s::real[], %s::real[], %s::real[], %s::float8[], %s::smallint[],
                        %s::real[], %s::int[], %s::int[], %s::timestamptz[])
                 AS u(lamp_key, ack, pending, seq, ts, p, v, i, pf, e, dim, t, f, cv, seen)
            WHERE s.lamp_key = u.lamp_key
            """,
            [list(c) for c in columns],
        )

    async def _write_device_messages(self, batch: Batch) -> None:
        for key, msg in batch.device_messages:
            body = orjson.dumps(msg.body).decode()
            at = _fromts(msg.received_at, UTC)
            if msg.device_class == "gw":
                await self.conn.execute(
                    "UPDATE gateways SET health = %s::jsonb, health_at = %s WHERE id = %s AND site_id = %s",
                    (body, at, msg.device_id, msg.site_id),
                )
            elif key is None:
                continue
            elif msg.kind == "state":
                online = _is_online(msg.body)
                await self.conn.execute(
                    "UPDATE lamp_status SET online = %s, state = %s::jsonb, state_at = %s WHERE lamp_key = %s",
                    (online, body, at, key),
                )
            else:
                ev = msg.body
                ref = ev.get("id", ev.get("from", 0))
                await self.conn.execute(
                    "INSERT INTO lamp_events (lamp_key, ts, kind, ref, body, received_at)"
                    " VALUES (%s, %s, %s, %s, %s::jsonb, %s) ON CONFLICT DO NOTHING",
                    (key, _fromts(ev["ts"], UTC), ev["ev"], int(ref) if isinstance(ref, int) else 0, body, at),
                )

    async def _write_dead_letters(self, rejected: list[Rejected]) -> None:
        if not rejected:
            return
        cap = self.payload_cap
        async with self.conn.cursor().copy(
            "COPY dead_letters (received_at, topic, payload, payload_size, reason, detail) FROM STDIN"
        ) as copy:
            for r in rejected:
                await copy.write_row((_fromts(r.received_at, UTC), r.topic[:512], r.payload[:cap],
                                      len(r.payload), r.reason, r.detail[:1000]))

    async def _add_counters(self, counters: dict[str, int]) -> None:
        items = [(self.worker_id, k, v) for k, v in counters.items() if v]
        if not items:
            return
        await self.conn.cursor().executemany(
            "INSERT INTO ingest_counters (worker_id, metric, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (worker_id, metric) DO UPDATE"
            " SET value = ingest_counters.value + EXCLUDED.value, updated_at = now()",
            items,
        )


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _pg_array(values: list[int]) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def _is_online(body: Any) -> bool | None:
    state = body.get("st", body.get("state")) if isinstance(body, dict) else None
    if state == "online":
        return True
    if state == "offline":
        return False
    return None
