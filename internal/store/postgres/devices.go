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
