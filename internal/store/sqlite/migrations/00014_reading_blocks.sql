-- +goose Up

-- Compacted days: one device's readings of one UTC day as one block
-- (internal/tscodec), written by the compaction job (compaction.go) once
-- the day is older than the compaction age, in place of the rows of
-- device_measurements. A reading is in exactly one of the two.
CREATE TABLE reading_blocks (
    device_id TEXT NOT NULL,
    day       INTEGER NOT NULL, -- the day's start, unix microseconds
    readings  INTEGER NOT NULL,
    block     BLOB NOT NULL,
    PRIMARY KEY (device_id, day)
) STRICT;

-- All devices' blocks newest first (pages of every device), and
-- retention.
CREATE INDEX reading_blocks_day ON reading_blocks (day);

-- +goose Down
DROP TABLE reading_blocks;
