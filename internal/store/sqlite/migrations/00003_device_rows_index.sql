-- +goose Up

-- One device's readings, whole, in time order: a second copy of each
-- reading, clustered by device.
--
-- Readings arrive interleaved across devices, so in the table (ordered by
-- id) each of a device's readings sits on a different page: 24 hours of
-- one device meant ~288 random page reads, a 30-day chart 8,640, each also
-- parsing pressure out of the payload. This index holds every column of
-- a reading (id included, right after recorded_at, so that the newest-first
-- order (recorded_at DESC, id DESC) is the index's own) plus the chart's
-- pressure, so both queries read one short range of it and never the
-- table ("USING COVERING INDEX"; plan_test.go checks both). The price is
-- the disk space of a second copy of the readings and one more b-tree
-- insert per reading.
--
-- Pressure is indexed as an expression rather than stored in a new
-- column: it is exactly the expression Series used, SQLite computes it for
-- every writer (also one that inserts with plain SQL, as bulk loads do),
-- and building the index does not rewrite the table as backfilling a
-- column would. Series must spell it exactly so (seriesPressure in
-- series.go) for SQLite to match it to the index.
--
-- On an existing database this reads the whole table once and writes the
-- index, about as large as the table: see docs/operations.md.
CREATE INDEX device_measurements_device_rows ON device_measurements (
    device_id, recorded_at, id,
    received_at, server_time,
    temperature, humidity, voltage_v, current_ma, power_mw, payload,
    (CASE WHEN json_type(payload, '$.sensor.bmp280.pressure_hpa') IN ('integer', 'real')
        THEN json_extract(payload, '$.sensor.bmp280.pressure_hpa') END)
);

-- +goose Down
DROP INDEX device_measurements_device_rows;
