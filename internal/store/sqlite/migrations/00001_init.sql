-- +goose Up

-- Times are INTEGER unix microseconds (UTC): they sort and compare as
-- numbers, and microseconds is the precision PostgreSQL keeps too, so both
-- backends agree on the identity (device_id, recorded_at) of a reading.
-- STRICT makes SQLite reject values of the wrong type instead of storing them.

CREATE TABLE devices (
    id            TEXT PRIMARY KEY,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER,
    reading_count INTEGER NOT NULL DEFAULT 0
) STRICT;

-- AUTOINCREMENT: ids are never reused, even after the newest rows are
-- deleted, so a pagination cursor never points at a different reading.
CREATE TABLE device_measurements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT NOT NULL REFERENCES devices (id),
    recorded_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- 1 when the device sent no recordedAt and received_at was used.
    server_time INTEGER NOT NULL DEFAULT 0 CHECK (server_time IN (0, 1)),
    temperature REAL,
    humidity    REAL,
    voltage_v   REAL,
    current_ma  REAL,
    power_mw    REAL,
    -- JSON text; checked so that, as on PostgreSQL (jsonb), a payload that
    -- is not JSON fails the batch instead of being stored.
    payload     TEXT CHECK (payload IS NULL OR json_valid(payload))
) STRICT;

-- The identity of a reading: storing it again is a duplicate. The index
-- (which, like every SQLite index, ends in the rowid) also serves one
-- device's newest-first queries.
CREATE UNIQUE INDEX device_measurements_device_recorded ON device_measurements (device_id, recorded_at);

-- All-device queries and retention deletes. SQLite appends the rowid to
-- every index, so this orders by (recorded_at, id) as keyset paging needs.
CREATE INDEX device_measurements_recorded_at ON device_measurements (recorded_at);

CREATE TABLE tokens (
    id         TEXT PRIMARY KEY,
    hash       BLOB NOT NULL,
    scope      TEXT NOT NULL CHECK (scope IN ('device', 'reader', 'admin')),
    device_id  TEXT REFERENCES devices (id),
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    CHECK ((scope = 'device') = (device_id IS NOT NULL))
) STRICT;

-- Request bodies kept verbatim (BLOB: they may not be UTF-8).
CREATE TABLE raw_measurements (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id   TEXT,
    received_at INTEGER NOT NULL,
    body        BLOB NOT NULL,
    ingested    INTEGER NOT NULL DEFAULT 0 CHECK (ingested IN (0, 1)),
    accepted    INTEGER NOT NULL DEFAULT 0,
    duplicates  INTEGER NOT NULL DEFAULT 0,
    rejected    INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX raw_measurements_received_at ON raw_measurements (received_at);

-- +goose Down
DROP TABLE raw_measurements;
DROP TABLE tokens;
DROP TABLE device_measurements;
DROP TABLE devices;
