-- Faults and maintenance alerts (docs/faults.md): crews, alerts with their lifecycle and history,
-- comments. Subscriptions and the notification outbox are in 0031_notifications.sql.

CREATE TABLE crews (
    id          terang_id PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Districts whose alerts this crew receives; an empty list makes it the site's fallback crew.
    districts   text[] NOT NULL DEFAULT '{}',
    -- Language of the texts sent to the crew: Bahasa Indonesia or English.
    language    text NOT NULL DEFAULT 'id' CHECK (language IN ('id', 'en')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id          terang_id NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    fault_type       text NOT NULL,
    -- What failed: one lamp, a whole cabinet (outage, supply voltage) or a gateway.
    subject_type     text NOT NULL CHECK (subject_type IN ('lamp', 'cabinet', 'gateway')),
    subject_id       terang_id NOT NULL,
    district_id      terang_id,
    cabinet_id       terang_id,
    severity         text NOT NULL CHECK (severity IN ('critical', 'major', 'minor')),
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'acknowledged', 'in_progress', 'resolved', 'closed')),
    -- A lamp alert explained by a cabinet outage or a gateway down: kept, but nobody is sent out for it.
    suppressed_by    bigint REFERENCES alerts (id) ON DELETE SET NULL,
    crew_id          terang_id REFERENCES crews (id) ON DELETE SET NULL,
    -- Times on the fault engine's clock (the simulator runs it faster than the wall clock).
    first_evidence_at timestamptz NOT NULL,
    detected_at      timestamptz NOT NULL,
    cleared_at       timestamptz,
    acknowledged_at  timestamptz,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    escalation_level integer NOT NULL DEFAULT 0,
    escalated_at     timestamptz,
    -- Times the condition came back soon after clearing; a flapping alert stays quiet.
    flaps            integer NOT NULL DEFAULT 0,
    evidence         jsonb NOT NULL DEFAULT '{}',
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- One live alert per subject and fault type.
CREATE UNIQUE INDEX alerts_one_live ON alerts (subject_type, subject_id, fault_type)
    WHERE status IN ('open', 'acknowledged', 'in_progress');
CREATE INDEX alerts_site_status_idx ON alerts (site_id, status, detected_at DESC);
CREATE INDEX alerts_crew_idx ON alerts (crew_id, status) WHERE crew_id IS NOT NULL;
CREATE INDEX alerts_subject_idx ON alerts (subject_type, subject_id, fault_type, detected_at DESC);

-- The full history: every transition, assignment, escalation, suppression and comment.
CREATE TABLE alert_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id    bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT now(),
    -- A username, or "engine" for the fault engine.
    actor       text NOT NULL,
    action      text NOT NULL CHECK (action IN ('opened', 'acknowledged', 'started', 'resolved', 'closed',
                                                'reopened', 'escalated', 'assigned', 'suppressed',
                                                'unsuppressed', 'cleared', 'commented')),
    from_status text,
    to_status   text,
    note        text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert_idx ON alert_events (alert_id, id);

CREATE TABLE alert_comments (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id  bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at        timestamptz NOT NULL DEFAULT now(),
    author    text NOT NULL,
    body      text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000)
);
CREATE INDEX alert_comments_alert_idx ON alert_comments (alert_id, id);

-- Listeners (the SSE stream, the notifier) wake on every history row.
CREATE FUNCTION alert_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('terang_alerts', NEW.id::text);
    RETURN NULL;
END $$;
CREATE TRIGGER alert_events_notify AFTER INSERT ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_notify();
