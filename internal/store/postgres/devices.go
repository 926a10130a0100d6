package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The devices' queries are sqlstore's (devices.go there), but for two
// that reach into the readings and their roll-ups.

// SetExpectedInterval sets how often a device should send; see store.Devices.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("postgres: expected interval must be at least 1 s, got %d", seconds)
	}
	// The interval decides which gaps energy spans: the device's roll-ups
	// are recomputed with the new one, under the same row lock.
	found := true
	err := s.withRetry(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var old int
			err := tx.QueryRow(ctx, `SELECT expected_interval_s FROM devices WHERE id = $1 FOR UPDATE`, deviceID).Scan(&old)
			if err == pgx.ErrNoRows {
				found = false
				return nil
			}
			if err != nil || old == seconds {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE devices SET expected_interval_s = $2 WHERE id = $1`, deviceID, seconds); err != nil {
				return err
			}
			return rebuildRollups(ctx, tx, deviceID)
		})
	})
	if err != nil {
		return fmt.Errorf("postgres: set interval of %q: %w", deviceID, mapError(ctx, err))
	}
	if !found {
		return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	return nil
}

// HealthNear returns a device's health around a time; see store.Devices. Each
// branch is one probe of the (device_id, recorded_at) index.
func (s *Store) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	var health []byte
	err := s.pool.QueryRow(ctx, `
		(SELECT payload->'device' FROM device_measurements
		 WHERE device_id = $1 AND recorded_at <= $2 AND jsonb_typeof(payload->'device') = 'object'
		 ORDER BY recorded_at DESC LIMIT 1)
		UNION ALL
		(SELECT payload->'device' FROM device_measurements
		 WHERE device_id = $1 AND recorded_at > $2 AND jsonb_typeof(payload->'device') = 'object'
		 ORDER BY recorded_at LIMIT 1)
		LIMIT 1`, deviceID, store.UTC(at)).Scan(&health)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("postgres: health of %q: %w", deviceID, mapError(ctx, err))
	}
	return health, true, nil
}
