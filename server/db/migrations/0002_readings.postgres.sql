-- Readings on plain PostgreSQL (no TimescaleDB): native range partitions per UTC day, created ahead
-- by the server (server/db/partitions.py), BRIN on time, and an hourly rollup table that the server
-- maintains (server/db/rollup.py). The TimescaleDB twin of this file is 0002_readings.timescale.sql;
-- both expose the same tables and columns, so one set of queries serves either.

CREATE TABLE readings (
    lamp_key    integer          NOT NULL,
    seq         bigint           NOT NULL,
    ts          timestamptz      NOT NULL,
    p           real             NOT NULL,
    v           real             NOT NULL,
    i           real             NOT NULL,
    pf          real             NOT NULL,
    e           double precision NOT NULL,
    dim         smallint         NOT NULL,
    t           real,
    f           integer,
    cv          integer,
    -- Ingestion quality flags (bit 0: energy counter went backwards).
    q           smallint         NOT NULL DEFAULT 0,
    ingested_at timestamptz      NOT NULL DEFAULT now()
) PARTITION BY RANGE (ts);

-- Idempotent storage: a partitioned table's unique index must contain the partition key.
CREATE UNIQUE INDEX readings_lamp_seq_ts ON readings (lamp_key, seq, ts);
CREATE INDEX readings_ts_brin ON readings USING brin (ts);

CREATE TABLE readings_hourly (
    lamp_key  integer          NOT NULL,
    bucket    timestamptz      NOT NULL,
    energy_wh double precision NOT NULL,
    mean_p    double precision NOT NULL,
    samples   integer          NOT NULL,
    PRIMARY KEY (lamp_key, bucket)
);

-- Hours whose rollup must be recomputed, marked by ingestion (late journal replays included).
CREATE TABLE rollup_dirty (
    bucket    timestamptz PRIMARY KEY,
    marked_at timestamptz NOT NULL DEFAULT now()
);
