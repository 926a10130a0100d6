package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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
	settingsRevOf = `max((SELECT rev FROM fleet_settings),
		coalesce((SELECT rev FROM device_settings ds WHERE ds.device_id = devices.id), 0))`
)

// CreateDevice registers a device; thermowatt.ErrExists when it is registered.
func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (thermowatt.Device, error) {
	d, err := scanDevice(s.write.QueryRowContext(ctx, `
		INSERT INTO devices (id, created_at) VALUES (?, ?)
		ON CONFLICT (id) DO NOTHING
		RETURNING `+deviceFields+`, 0, 0, 0, (SELECT rev FROM fleet_settings)`, // a new device has no alerts nor settings of its own
		id, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.Device{}, fmt.Errorf("device %q: %w", id, thermowatt.ErrExists)
	}
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("sqlite: create device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// GetDevice returns one device; thermowatt.ErrNotFound when unknown.
func (s *Store) GetDevice(ctx context.Context, id string) (thermowatt.Device, error) {
	d, err := scanDevice(s.read.QueryRowContext(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.Device{}, fmt.Errorf("device %q: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("sqlite: get device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// ListDevices returns a page of devices ordered by id (byte-wise, SQLite's
// default collation), those after q.After.
func (s *Store) ListDevices(ctx context.Context, q store.DeviceQuery) ([]thermowatt.Device, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id > ? ORDER BY id LIMIT ?`, q.After, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list devices: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var ds []thermowatt.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list devices: %w", mapError(ctx, err))
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list devices: %w", mapError(ctx, err))
	}
	return ds, nil
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanDevice(row scanner) (thermowatt.Device, error) {
	var (
		d        thermowatt.Device
		created  int64
		lastSeen *int64
		health   *string
		healthAt *int64
	)
	if err := row.Scan(&d.ID, &created, &lastSeen, &d.ReadingCount,
		&d.ExpectedIntervalS, &health, &healthAt, &d.Failures.Rejected, &d.Failures.AuthFailures, &d.Failing, &d.SilentAlertOpen, &d.UpdateAlertOpen, &d.SettingsRev); err != nil {
		return d, err
	}
	if health != nil {
		d.Health = []byte(*health)
	}
	d.HealthAt = fromMicrosPtr(healthAt)
	d.CreatedAt = fromMicros(created)
	d.LastSeenAt = fromMicrosPtr(lastSeen)
	return d, nil
}

// SetExpectedInterval sets how often a device should send; see store.Devices.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("sqlite: expected interval must be at least 1 s, got %d", seconds)
	}
	// The interval decides which gaps energy spans: every hour of the
	// device is marked pending, in the same transaction, for the
	// materializer to recompute with the new one (reads compute marked
	// hours from the readings meanwhile, so they are exact at once).
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
			err = s.markAllHours(ctx, tx, deviceID)
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
