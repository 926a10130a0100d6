-- +goose Up

-- What ingest writes about a device (its counts, last-seen time and
-- health) and the interval the hours it marks depend on, in a table of
-- their own, keyed by device alone. devices keeps what an admin sets and
-- what requests are checked against.
--
-- Why a table: on Citus devices is a reference table (a copy on every
-- node, joined with tokens, alerts and the fleet's tables), so every
-- write to it is a transaction over every node. device_state is
-- distributed by device_id, co-located with the readings (citus.go): the
-- insert of a device's readings, its counters and its marked hours all
-- land on one worker. Both backends have the table, so the queries
-- written once over both (internal/store/sqlstore) stay written once.
--
-- Every device has a row, created with it (CreateDevice, ingest's
-- registration of an unknown device) and locked by ingest, the
-- materializer and an interval change in that order, as devices was.
CREATE TABLE device_state (
    device_id           text COLLATE "C" PRIMARY KEY REFERENCES devices (id),
    -- A device is "silent" after ALERT_MISSED_INTERVALS of these without data.
    expected_interval_s integer NOT NULL DEFAULT 300 CHECK (expected_interval_s > 0),
    last_seen_at        timestamptz,
    reading_count       bigint NOT NULL DEFAULT 0,
    -- payload.device of its newest reading (by recordedAt) that carried one.
    health              jsonb,
    health_at           timestamptz
);

INSERT INTO device_state (device_id, expected_interval_s, last_seen_at, reading_count, health, health_at)
SELECT id, expected_interval_s, last_seen_at, reading_count, health, health_at FROM devices;

ALTER TABLE devices
    DROP COLUMN expected_interval_s,
    DROP COLUMN last_seen_at,
    DROP COLUMN reading_count,
    DROP COLUMN health,
    DROP COLUMN health_at;

-- +goose Down
ALTER TABLE devices
    ADD COLUMN last_seen_at timestamptz,
    ADD COLUMN reading_count bigint NOT NULL DEFAULT 0,
    ADD COLUMN expected_interval_s integer NOT NULL DEFAULT 300 CHECK (expected_interval_s > 0),
    ADD COLUMN health jsonb,
    ADD COLUMN health_at timestamptz;

UPDATE devices d SET last_seen_at = s.last_seen_at, reading_count = s.reading_count,
    expected_interval_s = s.expected_interval_s, health = s.health, health_at = s.health_at
FROM device_state s WHERE s.device_id = d.id;

DROP TABLE device_state;
