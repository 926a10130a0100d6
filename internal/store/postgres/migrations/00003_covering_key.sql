-- +goose Up

-- Readings are keyed by what identifies them, and the key carries what a
-- chart aggregates, so that a series is an index-only scan: one device's
-- readings are adjacent in the index, whereas on the heap (filled in
-- arrival order, devices interleaved) each sits on a page of its own. At
-- 10 M rows a 30-day series read 8,640 scattered heap pages and parsed as
-- many jsonb payloads; it now reads ~100 index pages.
--
-- One ALTER TABLE, so the table is rewritten once (for the stored column)
-- and the new key built once. It holds an ACCESS EXCLUSIVE lock throughout:
-- ingest and queries wait. On 10 M rows (2.8 GB) it takes about 2 minutes
-- on 2 cores; plan a maintenance window for a larger table.
ALTER TABLE device_measurements
    -- payload.sensor.bmp280.pressure_hpa when it is a JSON number, as the
    -- series has always read it; NULL otherwise. A number beyond what a
    -- double holds is NULL too, rather than an error that would fail the
    -- whole batch at insert (it used to fail the chart instead). Stored,
    -- so that every way rows arrive (INSERT, COPY) fills it.
    ADD COLUMN pressure_hpa double precision GENERATED ALWAYS AS (
        CASE WHEN jsonb_typeof(payload #> '{sensor,bmp280,pressure_hpa}') = 'number'
              AND abs((payload #> '{sensor,bmp280,pressure_hpa}')::numeric) <= 1.7976931348623157e308
              AND ((payload #> '{sensor,bmp280,pressure_hpa}')::numeric = 0
                   OR abs((payload #> '{sensor,bmp280,pressure_hpa}')::numeric) >= 1e-323)
            THEN (payload #> '{sensor,bmp280,pressure_hpa}')::float8 END
    ) STORED,
    -- The foreign key cost a lookup of the device row, with a row lock,
    -- for every reading stored (about a third of the database's work per
    -- reading). The only writer of readings, InsertReadings, registers the
    -- batch's devices in the same transaction right before, and no device
    -- is ever deleted, so the key only re-checked what is already true.
    DROP CONSTRAINT device_measurements_device_id_fkey,
    -- id stays, unique by its sequence (the API exposes it; pagination
    -- across devices uses the (recorded_at, id) index), but is no longer
    -- the key: nothing looks a reading up by id, and a key of id alone is
    -- what partitioning by time and distribution by device (Citus) refuse.
    DROP CONSTRAINT device_measurements_pkey,
    DROP CONSTRAINT device_measurements_device_recorded,
    -- The identity of a reading (ON CONFLICT (device_id, recorded_at)
    -- infers this key), and one device's readings in time order with the
    -- aggregated columns alongside. An index-only scan skips the heap only
    -- for pages the visibility map marks all-visible: autovacuum sets them
    -- on an insert-only table too (PostgreSQL 13+, after
    -- autovacuum_vacuum_insert_threshold new rows); a freshly bulk-loaded
    -- table needs a VACUUM first.
    ADD CONSTRAINT device_measurements_pkey PRIMARY KEY (device_id, recorded_at)
        INCLUDE (temperature, humidity, voltage_v, current_ma, power_mw, pressure_hpa),
    ALTER COLUMN id SET NOT NULL;

-- +goose Down
ALTER TABLE device_measurements
    DROP CONSTRAINT device_measurements_pkey,
    DROP COLUMN pressure_hpa,
    ADD CONSTRAINT device_measurements_pkey PRIMARY KEY (id),
    ADD CONSTRAINT device_measurements_device_recorded UNIQUE (device_id, recorded_at),
    ADD CONSTRAINT device_measurements_device_id_fkey FOREIGN KEY (device_id) REFERENCES devices (id);
