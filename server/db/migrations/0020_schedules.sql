-- Dimming schedules and control (issue 5): profiles, calendars and their rules, lamp groups,
-- assignments of calendars to site/district/cabinet/group/lamp, overrides with their audit trail,
-- and per lamp the compiled config (commanded version) the server publishes.
--
-- Every change that can alter a lamp's compiled config bumps its site's generation and notifies
-- 'terang_schedule'; the pusher (server/schedules/pusher.py) re-compiles that site's lamps.

-- Lets group members and assignments point at a lamp of their own site.
ALTER TABLE lamps ADD CONSTRAINT lamps_site_id_id_key UNIQUE (site_id, id);

CREATE TABLE schedule_state (
    site_id             terang_id PRIMARY KEY REFERENCES sites (id) ON DELETE CASCADE,
    generation          bigint NOT NULL DEFAULT 1,
    compiled_generation bigint NOT NULL DEFAULT 0,
    -- When the compiled configs change by the clock alone (an override ends, a new day).
    recompile_at        timestamptz
);

CREATE TABLE schedule_profiles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- Protocol form: [[anchor, minutes, level, fade_s], ...] (docs/protocol.md section 9).
    steps       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, name),
    UNIQUE (site_id, id)
);

CREATE TABLE schedule_calendars (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id            terang_id NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    default_profile_id bigint NOT NULL,
    -- The "default light state": what a lamp runs after losing contact with the server for long.
    fallback_level     smallint NOT NULL DEFAULT 100 CHECK (fallback_level BETWEEN 0 AND 100),
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, name),
    UNIQUE (site_id, id),
    CONSTRAINT schedule_calendars_default_profile_fkey FOREIGN KEY (site_id, default_profile_id)
        REFERENCES schedule_profiles (site_id, id)
);

CREATE TABLE schedule_calendar_rules (
    calendar_id bigint NOT NULL REFERENCES schedule_calendars (id) ON DELETE CASCADE,
    position    smallint NOT NULL,
    site_id     terang_id NOT NULL,
    profile_id  bigint NOT NULL,
    priority    integer NOT NULL DEFAULT 0,
    weekdays    smallint NOT NULL DEFAULT 127 CHECK (weekdays BETWEEN 1 AND 127),
    from_date   date,
    to_date     date,
    holidays    text,
    dates       date[] NOT NULL DEFAULT '{}',
    note        text CHECK (length(note) <= 200),
    PRIMARY KEY (calendar_id, position),
    CHECK (from_date IS NULL OR to_date IS NULL OR from_date <= to_date),
    CONSTRAINT schedule_calendar_rules_profile_fkey FOREIGN KEY (site_id, profile_id)
        REFERENCES schedule_profiles (site_id, id)
);

CREATE TABLE lamp_groups (
    id          terang_id PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, id)
);

CREATE TABLE lamp_group_members (
    group_id terang_id NOT NULL,
    site_id  terang_id NOT NULL,
    lamp_id  terang_id NOT NULL,
    PRIMARY KEY (group_id, lamp_id),
    FOREIGN KEY (site_id, group_id) REFERENCES lamp_groups (site_id, id) ON DELETE CASCADE,
    FOREIGN KEY (site_id, lamp_id) REFERENCES lamps (site_id, id) ON DELETE CASCADE
);
CREATE INDEX lamp_group_members_lamp_idx ON lamp_group_members (lamp_id);

CREATE TABLE schedule_assignments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    calendar_id bigint NOT NULL,
    target_type text NOT NULL CHECK (target_type IN ('site', 'district', 'cabinet', 'group', 'lamp')),
    district_id terang_id,
    cabinet_id  terang_id,
    group_id    terang_id,
    lamp_id     terang_id,
    -- Among a lamp's groups, the assignment with the highest priority wins.
    priority    integer NOT NULL DEFAULT 0,
    target_id   text GENERATED ALWAYS AS (COALESCE(lamp_id, group_id, cabinet_id, district_id, site_id)) STORED,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (target_type, target_id),
    CHECK (num_nonnulls(district_id, cabinet_id, group_id, lamp_id) = CASE target_type WHEN 'site' THEN 0 ELSE 1 END),
    CHECK ((target_type = 'district') = (district_id IS NOT NULL)),
    CHECK ((target_type = 'cabinet') = (cabinet_id IS NOT NULL)),
    CHECK ((target_type = 'group') = (group_id IS NOT NULL)),
    CHECK ((target_type = 'lamp') = (lamp_id IS NOT NULL)),
    CONSTRAINT schedule_assignments_calendar_fkey FOREIGN KEY (site_id, calendar_id)
        REFERENCES schedule_calendars (site_id, id),
    FOREIGN KEY (site_id, district_id) REFERENCES districts (site_id, id) ON DELETE CASCADE,
    FOREIGN KEY (site_id, cabinet_id) REFERENCES cabinets (site_id, id) ON DELETE CASCADE,
    FOREIGN KEY (site_id, group_id) REFERENCES lamp_groups (site_id, id) ON DELETE CASCADE,
    FOREIGN KEY (site_id, lamp_id) REFERENCES lamps (site_id, id) ON DELETE CASCADE
);

-- Overrides are kept after they end or are cancelled: they are the record of what was done.
CREATE TABLE control_overrides (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       terang_id NOT NULL REFERENCES sites (id) ON DELETE CASCADE,
    target_type   text NOT NULL CHECK (target_type IN ('site', 'district', 'cabinet', 'group', 'lamp')),
    target_id     text NOT NULL,
    level         smallint NOT NULL CHECK (level BETWEEN 0 AND 100),
    starts_at     timestamptz NOT NULL,
    until         timestamptz NOT NULL,
    emergency     boolean NOT NULL DEFAULT false,
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    cancelled_at  timestamptz,
    cancelled_by  text,
    cancel_reason text,
    CHECK (until > starts_at)
);
CREATE INDEX control_overrides_site_idx ON control_overrides (site_id, until DESC);

