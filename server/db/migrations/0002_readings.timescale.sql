-- Readings on TimescaleDB. All TimescaleDB-specific SQL of the project lives in this file (and the
-- retention policy call in server/db/retention.py), written against the documented 2.x API:
-- create_hypertable/by_range, compression settings and policy, continuous aggregates and policy.
-- The plain-PostgreSQL twin is 0002_readings.postgres.sql; both expose the same tables and columns.

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
    q           smallint         NOT NULL DEFAULT 0,
    ingested_at timestamptz      NOT NULL DEFAULT now()
);

SELECT create_hypertable('readings', by_range('ts', INTERVAL '1 day'));

-- A hypertable's unique index must contain its time column.
CREATE UNIQUE INDEX readings_lamp_seq_ts ON readings (lamp_key, seq, ts);

ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'lamp_key',
    timescaledb.compress_orderby = 'ts DESC, seq DESC'
);
SELECT add_compression_policy('readings', compress_after => INTERVAL '7 days');

CREATE MATERIALIZED VIEW readings_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT lamp_key,
       time_bucket(INTERVAL '1 hour', ts) AS bucket,
       (max(e) - min(e))::double precision AS energy_wh,
       avg(p)::double precision AS mean_p,
       count(*)::integer AS samples
FROM readings
GROUP BY lamp_key, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;

-- Journal replays arrive up to days late; refresh a window as wide as the compression horizon.
SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => INTERVAL '7 days',
    end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes');

-- Kept for schema parity with the plain-PostgreSQL mode; unused with TimescaleDB.
CREATE TABLE rollup_dirty (
    bucket    timestamptz PRIMARY KEY,
    marked_at timestamptz NOT NULL DEFAULT now()
);
