-- +goose Up

-- Compacted days: one device's readings of one UTC day as one block
-- (internal/tscodec), written by the compaction job (compaction.go) once
-- the day is older than the compaction age, in place of the rows of
-- device_measurements. A reading is in exactly one of the two. On Citus
-- the table is distributed by device_id, co-located with the readings
-- (citus.go).
CREATE TABLE reading_blocks (
    device_id text COLLATE "C" NOT NULL,
    day       timestamptz NOT NULL,
    readings  integer NOT NULL,
    block     bytea NOT NULL,
    PRIMARY KEY (device_id, day)
);

-- A block is compressed already (zstd): stored out of line without
-- PostgreSQL trying to compress it again.
ALTER TABLE reading_blocks ALTER COLUMN block SET STORAGE EXTERNAL;

-- All devices' blocks newest first (pages of every device), and
-- retention.
CREATE INDEX reading_blocks_day ON reading_blocks (day);

-- +goose Down
DROP TABLE reading_blocks;
