-- +goose Up

-- Each value once (store/payloadfold.go): a payload no longer repeats
-- what the reading's columns hold.

-- The pressure a chart reads, filled at insert (store.PayloadPressure),
-- since the payload may now leave it out; and which members the stored
-- payload leaves out (store.Fold; 0, as for every row stored before, when
-- it is whole). Rows stored before keep their whole payload until their
-- week is compacted.
ALTER TABLE device_measurements ADD COLUMN pressure_hpa REAL;
ALTER TABLE device_measurements ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;

-- The pressure of the rows stored before, as the chart read it until now
-- (the expression of migration 00003). This writes every row with a
-- pressure once: on an existing database, minutes a few million rows.
UPDATE device_measurements
SET pressure_hpa = json_extract(payload, '$.sensor.bmp280.pressure_hpa')
WHERE json_type(payload, '$.sensor.bmp280.pressure_hpa') IN ('integer', 'real');

-- The index of migration 00003, with the two columns in place of the
-- expression.
DROP INDEX device_measurements_device_rows;
CREATE INDEX device_measurements_device_rows ON device_measurements (
    device_id, recorded_at, id,
    received_at, server_time,
    temperature, humidity, voltage_v, current_ma, power_mw, pressure_hpa, folded, payload
);

-- +goose Down
DROP INDEX device_measurements_device_rows;
CREATE INDEX device_measurements_device_rows ON device_measurements (
    device_id, recorded_at, id,
    received_at, server_time,
    temperature, humidity, voltage_v, current_ma, power_mw, payload,
    (CASE WHEN json_type(payload, '$.sensor.bmp280.pressure_hpa') IN ('integer', 'real')
        THEN json_extract(payload, '$.sensor.bmp280.pressure_hpa') END)
);
ALTER TABLE device_measurements DROP COLUMN folded;
ALTER TABLE device_measurements DROP COLUMN pressure_hpa;
