package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The devices' queries are sqlstore's (devices.go there), but for the
// one that reads the readings' payloads.

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
