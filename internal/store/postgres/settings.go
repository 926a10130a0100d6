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

// nextRev takes the next settings revision inside tx. The row lock it
// takes is held until tx ends, so revisions commit in the order they are
// handed out and no reader sees a newer one before an older one.
const nextRev = `UPDATE settings_revision SET rev = rev + 1 WHERE id = 1 RETURNING rev`

// FleetSettings returns the fleet default; see store.Settings.
func (s *Store) FleetSettings(ctx context.Context) (thermowatt.SettingsSet, error) {
	var raw []byte
	var set thermowatt.SettingsSet
	err := s.pool.QueryRow(ctx, `SELECT settings, rev, updated_at FROM fleet_settings WHERE id = 1`).Scan(&raw, &set.Rev, &set.UpdatedAt)
	if err == nil {
		err = json.Unmarshal(raw, &set.Values)
	}
	if err != nil {
		return set, fmt.Errorf("postgres: fleet settings: %w", mapError(ctx, err))
	}
	set.UpdatedAt = utcPtr(set.UpdatedAt)
	return set, nil
}

// SetFleetSettings replaces the fleet default; see store.Settings.
func (s *Store) SetFleetSettings(ctx context.Context, v thermowatt.Settings, now time.Time) (int64, error) {
	raw, err := json.Marshal(nonNil(v))
	if err != nil {
		return 0, fmt.Errorf("postgres: set fleet settings: %w", err)
	}
	var rev int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, nextRev).Scan(&rev); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE fleet_settings SET settings = $1, rev = $2, updated_at = $3 WHERE id = 1`, raw, rev, store.UTC(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: set fleet settings: %w", mapError(ctx, err))
	}
	return rev, nil
}

// DeviceSettings returns a device's own settings; see store.Settings.
func (s *Store) DeviceSettings(ctx context.Context, deviceID string) (thermowatt.SettingsSet, error) {
	var raw []byte
	var set thermowatt.SettingsSet
	err := s.pool.QueryRow(ctx, `
		SELECT coalesce(ds.settings, '{}'), coalesce(ds.rev, 0), ds.updated_at
		FROM devices d LEFT JOIN device_settings ds ON ds.device_id = d.id
		WHERE d.id = $1`, deviceID).Scan(&raw, &set.Rev, &set.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return set, fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	if err == nil {
		err = json.Unmarshal(raw, &set.Values)
	}
	if err != nil {
		return set, fmt.Errorf("postgres: settings of %q: %w", deviceID, mapError(ctx, err))
	}
	set.UpdatedAt = utcPtr(set.UpdatedAt)
	return set, nil
}

// SetDeviceSettings replaces a device's own settings; see store.Settings.
func (s *Store) SetDeviceSettings(ctx context.Context, deviceID string, v thermowatt.Settings, now time.Time) (int64, error) {
	raw, err := json.Marshal(nonNil(v))
	if err != nil {
		return 0, fmt.Errorf("postgres: set settings of %q: %w", deviceID, err)
	}
	var rev int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1)`, deviceID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
		}
		if err := tx.QueryRow(ctx, nextRev).Scan(&rev); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO device_settings (device_id, settings, rev, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (device_id) DO UPDATE SET settings = excluded.settings, rev = excluded.rev, updated_at = excluded.updated_at`,
			deviceID, raw, rev, store.UTC(now))
		return err
	})
	if errors.Is(err, thermowatt.ErrNotFound) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: set settings of %q: %w", deviceID, mapError(ctx, err))
	}
	return rev, nil
}

// EffectiveSettings returns what a device should apply; see store.Settings.
func (s *Store) EffectiveSettings(ctx context.Context, deviceID string) (thermowatt.EffectiveSettings, error) {
	var fleetRaw, ownRaw []byte
	var fleetRev, ownRev int64
	err := s.pool.QueryRow(ctx, `
		SELECT f.settings, f.rev, coalesce(ds.settings, '{}'), coalesce(ds.rev, 0)
		FROM devices d CROSS JOIN fleet_settings f LEFT JOIN device_settings ds ON ds.device_id = d.id
		WHERE d.id = $1`, deviceID).Scan(&fleetRaw, &fleetRev, &ownRaw, &ownRev)
	if errors.Is(err, pgx.ErrNoRows) {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("postgres: effective settings of %q: %w", deviceID, mapError(ctx, err))
	}
	return store.MergeSettings(fleetRaw, fleetRev, ownRaw, ownRev)
}

func nonNil(v thermowatt.Settings) thermowatt.Settings {
	if v == nil {
		return thermowatt.Settings{}
	}
	return v
}
