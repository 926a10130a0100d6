package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// deviceFields are the columns of devices that make a thermowatt.Device;
// deviceColumns adds which alerts are open (a failing one decides its
// status, thermowatt.Device.Status), from the alerts_one_open index.
const (
	deviceFields = `id, created_at, last_seen_at, reading_count,
	expected_interval_s, health, health_at, rejected_count, auth_failures`
	deviceColumns = deviceFields + `,
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'failing' AND a.resolved_at IS NULL),
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'silent' AND a.resolved_at IS NULL)`
)

// CreateDevice registers a device; thermowatt.ErrExists when it is registered.
func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (thermowatt.Device, error) {
	d, err := scanDevice(s.write.QueryRowContext(ctx, `
		INSERT INTO devices (id, created_at) VALUES (?, ?)
		ON CONFLICT (id) DO NOTHING
		RETURNING `+deviceFields+`, 0, 0`, // a new device has no alerts
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
		&d.ExpectedIntervalS, &health, &healthAt, &d.Failures.Rejected, &d.Failures.AuthFailures, &d.Failing, &d.SilentAlertOpen); err != nil {
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
