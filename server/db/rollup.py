"""Hourly rollup of energy and mean power in plain-PostgreSQL mode.

Ingestion marks the hours it wrote into ``rollup_dirty``; this job recomputes exactly those hours.
With TimescaleDB the same ``readings_hourly`` relation is a continuous aggregate and this job is idle.
"""

from __future__ import annotations

import psycopg

_RECOMPUTE = """
INSERT INTO readings_hourly (lamp_key, bucket, energy_wh, mean_p, samples)
SELECT lamp_key, %(bucket)s, max(e) - min(e), avg(p), count(*)
FROM readings
WHERE ts >= %(bucket)s AND ts < %(bucket)s + INTERVAL '1 hour'
GROUP BY lamp_key
ON CONFLICT (lamp_key, bucket) DO UPDATE
    SET energy_wh = EXCLUDED.energy_wh, mean_p = EXCLUDED.mean_p, samples = EXCLUDED.samples
"""


def refresh_dirty_hours(conn: psycopg.Connection, *, limit: int = 500) -> int:
    """Recomputes up to ``limit`` dirty hours, each in its own transaction; returns how many."""
    done = 0
    while done < limit:
        with conn.transaction():
            row = conn.execute(
                "SELECT bucket, marked_at FROM rollup_dirty ORDER BY bucket LIMIT 1 FOR UPDATE SKIP LOCKED"
            ).fetchone()
            if row is None:
                break
            bucket, marked_at = row
            conn.execute(_RECOMPUTE, {"bucket": bucket})
            # A mark newer than the one we read means more readings arrived meanwhile: keep it.
            conn.execute("DELETE FROM rollup_dirty WHERE bucket = %s AND marked_at = %s", (bucket, marked_at))
        done += 1
    return done
