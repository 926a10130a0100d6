-- +goose Up

-- Hourly roll-ups per device (internal/rollup): the number of readings,
-- sum, count, minimum and maximum of each metric, and the energy
-- integrated from power with the seconds it covers. Charts of a month and
-- energy over a year read these instead of every reading. They are kept in
-- the transactions that store readings (rollups.go), so they always equal
-- an aggregation of the readings. device_id is compared byte-wise, as
-- everywhere (00001), which Citus also needs to co-locate the two tables.
CREATE TABLE hourly_rollups (
    device_id text COLLATE "C" NOT NULL,
    hour      timestamptz NOT NULL,
    readings  bigint NOT NULL DEFAULT 0,
    temperature_sum double precision NOT NULL DEFAULT 0,
    temperature_n bigint NOT NULL DEFAULT 0,
    temperature_min double precision,
    temperature_max double precision,
    humidity_sum double precision NOT NULL DEFAULT 0,
    humidity_n bigint NOT NULL DEFAULT 0,
    humidity_min double precision,
    humidity_max double precision,
    voltage_v_sum double precision NOT NULL DEFAULT 0,
    voltage_v_n bigint NOT NULL DEFAULT 0,
    voltage_v_min double precision,
    voltage_v_max double precision,
    current_ma_sum double precision NOT NULL DEFAULT 0,
    current_ma_n bigint NOT NULL DEFAULT 0,
    current_ma_min double precision,
    current_ma_max double precision,
    power_mw_sum double precision NOT NULL DEFAULT 0,
    power_mw_n bigint NOT NULL DEFAULT 0,
    power_mw_min double precision,
    power_mw_max double precision,
    pressure_hpa_sum double precision NOT NULL DEFAULT 0,
    pressure_hpa_n bigint NOT NULL DEFAULT 0,
    pressure_hpa_min double precision,
    pressure_hpa_max double precision,
    energy_wh double precision NOT NULL DEFAULT 0,
    covered_s double precision NOT NULL DEFAULT 0,
    -- energy is read a year of hours at a time: from the key alone.
    PRIMARY KEY (device_id, hour) INCLUDE (energy_wh, covered_s)
);
-- Retention removes the oldest hours of every device: rows arrive roughly
-- in time order, so a BRIN index finds them for a few pages of index.
CREATE INDEX hourly_rollups_hour ON hourly_rollups USING brin (hour);

-- Devices whose roll-ups must be computed from their readings: every
-- device registered when this migration runs. The service works through
-- it when it opens the database, a device a transaction.
CREATE TABLE rollup_rebuilds (
    device_id text COLLATE "C" PRIMARY KEY
);
INSERT INTO rollup_rebuilds (device_id) SELECT id FROM devices;

-- +goose Down
DROP TABLE rollup_rebuilds;
DROP TABLE hourly_rollups;
