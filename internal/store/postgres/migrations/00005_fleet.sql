-- +goose Up

-- The fleet: settings changed remotely, firmware releases, and rollouts
-- that say which device should run which release.

-- One counter for every settings change, whatever its scope, so that a
-- device's effective revision (the larger of the fleet default's and its
-- own) changes when either changes. Writers take the next value with
-- UPDATE ... RETURNING, which also orders them: revisions commit in the
-- order they are handed out.
CREATE TABLE settings_revision (
    id  integer PRIMARY KEY CHECK (id = 1),
    rev bigint NOT NULL
);
INSERT INTO settings_revision (id, rev) VALUES (1, 0);

-- The fleet default: always one row, rev 0 until first set.
CREATE TABLE fleet_settings (
    id         integer PRIMARY KEY CHECK (id = 1),
    settings   jsonb NOT NULL DEFAULT '{}',
    rev        bigint NOT NULL DEFAULT 0,
    updated_at timestamptz
);
INSERT INTO fleet_settings (id) VALUES (1);

CREATE TABLE device_settings (
    device_id  text COLLATE "C" PRIMARY KEY REFERENCES devices (id),
    settings   jsonb NOT NULL,
    rev        bigint NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE firmware_releases (
    version    text COLLATE "C" PRIMARY KEY,
    created_at timestamptz NOT NULL,
    signature  text
);

-- Files are small (MicroPython sources, a CA), so they are kept in the
-- database with the release: one backup holds everything a device may be
-- told to download.
CREATE TABLE firmware_files (
    version text COLLATE "C" NOT NULL REFERENCES firmware_releases (version),
    path    text COLLATE "C" NOT NULL,
    size    bigint NOT NULL,
    sha256  text NOT NULL,
    content bytea NOT NULL,
    PRIMARY KEY (version, path)
);

CREATE TABLE rollouts (
    id          bigserial PRIMARY KEY,
    version     text COLLATE "C" NOT NULL REFERENCES firmware_releases (version),
    all_devices boolean NOT NULL,
    paused      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);

CREATE TABLE rollout_devices (
    rollout_id bigint NOT NULL REFERENCES rollouts (id),
    device_id  text COLLATE "C" NOT NULL REFERENCES devices (id),
    PRIMARY KEY (rollout_id, device_id)
);

-- A device's rollouts, for its desired version.
CREATE INDEX rollout_devices_device ON rollout_devices (device_id, rollout_id);

-- A device that rolled back an update opens an alert of kind update.
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check,
    ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('silent', 'failing', 'update'));

-- +goose Down
DELETE FROM alerts WHERE kind = 'update';
ALTER TABLE alerts DROP CONSTRAINT alerts_kind_check,
    ADD CONSTRAINT alerts_kind_check CHECK (kind IN ('silent', 'failing'));
DROP TABLE rollout_devices;
DROP TABLE rollouts;
DROP TABLE firmware_files;
DROP TABLE firmware_releases;
DROP TABLE device_settings;
DROP TABLE fleet_settings;
DROP TABLE settings_revision;
