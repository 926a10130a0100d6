-- +goose Up

-- Operations: how often a device should report, what it last said about
-- its own health, what the server counted against it, and alerts. Times
-- are INTEGER unix microseconds, as in 00001.

-- A device is "silent" after ALERT_MISSED_INTERVALS of these without data.
ALTER TABLE devices ADD COLUMN expected_interval_s INTEGER NOT NULL DEFAULT 300 CHECK (expected_interval_s > 0);
-- payload.device (JSON text) of its newest reading that carried one.
ALTER TABLE devices ADD COLUMN health TEXT CHECK (health IS NULL OR json_valid(health));
ALTER TABLE devices ADD COLUMN health_at INTEGER;
-- Lifetime counts, for display; the failing rule uses device_failures.
ALTER TABLE devices ADD COLUMN rejected_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE devices ADD COLUMN auth_failures INTEGER NOT NULL DEFAULT 0;

-- Failures counted by the server, per device and minute.
CREATE TABLE device_failures (
    device_id     TEXT NOT NULL REFERENCES devices (id),
    minute        INTEGER NOT NULL,
    rejected      INTEGER NOT NULL DEFAULT 0,
    auth_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, minute)
) STRICT;

CREATE INDEX device_failures_minute ON device_failures (minute);

-- One row per alert episode; see the PostgreSQL migration for why.
CREATE TABLE alerts (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id            TEXT NOT NULL REFERENCES devices (id),
    kind                 TEXT NOT NULL CHECK (kind IN ('silent', 'failing')),
    message              TEXT NOT NULL,
    opened_at            INTEGER NOT NULL,
    resolved_at          INTEGER,
    opened_notified_at   INTEGER,
    resolved_notified_at INTEGER,
    notify_attempts      INTEGER NOT NULL DEFAULT 0,
    next_attempt_at      INTEGER,
    last_error           TEXT,
    claimed_until        INTEGER,
    claim_token          TEXT
) STRICT;

CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);
CREATE INDEX alerts_pending ON alerts (id)
    WHERE opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL);

-- +goose Down
DROP TABLE alerts;
DROP TABLE device_failures;
ALTER TABLE devices DROP COLUMN auth_failures;
ALTER TABLE devices DROP COLUMN rejected_count;
ALTER TABLE devices DROP COLUMN health_at;
ALTER TABLE devices DROP COLUMN health;
ALTER TABLE devices DROP COLUMN expected_interval_s;
