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

// deviceFields are the columns of devices that make a thermowatt.Device;
// deviceColumns adds which alerts are open (a failing one decides its
// status, thermowatt.Device.Status), from the alerts_one_open index, and
// the revision of the settings it should apply.
const (
	deviceFields = `id, created_at, last_seen_at, reading_count,
	expected_interval_s, health, health_at, rejected_count, auth_failures`
	deviceColumns = deviceFields + `,
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'failing' AND a.resolved_at IS NULL),
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'silent' AND a.resolved_at IS NULL),
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'update' AND a.resolved_at IS NULL),
	` + settingsRevOf
	// settingsRevOf is a device's effective settings revision: the larger
	// of the fleet default's and its own (store.Settings).
	settingsRevOf = `greatest((SELECT rev FROM fleet_settings),
		coalesce((SELECT rev FROM device_settings ds WHERE ds.device_id = devices.id), 0))`
)

// CreateDevice registers a device; thermowatt.ErrExists when it is registered.
func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (thermowatt.Device, error) {
	// The device is read back by GetDevice rather than by RETURNING: its
	// settings revision comes from a subquery, which Citus does not allow
	// in an INSERT.
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO devices (id, created_at) VALUES ($1, $2)
		ON CONFLICT (id) DO NOTHING`,
		id, store.UTC(now))
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("postgres: create device %q: %w", id, mapError(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return thermowatt.Device{}, fmt.Errorf("device %q: %w", id, thermowatt.ErrExists)
	}
	d, err := s.GetDevice(ctx, id)
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("postgres: create device %q: %w", id, err)
	}
	return d, nil
}

// GetDevice returns one device; thermowatt.ErrNotFound when unknown.
func (s *Store) GetDevice(ctx context.Context, id string) (thermowatt.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id)
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("postgres: get device %q: %w", id, mapError(ctx, err))
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	if errors.Is(err, pgx.ErrNoRows) {
		return thermowatt.Device{}, fmt.Errorf("device %q: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("postgres: get device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// ListDevices returns a page of devices ordered by id (byte-wise: the
// column is COLLATE "C"), those after q.After.
func (s *Store) ListDevices(ctx context.Context, q store.DeviceQuery) ([]thermowatt.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id > $1 ORDER BY id LIMIT $2`, q.After, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: list devices: %w", mapError(ctx, err))
	}
	ds, err := pgx.CollectRows(rows, scanDevice)
	if err != nil {
		return nil, fmt.Errorf("postgres: list devices: %w", mapError(ctx, err))
	}
	return ds, nil
}

func scanDevice(row pgx.CollectableRow) (thermowatt.Device, error) {
	var d thermowatt.Device
	var health []byte
	if err := row.Scan(&d.ID, &d.CreatedAt, &d.LastSeenAt, &d.ReadingCount,
		&d.ExpectedIntervalS, &health, &d.HealthAt, &d.Failures.Rejected, &d.Failures.AuthFailures, &d.Failing, &d.SilentAlertOpen, &d.UpdateAlertOpen, &d.SettingsRev); err != nil {
		return d, err
	}
	if health != nil {
		d.Health = health
	}
	if d.HealthAt != nil {
		t := d.HealthAt.UTC()
		d.HealthAt = &t
	}
	d.CreatedAt = d.CreatedAt.UTC()
	if d.LastSeenAt != nil {
		t := d.LastSeenAt.UTC()
		d.LastSeenAt = &t
	}
	return d, nil
}

// SetExpectedInterval sets how often a device should send; see store.Devices.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("postgres: expected interval must be at least 1 s, got %d", seconds)
	}
	// The interval decides which gaps energy spans: every hour of the
	// device is marked pending, under the same row lock, for the
	// materializer to recompute with the new one (reads compute marked
	// hours from the readings meanwhile, so they are exact at once).
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
			return markAllHours(ctx, tx, deviceID)
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

// CountDevicesByStatus counts devices by thermowatt.Device.Status, whose
// rule the CASE below follows in the same order: silent, failing, new,
// ok. The conformance suite checks the two agree device by device.
func (s *Store) CountDevicesByStatus(ctx context.Context, now time.Time, missed int) (map[thermowatt.DeviceStatus]int, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT CASE
			WHEN $2::int > 0 AND last_seen_at IS NOT NULL
				AND $1::timestamptz > last_seen_at + make_interval(secs => $2::int * greatest(expected_interval_s, 1)) THEN 'silent'
			WHEN EXISTS (SELECT 1 FROM alerts a
				WHERE a.device_id = devices.id AND a.kind = 'failing' AND a.resolved_at IS NULL) THEN 'failing'
			WHEN last_seen_at IS NULL THEN 'new'
			ELSE 'ok' END,
			count(*)
		FROM devices GROUP BY 1`, store.UTC(now), missed)
	if err != nil {
		return nil, fmt.Errorf("postgres: count devices by status: %w", mapError(ctx, err))
	}
	defer rows.Close()
	counts, err := store.ScanCounts[thermowatt.DeviceStatus](rows)
	if err != nil {
		return nil, fmt.Errorf("postgres: count devices by status: %w", mapError(ctx, err))
	}
	return counts, nil
}
