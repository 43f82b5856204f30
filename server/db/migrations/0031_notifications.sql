-- Alert notifications (docs/faults.md, "Notifications"): what each crew wants to be told and how,
-- the outbox of deliveries, and how far the notifier has read the alert history.

CREATE TABLE crew_subscriptions (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    crew_id            terang_id NOT NULL REFERENCES crews (id) ON DELETE CASCADE,
    channel            text NOT NULL CHECK (channel IN ('webhook', 'email', 'mqtt')),
    -- A URL, an e-mail address, or for MQTT an optional suffix below the crew's alerts topic.
    target             text CHECK (length(target) BETWEEN 1 AND 2000),
    -- The HMAC-SHA256 key of webhook signatures; the API never shows it again.
    secret             text CHECK (length(secret) BETWEEN 16 AND 256),
    -- NULL: the crew's language.
    language           text CHECK (language IN ('id', 'en')),
    min_severity       text NOT NULL DEFAULT 'minor' CHECK (min_severity IN ('minor', 'major', 'critical')),
    -- NULL: every fault type.
    fault_types        text[] CHECK (cardinality(fault_types) >= 1),
    -- Which history actions (alert_events.action) are worth a message.
    actions            text[] NOT NULL DEFAULT '{opened,escalated,reopened}' CHECK (cardinality(actions) >= 1),
    -- A lamp alert explained by a cabinet outage or a gateway down sends nobody out, unless asked.
    include_suppressed boolean NOT NULL DEFAULT false,
    enabled            boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT crew_subscriptions_target_needed CHECK (channel = 'mqtt' OR target IS NOT NULL),
    CONSTRAINT crew_subscriptions_secret_for_webhooks CHECK ((channel = 'webhook') = (secret IS NOT NULL))
);
CREATE INDEX crew_subscriptions_crew_idx ON crew_subscriptions (crew_id, id);

-- One row per (history event, subscription): the unique key is what keeps a restarted or second
-- notifier from sending anything twice. The payload is frozen when the row is made, so a retry
-- days later says what was true at the time.
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        bigint NOT NULL REFERENCES alert_events (id) ON DELETE CASCADE,
    alert_id        bigint NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    -- Notifiers deliver for the sites they handle (TERANG_INGEST_SITES).
    site_id         terang_id NOT NULL,
    -- Deleting a subscription drops its deliveries: a webhook's secret is needed to send one.
    subscription_id bigint NOT NULL REFERENCES crew_subscriptions (id) ON DELETE CASCADE,
    channel         text NOT NULL CHECK (channel IN ('webhook', 'email', 'mqtt')),
    -- The resolved URL, address or full MQTT topic.
    target          text NOT NULL,
    -- pending: not tried yet; failed: tried, will be tried again; dead: given up.
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    -- Also a lease: a notifier claiming a row moves this forward while it sends.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    payload         jsonb NOT NULL,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX notifications_due_idx ON notifications (next_attempt_at) WHERE status IN ('pending', 'failed');
CREATE INDEX notifications_alert_idx ON notifications (alert_id, id);
CREATE INDEX notifications_subscription_idx ON notifications (subscription_id);

-- Every alert_events row up to this id has its notifications made. Events a transaction commits
-- out of id order are caught by the notifier's grace period (server/alerts/event_cursor.py).
CREATE TABLE notifier_cursor (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_event_id bigint NOT NULL
);
-- History written before notifications existed is not sent.
INSERT INTO notifier_cursor (last_event_id) SELECT COALESCE(max(id), 0) FROM alert_events;
