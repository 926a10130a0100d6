package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
)

// The devices' queries are sqlstore's (devices.go there), but for two
// that reach into the readings and their roll-ups.

// SetExpectedInterval sets how often a device should send; see store.Devices.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("sqlite: expected interval must be at least 1 s, got %d", seconds)
	}
	// The interval decides which gaps energy spans: the device's roll-ups
	// are recomputed with the new one, in the same transaction.
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: set interval of %q: %w", deviceID, mapError(ctx, err))
	}
	defer tx.Rollback()
	var old int
	err = tx.QueryRowContext(ctx, `SELECT expected_interval_s FROM devices WHERE id = ?`, deviceID).Scan(&old)
	if err == sql.ErrNoRows {
		return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	if err == nil && old != seconds {
		if _, err = tx.ExecContext(ctx, `UPDATE devices SET expected_interval_s = ? WHERE id = ?`, seconds, deviceID); err == nil {
			err = s.rebuildRollups(ctx, tx, deviceID)
		}
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("sqlite: set interval of %q: %w", deviceID, mapError(ctx, err))
	}
	return nil
}

// HealthNear returns a device's health around a time; see store.Devices.
func (s *Store) HealthNear(ctx context.Context, deviceID string, at time.Time) (json.RawMessage, bool, error) {
	var health string
	err := s.read.QueryRowContext(ctx, `
		SELECT h FROM (
			SELECT * FROM (SELECT json_extract(payload, '$.device') AS h FROM device_measurements
				WHERE device_id = ?1 AND recorded_at <= ?2 AND json_type(payload, '$.device') = 'object'
				ORDER BY recorded_at DESC LIMIT 1)
			UNION ALL
			SELECT * FROM (SELECT json_extract(payload, '$.device') FROM device_measurements
				WHERE device_id = ?1 AND recorded_at > ?2 AND json_type(payload, '$.device') = 'object'
				ORDER BY recorded_at LIMIT 1)
		) LIMIT 1`, deviceID, micros(at)).Scan(&health)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("sqlite: health of %q: %w", deviceID, mapError(ctx, err))
	}
	return json.RawMessage(health), true, nil
}
