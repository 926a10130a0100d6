package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

const deviceColumns = `id, created_at, last_seen_at, reading_count,
	expected_interval_s, health, health_at, rejected_count, auth_failures`

// CreateDevice registers a device; store.ErrExists when it is registered.
func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (store.Device, error) {
	d, err := scanDevice(s.write.QueryRowContext(ctx, `
		INSERT INTO devices (id, created_at) VALUES (?, ?)
		ON CONFLICT (id) DO NOTHING
		RETURNING `+deviceColumns,
		id, micros(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Device{}, fmt.Errorf("device %q: %w", id, store.ErrExists)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("sqlite: create device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// GetDevice returns one device; store.ErrNotFound when unknown.
func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(s.read.QueryRowContext(ctx,
		`SELECT `+deviceColumns+` FROM devices WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Device{}, fmt.Errorf("device %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("sqlite: get device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// ListDevices returns every device ordered by id (byte-wise, SQLite's
// default collation).
func (s *Store) ListDevices(ctx context.Context) ([]store.Device, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list devices: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var ds []store.Device
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

func scanDevice(row scanner) (store.Device, error) {
	var (
		d        store.Device
		created  int64
		lastSeen *int64
		health   *string
		healthAt *int64
	)
	if err := row.Scan(&d.ID, &created, &lastSeen, &d.ReadingCount,
		&d.ExpectedIntervalS, &health, &healthAt, &d.Failures.Rejected, &d.Failures.AuthFailures); err != nil {
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
