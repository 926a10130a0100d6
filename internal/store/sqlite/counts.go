package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CountDevicesByStatus counts devices by thermowatt.Device.Status, whose
// rule the CASE below follows in the same order: silent, failing, new,
// ok. The conformance suite checks the two agree device by device.
func (s *Store) CountDevicesByStatus(ctx context.Context, now time.Time, missed int) (map[thermowatt.DeviceStatus]int, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT CASE
			WHEN ?2 > 0 AND last_seen_at IS NOT NULL
				AND ?1 > last_seen_at + ?2 * max(expected_interval_s, 1) * 1000000 THEN 'silent'
			WHEN EXISTS (SELECT 1 FROM alerts a
				WHERE a.device_id = devices.id AND a.kind = 'failing' AND a.resolved_at IS NULL) THEN 'failing'
			WHEN last_seen_at IS NULL THEN 'new'
			ELSE 'ok' END,
			count(*)
		FROM devices GROUP BY 1`, micros(now), missed)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count devices by status: %w", mapError(ctx, err))
	}
	defer rows.Close()
	counts, err := store.ScanCounts[thermowatt.DeviceStatus](rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count devices by status: %w", mapError(ctx, err))
	}
	return counts, nil
}

// CountOpenAlerts counts the open alerts by kind, from the alerts_one_open
// index.
func (s *Store) CountOpenAlerts(ctx context.Context) (map[string]int, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT kind, count(*) FROM alerts WHERE resolved_at IS NULL GROUP BY kind`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count open alerts: %w", mapError(ctx, err))
	}
	defer rows.Close()
	counts, err := store.ScanCounts[string](rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: count open alerts: %w", mapError(ctx, err))
	}
	return counts, nil
}
