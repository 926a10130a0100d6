-- +goose Up

-- The roll-ups leave the request (store/rollups_pending.go): an insert
-- only marks the (device, hour)s it changed, here, in its transaction;
-- the materializer recomputes marked hours from the readings and deletes
-- their marks; reads compute the hours still marked from the readings.
-- One row per device-hour however many readings land in it (the insert's
-- ON CONFLICT DO NOTHING finds it and writes nothing), so the table holds
-- only the hours written since the materializer's last pass.
CREATE TABLE rollup_pending (
    device_id text COLLATE "C" NOT NULL,
    hour      timestamptz NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, hour)
);

-- The materializer takes the oldest marks first: after this migration
-- (every stored hour marked, below) there are as many as hours stored, and
-- each batch must find its oldest without sorting them all.
CREATE INDEX rollup_pending_marked_at ON rollup_pending (marked_at);

-- Each metric's sum becomes its mean (rollup.Agg): a sum of finite values
-- can overflow (two readings of 1.7e308 in an hour made the insert fail
-- for ever), a mean lies between the minimum and the maximum.
ALTER TABLE hourly_rollups RENAME COLUMN temperature_sum TO temperature_avg;
ALTER TABLE hourly_rollups RENAME COLUMN humidity_sum TO humidity_avg;
ALTER TABLE hourly_rollups RENAME COLUMN voltage_v_sum TO voltage_v_avg;
ALTER TABLE hourly_rollups RENAME COLUMN current_ma_sum TO current_ma_avg;
ALTER TABLE hourly_rollups RENAME COLUMN power_mw_sum TO power_mw_avg;
ALTER TABLE hourly_rollups RENAME COLUMN pressure_hpa_sum TO pressure_hpa_avg;

-- Every stored hour is marked, so that the materializer recomputes it
-- from the readings with the new arithmetic (the column holds a sum until
-- then, which nothing reads: reads compute marked hours from the readings).
INSERT INTO rollup_pending (device_id, hour) SELECT device_id, hour FROM hourly_rollups;

-- +goose Down
ALTER TABLE hourly_rollups RENAME COLUMN temperature_avg TO temperature_sum;
ALTER TABLE hourly_rollups RENAME COLUMN humidity_avg TO humidity_sum;
ALTER TABLE hourly_rollups RENAME COLUMN voltage_v_avg TO voltage_v_sum;
ALTER TABLE hourly_rollups RENAME COLUMN current_ma_avg TO current_ma_sum;
ALTER TABLE hourly_rollups RENAME COLUMN power_mw_avg TO power_mw_sum;
ALTER TABLE hourly_rollups RENAME COLUMN pressure_hpa_avg TO pressure_hpa_sum;
-- The version before this one keeps its roll-ups in the insert, from what
-- is stored: every device is rebuilt, as the columns now hold means.
INSERT INTO rollup_rebuilds (device_id) SELECT id FROM devices ON CONFLICT DO NOTHING;
DROP TABLE rollup_pending;
