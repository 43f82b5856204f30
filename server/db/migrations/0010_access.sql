-- Access: API users and tokens, login throttling, the audit log, and per-device MQTT accounts.

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._@-]{0,63}$'),
    display_name  text CHECK (length(display_name) <= 200),
    -- Argon2id, in the PHC string format argon2-cffi writes.
    password_hash text NOT NULL,
    roles         text[] NOT NULL CHECK (
        cardinality(roles) >= 1
        AND roles <@ ARRAY['admin', 'operator', 'technician', 'crew', 'viewer']::text[]),
    -- The maintenance crew of a crew-role user; no foreign key: crews belong to the alerts part.
    crew_id       text CHECK (crew_id ~ '^[A-Za-z0-9_-]{1,32}$'),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);

-- Both the short-lived tokens a login returns ('session') and long-lived integration tokens ('api').
-- Only a SHA-256 of the token is kept: tokens are 256-bit random strings, so a slow hash adds nothing.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('session', 'api')),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    -- The token's first characters, so people can tell their tokens apart without the secret.
    prefix       text NOT NULL,
    -- Roles the token may exercise (a subset of its user's, checked at use); NULL: all of them.
    scopes       text[] CHECK (scopes <@ ARRAY['admin', 'operator', 'technician', 'crew', 'viewer']::text[]),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at DESC);

-- Failed logins in the throttling window, per attempted username and per client address.
CREATE TABLE login_failures (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    username text NOT NULL,
    client   text NOT NULL
);
CREATE INDEX login_failures_username_idx ON login_failures (username, at);
CREATE INDEX login_failures_client_idx ON login_failures (client, at);

-- Every mutating API request, refused ones included: who, when, what, from where, and the outcome.
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text,
    via     text,
    client  text,
    method  text NOT NULL,
    path    text NOT NULL,
    query   text NOT NULL DEFAULT '',
    status  integer NOT NULL,
    detail  jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);

-- MQTT accounts: one per lamp controller and gateway, plus service accounts for the server.
-- The hash is in Mosquitto's own password-file format, so the file is written without the secret.
CREATE TABLE mqtt_accounts (
    username      text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_.-]{1,100}$'),
    kind          text NOT NULL CHECK (kind IN ('lamp', 'gw', 'service')),
    site_id       text,
    device_id     text,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz,
    CHECK ((kind = 'service') = (site_id IS NULL AND device_id IS NULL))
);
CREATE UNIQUE INDEX mqtt_accounts_device_idx ON mqtt_accounts (kind, site_id, device_id) WHERE kind <> 'service';
