-- +goose NO TRANSACTION
-- +goose Up

-- device_measurements becomes partitioned by recorded_at, one partition a
-- week (partitions.go says why a week and creates them ahead), so that
-- retention drops whole weeks instead of deleting rows one by one.
--
-- The existing table is not copied: it becomes the partition of every
-- reading before the first week the service manages (the "past"
-- partition), the existing rows and indexes staying as they are. Only a
-- CHECK constraint is validated, by a scan that does not block ingest.
-- Each step is a transaction of its own and can run again, so a
-- migration cut short is completed by the next start.

-- 1. The bound: the start of the second week after the newest reading or
-- now, whichever is later, so that no reading arriving while the steps
-- run (recordedAt is at most 10 minutes ahead) is past it. NOT VALID: no
-- scan, and the ACCESS EXCLUSIVE lock is held for a catalog change only.
-- +goose StatementBegin
DO $$
DECLARE
    bound timestamptz;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'device_measurements'::regclass)
       OR EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'device_measurements_past_bound') THEN
        RETURN;
    END IF;
    SELECT date_trunc('week', greatest(max(recorded_at), now()) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '14 days'
    INTO bound FROM device_measurements;
    EXECUTE format('ALTER TABLE device_measurements ADD CONSTRAINT device_measurements_past_bound CHECK (recorded_at < %L) NOT VALID', bound);
END $$;
-- +goose StatementEnd

-- 2. The scan: VALIDATE takes a SHARE UPDATE EXCLUSIVE lock, with which
-- readings go on being inserted. On 10 M rows it takes seconds.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'device_measurements_past_bound' AND NOT convalidated) THEN
        ALTER TABLE device_measurements VALIDATE CONSTRAINT device_measurements_past_bound;
    END IF;
END $$;
-- +goose StatementEnd

-- 3. The swap, in one transaction and without a scan: the table and its
-- indexes are renamed, a partitioned table takes its name, and the old
-- one is attached for (MINVALUE, bound), which the validated CHECK proves
-- it satisfies; the parent's primary key and index adopt the old ones.
-- Ingest waits for the ACCESS EXCLUSIVE lock only as long as the catalog
-- changes take. The DEFAULT partition takes what no partition covers
-- (readings beyond the weeks created ahead), so no insert ever fails for
-- want of a partition.
-- +goose StatementBegin
DO $$
DECLARE
    bound text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'device_measurements'::regclass) THEN
        RETURN;
    END IF;
    LOCK TABLE device_measurements IN ACCESS EXCLUSIVE MODE;
    SELECT substring(pg_get_constraintdef(oid) FROM '''([^'']+)''') INTO bound
    FROM pg_constraint WHERE conname = 'device_measurements_past_bound';

    ALTER TABLE device_measurements RENAME TO device_measurements_past;
    ALTER TABLE device_measurements_past RENAME CONSTRAINT device_measurements_pkey TO device_measurements_past_pkey;
    ALTER INDEX device_measurements_recorded_at RENAME TO device_measurements_past_recorded_at;

    CREATE TABLE device_measurements (
        LIKE device_measurements_past INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE
    ) PARTITION BY RANGE (recorded_at);
    ALTER SEQUENCE device_measurements_id_seq OWNED BY device_measurements.id;
    -- The same key and index as migration 00003 made, under the same names.
    ALTER TABLE device_measurements ADD CONSTRAINT device_measurements_pkey PRIMARY KEY (device_id, recorded_at)
        INCLUDE (temperature, humidity, voltage_v, current_ma, power_mw, pressure_hpa);
    CREATE INDEX device_measurements_recorded_at ON device_measurements (recorded_at, id);

    EXECUTE format('ALTER TABLE device_measurements ATTACH PARTITION device_measurements_past FOR VALUES FROM (MINVALUE) TO (%L)', bound);
    ALTER TABLE device_measurements_past DROP CONSTRAINT device_measurements_past_bound;
    CREATE TABLE device_measurements_default PARTITION OF device_measurements DEFAULT;
END $$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'device_measurements'::regclass) THEN
        RAISE EXCEPTION 'device_measurements is partitioned by time: going back means copying every partition into one table; do it by hand (CREATE TABLE ... AS, then migration 00003''s key)';
    END IF;
END $$;
-- +goose StatementEnd
