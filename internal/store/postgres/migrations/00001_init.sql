-- +goose Up

-- Ids are compared byte-wise (COLLATE "C") so that ListDevices orders them
-- exactly as the SQLite backend and Go's sort do, whatever the database's
-- locale, and so that comparisons on the hot path skip locale rules.
CREATE TABLE devices (
    id            text COLLATE "C" PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz,
    reading_count bigint NOT NULL DEFAULT 0
);

CREATE TABLE device_measurements (
    id          bigserial PRIMARY KEY,
    device_id   text COLLATE "C" NOT NULL REFERENCES devices (id),
    recorded_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    -- true when the device sent no recordedAt and received_at was used.
    server_time boolean NOT NULL DEFAULT false,
    temperature double precision,
    humidity    double precision,
    voltage_v   double precision,
    current_ma  double precision,
    power_mw    double precision,
    payload     jsonb,
    -- The identity of a reading: storing it again is a duplicate. The index
    -- behind it also serves one device's newest-first queries.
    CONSTRAINT device_measurements_device_recorded UNIQUE (device_id, recorded_at)
);

-- All-device queries (newest first, keyset on (recorded_at, id)) and
-- retention deletes by age.
CREATE INDEX device_measurements_recorded_at ON device_measurements (recorded_at, id);

CREATE TABLE tokens (
    id         text PRIMARY KEY,
    hash       bytea NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('device', 'reader', 'admin')),
    device_id  text COLLATE "C" REFERENCES devices (id),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    -- A device token writes for exactly one device; other scopes for none.
    CONSTRAINT tokens_device_scope CHECK ((scope = 'device') = (device_id IS NOT NULL))
);

-- Request bodies kept verbatim (bytea, not text: they may not be UTF-8) so
-- that what a device sent can be replayed and reconciled against readings.
CREATE TABLE raw_measurements (
    id          bigserial PRIMARY KEY,
    device_id   text COLLATE "C",
    received_at timestamptz NOT NULL,
    body        bytea NOT NULL,
    ingested    boolean NOT NULL DEFAULT false,
    accepted    integer NOT NULL DEFAULT 0,
    duplicates  integer NOT NULL DEFAULT 0,
    rejected    integer NOT NULL DEFAULT 0
);

CREATE INDEX raw_measurements_received_at ON raw_measurements (received_at);

-- +goose Down
DROP TABLE raw_measurements;
DROP TABLE tokens;
DROP TABLE device_measurements;
DROP TABLE devices;
