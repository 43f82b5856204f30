-- Registry: the physical network. Ids are chosen by people (they appear in MQTT topics), so they
-- are text, global, and match the protocol's id pattern.

CREATE DOMAIN terang_id AS text CHECK (VALUE ~ '^[A-Za-z0-9_-]{1,32}$');

CREATE TABLE sites (
    id          terang_id PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    timezone    text NOT NULL DEFAULT 'Asia/Jayapura',
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE districts (
    id          terang_id PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Target of composite keys below: a child may only point at a district of its own site.
    UNIQUE (site_id, id)
);

CREATE TABLE cabinets (
    id          terang_id PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    district_id terang_id,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, id),
    CONSTRAINT cabinets_district_fkey FOREIGN KEY (site_id, district_id)
        REFERENCES districts (site_id, id) ON DELETE RESTRICT
);

CREATE TABLE gateways (
    id          terang_id PRIMARY KEY,
    site_id     terang_id NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    district_id terang_id,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    lat         double precision CHECK (lat BETWEEN -90 AND 90),
    lon         double precision CHECK (lon BETWEEN -180 AND 180),
    -- Latest health report published by the gateway on its retained state topic.
    health      jsonb,
    health_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, id),
    CONSTRAINT gateways_district_fkey FOREIGN KEY (site_id, district_id)
        REFERENCES districts (site_id, id) ON DELETE RESTRICT
);

CREATE TABLE lamps (
    id                terang_id PRIMARY KEY,
    -- Compact surrogate used by the readings table and by the vectorised fault engine.
    key               integer GENERATED ALWAYS AS IDENTITY UNIQUE,
    site_id           terang_id NOT NULL REFERENCES sites (id) ON DELETE RESTRICT,
    district_id       terang_id,
    cabinet_id        terang_id,
    gateway_id        terang_id,
    name              text CHECK (length(name) <= 200),
    lat               double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon               double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    rated_w           real NOT NULL CHECK (rated_w > 0 AND rated_w <= 2000),
    radio             text NOT NULL CHECK (radio IN ('wifi', 'lora', 'cellular')),
    report_interval_s integer NOT NULL DEFAULT 300 CHECK (report_interval_s BETWEEN 10 AND 86400),
    lamp_type         text NOT NULL DEFAULT 'led' CHECK (length(lamp_type) BETWEEN 1 AND 64),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lamps_district_fkey FOREIGN KEY (site_id, district_id)
        REFERENCES districts (site_id, id) ON DELETE RESTRICT,
    CONSTRAINT lamps_cabinet_fkey FOREIGN KEY (site_id, cabinet_id)
        REFERENCES cabinets (site_id, id) ON DELETE RESTRICT,
    CONSTRAINT lamps_gateway_fkey FOREIGN KEY (site_id, gateway_id)
        REFERENCES gateways (site_id, id) ON DELETE RESTRICT
);
CREATE INDEX lamps_site_idx ON lamps (site_id, id);
CREATE INDEX lamps_cabinet_idx ON lamps (cabinet_id) WHERE cabinet_id IS NOT NULL;
CREATE INDEX lamps_district_idx ON lamps (district_id) WHERE district_id IS NOT NULL;

-- Ingestion caches lamp id -> (key, site); it listens here to drop stale entries.
CREATE FUNCTION lamps_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('terang_lamps', COALESCE(OLD.id, NEW.id));
    RETURN NULL;
END $$;
CREATE TRIGGER lamps_changed AFTER UPDATE OR DELETE ON lamps
    FOR EACH ROW EXECUTE FUNCTION lamps_notify();
