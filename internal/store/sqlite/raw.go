package sqlite

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
		body = []byte{} // an empty body is still a body; nil would be NULL
	}
	var id int64
	err := s.write.QueryRowContext(ctx, `
		INSERT INTO raw_measurements
			(device_id, received_at, body, ingested, accepted, duplicates, rejected)
		VALUES (nullif(?, ''), ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		r.DeviceID, micros(r.ReceivedAt), body, r.Ingested, r.Accepted, r.Duplicates, r.Rejected).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("sqlite: archive raw body: %w", mapError(ctx, err))
	}
	return id, nil
}

// GetRaw returns one archived body; thermowatt.ErrNotFound when unknown.
func (s *Store) GetRaw(ctx context.Context, id int64) (store.RawRecord, error) {
	var (
		r        store.RawRecord
		received int64
	)
	err := s.read.QueryRowContext(ctx, `
		SELECT id, coalesce(device_id, ''), received_at, body, ingested, accepted, duplicates, rejected
		FROM raw_measurements WHERE id = ?`, id).
		Scan(&r.ID, &r.DeviceID, &received, &r.Body, &r.Ingested, &r.Accepted, &r.Duplicates, &r.Rejected)
	if errors.Is(err, sql.ErrNoRows) {
		return store.RawRecord{}, fmt.Errorf("raw body %d: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return store.RawRecord{}, fmt.Errorf("sqlite: raw body %d: %w", id, mapError(ctx, err))
	}
	r.ReceivedAt = fromMicros(received)
	return r, nil
}
