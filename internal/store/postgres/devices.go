package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
)

// The devices' queries are sqlstore's (devices.go there), but for the
// one that reads the readings' payloads.

// HealthNear returns a device's health around a time; see store.Devices.
// Each row probe is one probe of the (device_id, recorded_at) index; the
// compacted days' blocks are read only while one may hold a nearer report
// (store.HealthNearWithBlocks).
func (s *Store) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	at = store.UTC(at)
	row := func(before bool) (*store.Health, error) {
		q := `SELECT recorded_at, payload->'device' FROM device_measurements
			WHERE device_id = $1 AND recorded_at > $2 AND jsonb_typeof(payload->'device') = 'object'
			ORDER BY recorded_at LIMIT 1`
		if before {
			q = `SELECT recorded_at, payload->'device' FROM device_measurements
			WHERE device_id = $1 AND recorded_at <= $2 AND jsonb_typeof(payload->'device') = 'object'
			ORDER BY recorded_at DESC LIMIT 1`
		}
		var h store.Health
		err := s.pool.QueryRow(ctx, q, deviceID, at).Scan(&h.At, &h.JSON)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, nil
		}
		return &h, err
	}
	blocks := func(before bool, visit func(store.Block) (bool, error)) error {
		q := `SELECT day, block FROM reading_blocks WHERE device_id = $1 AND day > $2::timestamptz - interval '1 day' ORDER BY day`
		if before {
			q = `SELECT day, block FROM reading_blocks WHERE device_id = $1 AND day <= $2 ORDER BY day DESC`
		}
		rows, err := s.pool.Query(ctx, q, deviceID, at)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b := store.Block{DeviceID: deviceID}
			if err := rows.Scan(&b.Day, &b.Data); err != nil {
				return err
			}
			if more, err := visit(b); err != nil || !more {
				return err
			}
		}
		return rows.Err()
	}
	h, ok, err := store.HealthNearWithBlocks(at, row, blocks)
	if err != nil {
		return nil, false, fmt.Errorf("postgres: health of %q: %w", deviceID, mapError(ctx, err))
	}
	return h, ok, nil
}