-- Who did what to the lights, when and why. No foreign keys: the trail outlives what it names.
CREATE TABLE control_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    site_id     text NOT NULL,
    subject     text NOT NULL,
    action      text NOT NULL,
    override_id bigint,
    target_type text,
    target_id   text,
    reason      text,
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX control_audit_site_idx ON control_audit (site_id, at DESC);

-- The commanded config of each lamp (cv and content) and its publication; the version in effect
-- is what the lamp reports (lamp_status.last_cv, or cv in its retained state).
CREATE TABLE lamp_configs (
    lamp_key     integer PRIMARY KEY REFERENCES lamps (key) ON DELETE CASCADE,
    cv           integer NOT NULL CHECK (cv >= 1),
    config       jsonb NOT NULL,
    digest       text NOT NULL,
    compiled_at  timestamptz NOT NULL DEFAULT now(),
    -- The version before, so a LoRa delta can be made from it (docs/protocol.md section 10.7).
    prev_cv      integer,
    prev_config  jsonb,
    warnings     text[] NOT NULL DEFAULT '{}',
    published_cv integer,
    published_at timestamptz,
    -- Publications of this cv; re-sends back off with it.
    attempts     integer NOT NULL DEFAULT 0
);

-- Change tracking -----------------------------------------------------------------------------

CREATE FUNCTION schedule_touch_site(site text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE schedule_state SET generation = generation + 1 WHERE site_id = site;
    PERFORM pg_notify('terang_schedule', site);
END $$;

CREATE FUNCTION schedule_touch_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM schedule_touch_site(OLD.site_id);
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.site_id IS DISTINCT FROM OLD.site_id) THEN
        PERFORM schedule_touch_site(NEW.site_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER schedule_profiles_touch AFTER INSERT OR UPDATE OR DELETE ON schedule_profiles
    FOR EACH ROW EXECUTE FUNCTION schedule_touch_row();
CREATE TRIGGER schedule_calendars_touch AFTER INSERT OR UPDATE OR DELETE ON schedule_calendars
    FOR EACH ROW EXECUTE FUNCTION schedule_touch_row();
CREATE TRIGGER schedule_calendar_rules_touch AFTER INSERT OR UPDATE OR DELETE ON schedule_calendar_rules
    FOR EACH ROW EXECUTE FUNCTION schedule_touch_row();
CREATE TRIGGER lamp_groups_touch AFTER INSERT OR UPDATE OR DELETE ON lamp_groups
    FOR EACH ROW EXECUTE FUNCTION schedule_touch_row();
CREATE TRIGGER schedule_assignments_touch AFTER INSERT OR UPDATE OR DELETE ON schedule_assignments
    FOR EACH ROW EXECUTE FUNCTION schedule_touch_row();
CREATE TRIGGER control_overrides_touch AFTER INSERT OR UPDATE OR DELETE ON control_overrides
    FOR EACH ROW EXECUTE FUNCTION schedule_touch_row();

-- Lamps and group members change in bulk (imports): one touch per site and statement.
CREATE FUNCTION schedule_touch_new_sites() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM schedule_touch_site(s) FROM (SELECT DISTINCT site_id AS s FROM changed_rows) AS sites;
    RETURN NULL;
END $$;

CREATE TRIGGER lamps_schedule_insert AFTER INSERT ON lamps REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION schedule_touch_new_sites();
CREATE TRIGGER lamps_schedule_update AFTER UPDATE ON lamps REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION schedule_touch_new_sites();
CREATE TRIGGER lamp_group_members_insert AFTER INSERT ON lamp_group_members REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION schedule_touch_new_sites();
CREATE TRIGGER lamp_group_members_delete AFTER DELETE ON lamp_group_members REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION schedule_touch_new_sites();

CREATE FUNCTION schedule_site_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.timezone IS DISTINCT FROM OLD.timezone THEN
        PERFORM schedule_touch_site(NEW.id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER sites_schedule_update AFTER UPDATE ON sites
    FOR EACH ROW EXECUTE FUNCTION schedule_site_changed();

-- A new site lights its lamps before anyone writes a schedule: full on from sunset to sunrise.
CREATE FUNCTION schedule_defaults(site text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    profile bigint;
    calendar bigint;
BEGIN
    INSERT INTO schedule_state (site_id) VALUES (site) ON CONFLICT DO NOTHING;
    INSERT INTO schedule_profiles (site_id, name, steps)
        VALUES (site, 'Sepanjang malam (all night)', '[[1, 0, 100, 0], [2, 0, 0, 0]]')
        RETURNING id INTO profile;
    INSERT INTO schedule_calendars (site_id, name, default_profile_id)
        VALUES (site, 'Bawaan (default)', profile)
        RETURNING id INTO calendar;
    INSERT INTO schedule_assignments (site_id, calendar_id, target_type) VALUES (site, calendar, 'site');
END $$;

CREATE FUNCTION schedule_site_created() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM schedule_defaults(NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER sites_schedule_defaults AFTER INSERT ON sites
    FOR EACH ROW EXECUTE FUNCTION schedule_site_created();

SELECT schedule_defaults(id) FROM sites;

-- Ids of the commands the control side sends (docs/protocol.md section 8: unique per lamp, echoed
-- in the outcome event, which ingestion stores in lamp_events with ref = id).
CREATE SEQUENCE control_command_ids;
