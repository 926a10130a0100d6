-- +goose Up

-- The 30-day chart of one device (Series) reads every reading of that
-- device in the month: 8,640 at one every 5 minutes. Readings arrive
-- interleaved across devices, so in the table each sits on a different
-- page, and pressure had to be parsed out of each payload. This index
-- holds, in (device_id, recorded_at) order, every column the chart
-- aggregates, pressure included, so a chart reads a few hundred
-- consecutive index pages and never the table ("USING COVERING INDEX").
--
-- Pressure is indexed as an expression rather than stored in a new
-- column: the expression is exactly the one Series used, SQLite computes
-- it for every writer (also one that inserts with plain SQL, as the bulk
-- load and the bench do), and building the index does not rewrite the
-- table as backfilling a column would. Series must spell the expression
-- exactly so (seriesPressure in series.go) for SQLite to match it to the
-- index; plan_test.go checks that it does.
--
-- On an existing database this reads the whole table once and writes the
-- new index (about 80 bytes per reading): see docs/operations.md.
CREATE INDEX device_measurements_series ON device_measurements (
    device_id, recorded_at,
    temperature, humidity, voltage_v, current_ma, power_mw,
    (CASE WHEN json_type(payload, '$.sensor.bmp280.pressure_hpa') IN ('integer', 'real')
        THEN json_extract(payload, '$.sensor.bmp280.pressure_hpa') END)
);

-- +goose Down
DROP INDEX device_measurements_series;
