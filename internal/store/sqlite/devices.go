package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// The devices' queries are sqlstore's (devices.go there), but for the
// one that reads the readings' payloads.

// HealthNear returns a device's health around a time; see store.Devices.
// The compacted days' blocks are read only while one may hold a nearer
// report than the rows (store.HealthNearWithBlocks).
func (s *Store) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	row := func(before bool) (*store.Health, error) {
		q := `SELECT recorded_at, json_extract(payload, '$.device') FROM device_measurements
			WHERE device_id = ?1 AND recorded_at > ?2 AND json_type(payload, '$.device') = 'object'
			ORDER BY recorded_at LIMIT 1`
		if before {
			q = `SELECT recorded_at, json_extract(payload, '$.device') FROM device_measurements
			WHERE device_id = ?1 AND recorded_at <= ?2 AND json_type(payload, '$.device') = 'object'
			ORDER BY recorded_at DESC LIMIT 1`
		}
		var (
			us     int64
			health string
		)
		err := s.read.QueryRowContext(ctx, q, deviceID, micros(at)).Scan(&us, &health)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &store.Health{At: fromMicros(us), JSON: json.RawMessage(health)}, nil
	}
	blocks := func(before bool, visit func(store.Block) (bool, error)) error {
		q := `SELECT day, block FROM reading_blocks WHERE device_id = ?1 AND day > ?2 - 86400000000 ORDER BY day`
		if before {
			q = `SELECT day, block FROM reading_blocks WHERE device_id = ?1 AND day <= ?2 ORDER BY day DESC`
		}
		rows, err := s.read.QueryContext(ctx, q, deviceID, micros(at))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var day int64
			b := store.Block{DeviceID: deviceID}
			if err := rows.Scan(&day, &b.Data); err != nil {
				return err
			}
			b.Day = fromMicros(day)
			if more, err := visit(b); err != nil || !more {
				return err
			}
		}
		return rows.Err()
	}
	h, ok, err := store.HealthNearWithBlocks(store.UTC(at), row, blocks)
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: health of %q: %w", deviceID, mapError(ctx, err))
	}
	return h, ok, nil
}
