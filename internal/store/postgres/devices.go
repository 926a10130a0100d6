package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
)

const deviceColumns = `id, created_at, last_seen_at, reading_count,
	expected_interval_s, health, health_at, rejected_count, auth_failures`

// CreateDevice registers a device; store.ErrExists when it is registered.
func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (store.Device, error) {
	rows, err := s.pool.Query(ctx, `
		INSERT INTO devices (id, created_at) VALUES ($1, $2)
		ON CONFLICT (id) DO NOTHING
		RETURNING `+deviceColumns,
		id, store.UTC(now))
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: create device %q: %w", id, mapError(ctx, err))
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Device{}, fmt.Errorf("device %q: %w", id, store.ErrExists)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: create device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// GetDevice returns one device; store.ErrNotFound when unknown.
func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM devices WHERE id = $1`, id)
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: get device %q: %w", id, mapError(ctx, err))
	}
	d, err := pgx.CollectExactlyOneRow(rows, scanDevice)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Device{}, fmt.Errorf("device %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: get device %q: %w", id, mapError(ctx, err))
	}
	return d, nil
}

// ListDevices returns every device ordered by id (byte-wise: the column is
// COLLATE "C").
func (s *Store) ListDevices(ctx context.Context) ([]store.Device, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list devices: %w", mapError(ctx, err))
	}
	ds, err := pgx.CollectRows(rows, scanDevice)
	if err != nil {
		return nil, fmt.Errorf("postgres: list devices: %w", mapError(ctx, err))
	}
	return ds, nil
}

func scanDevice(row pgx.CollectableRow) (store.Device, error) {
	var d store.Device
	var health []byte
	if err := row.Scan(&d.ID, &d.CreatedAt, &d.LastSeenAt, &d.ReadingCount,
		&d.ExpectedIntervalS, &health, &d.HealthAt, &d.Failures.Rejected, &d.Failures.AuthFailures); err != nil {
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
