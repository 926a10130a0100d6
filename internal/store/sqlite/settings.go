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

// inTx runs fn in a write transaction and commits when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// nextRev takes the next settings revision; the write transaction it runs
// in is the only writer, so revisions commit in order.
const nextRev = `UPDATE settings_revision SET rev = rev + 1 WHERE id = 1 RETURNING rev`

func scanSettings(raw string, rev int64, updated *int64) (thermowatt.SettingsSet, error) {
	set := thermowatt.SettingsSet{Rev: rev, UpdatedAt: fromMicrosPtr(updated)}
	return set, json.Unmarshal([]byte(raw), &set.Values)
}

// FleetSettings returns the fleet default; see store.Settings.
func (s *Store) FleetSettings(ctx context.Context) (thermowatt.SettingsSet, error) {
	var raw string
	var rev int64
	var updated *int64
	err := s.read.QueryRowContext(ctx, `SELECT settings, rev, updated_at FROM fleet_settings WHERE id = 1`).Scan(&raw, &rev, &updated)
	var set thermowatt.SettingsSet
	if err == nil {
		set, err = scanSettings(raw, rev, updated)
	}
	if err != nil {
		return set, fmt.Errorf("sqlite: fleet settings: %w", mapError(ctx, err))
	}
	return set, nil
}

// SetFleetSettings replaces the fleet default; see store.Settings.
func (s *Store) SetFleetSettings(ctx context.Context, v thermowatt.Settings, now time.Time) (int64, error) {
	raw, err := json.Marshal(nonNil(v))
	if err != nil {
		return 0, fmt.Errorf("sqlite: set fleet settings: %w", err)
	}
	var rev int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, nextRev).Scan(&rev); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE fleet_settings SET settings = ?, rev = ?, updated_at = ? WHERE id = 1`, string(raw), rev, micros(now))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("sqlite: set fleet settings: %w", mapError(ctx, err))
	}
	return rev, nil
}

// DeviceSettings returns a device's own settings; see store.Settings.
func (s *Store) DeviceSettings(ctx context.Context, deviceID string) (thermowatt.SettingsSet, error) {
	var raw string
	var rev int64
	var updated *int64
	err := s.read.QueryRowContext(ctx, `
		SELECT coalesce(ds.settings, '{}'), coalesce(ds.rev, 0), ds.updated_at
		FROM devices d LEFT JOIN device_settings ds ON ds.device_id = d.id
		WHERE d.id = ?`, deviceID).Scan(&raw, &rev, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.SettingsSet{}, fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	var set thermowatt.SettingsSet
	if err == nil {
		set, err = scanSettings(raw, rev, updated)
	}
	if err != nil {
		return set, fmt.Errorf("sqlite: settings of %q: %w", deviceID, mapError(ctx, err))
	}
	return set, nil
}

// SetDeviceSettings replaces a device's own settings; see store.Settings.
func (s *Store) SetDeviceSettings(ctx context.Context, deviceID string, v thermowatt.Settings, now time.Time) (int64, error) {
	raw, err := json.Marshal(nonNil(v))
	if err != nil {
		return 0, fmt.Errorf("sqlite: set settings of %q: %w", deviceID, err)
	}
	var rev int64
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?)`, deviceID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
		}
		if err := tx.QueryRowContext(ctx, nextRev).Scan(&rev); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `
			INSERT INTO device_settings (device_id, settings, rev, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (device_id) DO UPDATE SET settings = excluded.settings, rev = excluded.rev, updated_at = excluded.updated_at`,
			deviceID, string(raw), rev, micros(now))
		return err
	})
	if errors.Is(err, thermowatt.ErrNotFound) {
		return 0, err
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: set settings of %q: %w", deviceID, mapError(ctx, err))
	}
	return rev, nil
}

// EffectiveSettings returns what a device should apply; see store.Settings.
func (s *Store) EffectiveSettings(ctx context.Context, deviceID string) (thermowatt.EffectiveSettings, error) {
	var fleetRaw, ownRaw string
	var fleetRev, ownRev int64
	err := s.read.QueryRowContext(ctx, `
		SELECT f.settings, f.rev, coalesce(ds.settings, '{}'), coalesce(ds.rev, 0)
		FROM devices d CROSS JOIN fleet_settings f LEFT JOIN device_settings ds ON ds.device_id = d.id
		WHERE d.id = ?`, deviceID).Scan(&fleetRaw, &fleetRev, &ownRaw, &ownRev)
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("sqlite: effective settings of %q: %w", deviceID, mapError(ctx, err))
	}
	return store.MergeSettings([]byte(fleetRaw), fleetRev, []byte(ownRaw), ownRev)
}

func nonNil(v thermowatt.Settings) thermowatt.Settings {
	if v == nil {
		return thermowatt.Settings{}
	}
	return v
}
