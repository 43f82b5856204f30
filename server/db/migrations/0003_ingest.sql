-- Ingestion state: per-lamp watermark and latest reading, dead letters, counters, device events.

CREATE TABLE lamp_status (
    lamp_key   integer PRIMARY KEY REFERENCES lamps (key) ON DELETE CASCADE,
    -- Highest seq such that every reading up to it is stored or declared lost by the device;
    -- 0 while nothing is stored (sequences start at 1). docs/protocol.md section 5.
    ack_seq    bigint NOT NULL DEFAULT 0,
    -- Stored seqs above ack_seq, waiting for the gap below them to be filled.
    pending    bigint[] NOT NULL DEFAULT '{}',
    last_seq   bigint,
    last_ts    timestamptz,
    last_p     real,
    last_v     real,
    last_i     real,
    last_pf    real,
    last_e     double precision,
    last_dim   smallint,
    last_t     real,
    last_f     integer,
    last_cv    integer,
    -- Server time of the latest telemetry message from this lamp.
    last_seen  timestamptz,
    -- From the retained state topic (online/offline via Last Will).
    online     boolean,
    state      jsonb,
    state_at   timestamptz
);

CREATE TABLE dead_letters (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text NOT NULL,
    -- Bounded copy of the raw payload (bytes: it may not be UTF-8).
    payload      bytea NOT NULL,
    payload_size integer NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason, received_at DESC);

-- One row per worker and metric; workers in several processes add to their own rows.
CREATE TABLE ingest_counters (
    worker_id  text NOT NULL,
    metric     text NOT NULL,
    value      bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (worker_id, metric)
);

CREATE TABLE lamp_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lamp_key    integer NOT NULL REFERENCES lamps (key) ON DELETE CASCADE,
    ts          timestamptz NOT NULL,
    kind        text NOT NULL,
    -- The event's own identity beyond (lamp, ts, kind): a command id or a drop's first seq.
    ref         bigint NOT NULL DEFAULT 0,
    body        jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    -- Events are re-sent like readings; storing one twice is a no-op.
    UNIQUE (lamp_key, ts, kind, ref)
);
CREATE INDEX lamp_events_lamp_idx ON lamp_events (lamp_key, ts DESC);

CREATE FUNCTION lamps_status_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lamp_status (lamp_key) VALUES (NEW.key) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER lamps_status_row AFTER INSERT ON lamps
    FOR EACH ROW EXECUTE FUNCTION lamps_status_row();

-- One row per ingestion worker: when it first received a message and when it last stored a batch.
CREATE TABLE ingest_workers (
    worker_id        text PRIMARY KEY,
    first_message_at timestamptz,
    last_flush_at    timestamptz NOT NULL DEFAULT now()
);
