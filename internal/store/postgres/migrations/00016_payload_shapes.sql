-- +goose Up

-- Payload shapes (payload_shapes.go): the payloads readings repeat, each
-- stored once. A reading whose folded payload is one of them keeps its
-- number in payload_shape and a NULL payload: on firmware readings the
-- payload was 136 of a row's 281 bytes, the same 100-odd bytes in every
-- row. body is the payload's JSONB text, unique as text (JSONB equality
-- would take 1.0 for 1, and the reading must read back its own number).
-- Shapes are never updated or deleted; no foreign key checks each row
-- against them (a lookup per reading stored), since a row names only a
-- shape committed before it.
CREATE TABLE payload_shapes (
    shape integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body  text COLLATE "C" NOT NULL UNIQUE
);

-- NULL for every row stored before: no rewrite.
ALTER TABLE device_measurements ADD COLUMN payload_shape integer;

-- +goose Down
UPDATE device_measurements m SET payload = s.body::jsonb, payload_shape = NULL
FROM payload_shapes s WHERE m.payload_shape = s.shape;
ALTER TABLE device_measurements DROP COLUMN payload_shape;
DROP TABLE payload_shapes;
