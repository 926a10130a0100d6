-- +goose Up

-- What ingest writes about a device (its counts, last-seen time and
-- health) and the interval the hours it marks depend on, in a table of
-- their own, as on PostgreSQL (its 00015 says why: on Citus devices is a
-- reference table). The same schema on both backends keeps the queries
-- written once over both (internal/store/sqlstore) written once. Every
-- device has a row, created with it. Times are INTEGER unix microseconds.
CREATE TABLE device_state (
    device_id           TEXT PRIMARY KEY REFERENCES devices (id),
    expected_interval_s INTEGER NOT NULL DEFAULT 300 CHECK (expected_interval_s > 0),
    last_seen_at        INTEGER,
    reading_count       INTEGER NOT NULL DEFAULT 0,
    health              TEXT CHECK (health IS NULL OR json_valid(health)),
    health_at           INTEGER
) STRICT;

INSERT INTO device_state (device_id, expected_interval_s, last_seen_at, reading_count, health, health_at)
SELECT id, expected_interval_s, last_seen_at, reading_count, health, health_at FROM devices;

ALTER TABLE devices DROP COLUMN expected_interval_s;
ALTER TABLE devices DROP COLUMN last_seen_at;
ALTER TABLE devices DROP COLUMN reading_count;
ALTER TABLE devices DROP COLUMN health;
ALTER TABLE devices DROP COLUMN health_at;

-- +goose Down
ALTER TABLE devices ADD COLUMN last_seen_at INTEGER;
ALTER TABLE devices ADD COLUMN reading_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN expected_interval_s INTEGER NOT NULL DEFAULT 300 CHECK (expected_interval_s > 0);
ALTER TABLE devices ADD COLUMN health TEXT CHECK (health IS NULL OR json_valid(health));
ALTER TABLE devices ADD COLUMN health_at INTEGER;
UPDATE devices SET
    last_seen_at = (SELECT last_seen_at FROM device_state WHERE device_id = devices.id),
    reading_count = coalesce((SELECT reading_count FROM device_state WHERE device_id = devices.id), 0),
    expected_interval_s = coalesce((SELECT expected_interval_s FROM device_state WHERE device_id = devices.id), 300),
    health = (SELECT health FROM device_state WHERE device_id = devices.id),
    health_at = (SELECT health_at FROM device_state WHERE device_id = devices.id);
DROP TABLE device_state;
