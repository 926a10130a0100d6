package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// ArchiveRaw keeps a request body verbatim and returns its id.
func (s *Store) ArchiveRaw(ctx context.Context, r store.RawRecord) (int64, error) {
	body := r.Body
	if body == nil {
		body = []byte{} // an empty body is still a body: NOT NULL
	}
	var id int64
	err := s.Write.QueryRow(ctx, `
		INSERT INTO raw_measurements (device_id, received_at, body, ingested, accepted, duplicates, rejected)
		VALUES (nullif($1, ''), $2, $3, $4, $5, $6, $7) RETURNING id`,
		r.DeviceID, store.UTC(r.ReceivedAt), body, r.Ingested, r.Accepted, r.Duplicates, r.Rejected).Scan(&id)
	if err != nil {
		return 0, s.fail(ctx, err, "archive raw body")
	}
	return id, nil
}

// GetRaw returns one archived body; thermowatt.ErrNotFound when unknown.
func (s *Store) GetRaw(ctx context.Context, id int64) (store.RawRecord, error) {
	var r store.RawRecord
	err := s.Read.QueryRow(ctx, `
		SELECT id, coalesce(device_id, ''), received_at, body, ingested, accepted, duplicates, rejected
		FROM raw_measurements WHERE id = $1`, id).
		Scan(&r.ID, &r.DeviceID, &r.ReceivedAt, &r.Body, &r.Ingested, &r.Accepted, &r.Duplicates, &r.Rejected)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RawRecord{}, fmt.Errorf("raw body %d: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return store.RawRecord{}, s.fail(ctx, err, "raw body %d", id)
	}
	return r, nil
}
