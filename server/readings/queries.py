"""Raw and time-bucketed reading queries for one lamp.

``date_bin`` (PostgreSQL >= 14) rather than TimescaleDB's ``time_bucket`` keeps one query for
both storage modes; range predicates on ``ts`` let either engine prune chunks or partitions.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

# Buckets align to this origin (a Monday, midnight UTC), so daily and weekly buckets are stable.
BUCKET_ORIGIN = "2001-01-01T00:00:00Z"

_RAW = """
SELECT seq, ts, p, v, i, pf, e, dim, t, f, cv, q
FROM readings
WHERE lamp_key = %(key)s AND ts >= %(start)s AND ts < %(end)s
ORDER BY ts, seq
LIMIT %(limit)s
"""

_BUCKETED = """
SELECT date_bin(%(bucket)s, ts, %(origin)s::timestamptz) AS bucket,
       count(*)::int AS samples,
       avg(p)::float8 AS p_mean, min(p)::float8 AS p_min, max(p)::float8 AS p_max,
       avg(v)::float8 AS v_mean, min(v)::float8 AS v_min, max(v)::float8 AS v_max,
       avg(i)::float8 AS i_mean, avg(pf)::float8 AS pf_mean,
       (max(e) - min(e))::float8 AS energy_wh,
       avg(dim)::float8 AS dim_mean,
       bit_or(COALESCE(f, 0)) AS f_any
FROM readings
WHERE lamp_key = %(key)s AND ts >= %(start)s AND ts < %(end)s
GROUP BY 1
ORDER BY 1
"""


async def raw(
    conn: psycopg.AsyncConnection[Any], *, lamp_key: int, start: datetime, end: datetime, limit: int
) -> list[dict[str, Any]]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        _RAW, {"key": lamp_key, "start": start, "end": end, "limit": limit}
    )
    return await cur.fetchall()


async def bucketed(
    conn: psycopg.AsyncConnection[Any], *, lamp_key: int, start: datetime, end: datetime, bucket: timedelta
) -> list[dict[str, Any]]:
    cur = await conn.cursor(row_factory=dict_row).execute(
        _BUCKETED, {"key": lamp_key, "start": start, "end": end, "bucket": bucket, "origin": BUCKET_ORIGIN}
    )
    return await cur.fetchall()
