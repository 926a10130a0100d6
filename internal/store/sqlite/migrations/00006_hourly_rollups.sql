-- +goose Up

-- Hourly roll-ups per device (internal/rollup): the number of readings,
-- sum, count, minimum and maximum of each metric, and the energy
-- integrated from power with the seconds it covers. Charts of a month and
-- energy over a year read these instead of every reading. They are kept in
-- the transactions that store readings (rollups.go), so they always equal
-- an aggregation of the readings. hour is unix microseconds, as
-- recorded_at.
CREATE TABLE hourly_rollups (
    device_id TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    readings  INTEGER NOT NULL DEFAULT 0,
    temperature_sum REAL NOT NULL DEFAULT 0,
    temperature_n INTEGER NOT NULL DEFAULT 0,
    temperature_min REAL,
    temperature_max REAL,
    humidity_sum REAL NOT NULL DEFAULT 0,
    humidity_n INTEGER NOT NULL DEFAULT 0,
    humidity_min REAL,
    humidity_max REAL,
    voltage_v_sum REAL NOT NULL DEFAULT 0,
    voltage_v_n INTEGER NOT NULL DEFAULT 0,
    voltage_v_min REAL,
    voltage_v_max REAL,
    current_ma_sum REAL NOT NULL DEFAULT 0,
    current_ma_n INTEGER NOT NULL DEFAULT 0,
    current_ma_min REAL,
    current_ma_max REAL,
    power_mw_sum REAL NOT NULL DEFAULT 0,
    power_mw_n INTEGER NOT NULL DEFAULT 0,
    power_mw_min REAL,
    power_mw_max REAL,
    pressure_hpa_sum REAL NOT NULL DEFAULT 0,
    pressure_hpa_n INTEGER NOT NULL DEFAULT 0,
    pressure_hpa_min REAL,
    pressure_hpa_max REAL,
    energy_wh REAL NOT NULL DEFAULT 0,
    covered_s REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, hour)
) WITHOUT ROWID;
CREATE INDEX hourly_rollups_hour ON hourly_rollups (hour);

-- Devices whose roll-ups must be computed from their readings: every
-- device registered when this migration runs. The service works through
-- it when it opens the database, a device a transaction.
CREATE TABLE rollup_rebuilds (
    device_id TEXT PRIMARY KEY
);
INSERT INTO rollup_rebuilds (device_id) SELECT id FROM devices;

-- +goose Down
DROP TABLE rollup_rebuilds;
DROP TABLE hourly_rollups;
