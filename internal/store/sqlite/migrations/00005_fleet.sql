-- +goose Up

-- The fleet: settings changed remotely, firmware releases, and rollouts;
-- see the PostgreSQL migration for why each table is as it is. Times are
-- INTEGER unix microseconds, as in 00001.

CREATE TABLE settings_revision (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    rev INTEGER NOT NULL
) STRICT;
INSERT INTO settings_revision (id, rev) VALUES (1, 0);

CREATE TABLE fleet_settings (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    settings   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(settings)),
    rev        INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER
) STRICT;
INSERT INTO fleet_settings (id) VALUES (1);

CREATE TABLE device_settings (
    device_id  TEXT PRIMARY KEY REFERENCES devices (id),
    settings   TEXT NOT NULL CHECK (json_valid(settings)),
    rev        INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE firmware_releases (
    version    TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    signature  TEXT
) STRICT;

CREATE TABLE firmware_files (
    version TEXT NOT NULL REFERENCES firmware_releases (version),
    path    TEXT NOT NULL,
    size    INTEGER NOT NULL,
    sha256  TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (version, path)
) STRICT;

CREATE TABLE rollouts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    version     TEXT NOT NULL REFERENCES firmware_releases (version),
    all_devices INTEGER NOT NULL CHECK (all_devices IN (0, 1)),
    paused      INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE rollout_devices (
    rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
    device_id  TEXT NOT NULL REFERENCES devices (id),
    PRIMARY KEY (rollout_id, device_id)
) STRICT;

CREATE INDEX rollout_devices_device ON rollout_devices (device_id, rollout_id);

-- A device that rolled back an update opens an alert of kind update.
-- SQLite cannot change a CHECK constraint, so the table is rebuilt with
-- the new one (nothing references alerts).
CREATE TABLE alerts_new (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id            TEXT NOT NULL REFERENCES devices (id),
    kind                 TEXT NOT NULL CHECK (kind IN ('silent', 'failing', 'update')),
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
INSERT INTO alerts_new SELECT * FROM alerts;
DROP TABLE alerts;
ALTER TABLE alerts_new RENAME TO alerts;
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);
CREATE INDEX alerts_pending ON alerts (id)
    WHERE opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL);

-- +goose Down
CREATE TABLE alerts_old (
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
INSERT INTO alerts_old SELECT * FROM alerts WHERE kind <> 'update';
DROP TABLE alerts;
ALTER TABLE alerts_old RENAME TO alerts;
CREATE UNIQUE INDEX alerts_one_open ON alerts (device_id, kind) WHERE resolved_at IS NULL;
CREATE INDEX alerts_opened_at ON alerts (opened_at);
CREATE INDEX alerts_pending ON alerts (id)
    WHERE opened_notified_at IS NULL OR (resolved_at IS NOT NULL AND resolved_notified_at IS NULL);
DROP TABLE rollout_devices;
DROP TABLE rollouts;
DROP TABLE firmware_files;
DROP TABLE firmware_releases;
DROP TABLE device_settings;
DROP TABLE fleet_settings;
DROP TABLE settings_revision;
