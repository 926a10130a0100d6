package sqlstore

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

// nextRev takes the next settings revision inside a transaction. The row
// lock it takes (in SQLite, the write transaction: the only writer) is
// held until the transaction ends, so revisions commit in the order they
// are handed out and no reader sees a newer one before an older one.
const nextRev = `UPDATE settings_revision SET rev = rev + 1 WHERE id = 1 RETURNING rev`

// scanSettings reads a row of (settings, rev, updated_at).
func scanSettings(row Row) (thermowatt.SettingsSet, error) {
	var raw []byte
	var set thermowatt.SettingsSet
	if err := row.Scan(&raw, &set.Rev, &set.UpdatedAt); err != nil {
		return set, err
	}
	return set, json.Unmarshal(raw, &set.Values)
}

// settingsJSON is v as stored: a JSON object, passed as text (a JSON
// column in PostgreSQL, TEXT in SQLite).
func settingsJSON(v thermowatt.Settings) (string, error) {
	if v == nil {
		v = thermowatt.Settings{}
	}
	raw, err := json.Marshal(v)
	return string(raw), err
}

// FleetSettings returns the fleet default; see store.Settings.
func (s *Store) FleetSettings(ctx context.Context) (thermowatt.SettingsSet, error) {
	set, err := scanSettings(s.Read.QueryRow(ctx, `SELECT settings, rev, updated_at FROM fleet_settings WHERE id = 1`))
	if err != nil {
		return set, s.fail(ctx, err, "fleet settings")
	}
	return set, nil
}

// SetFleetSettings replaces the fleet default; see store.Settings.
func (s *Store) SetFleetSettings(ctx context.Context, v thermowatt.Settings, now time.Time) (int64, error) {
	raw, err := settingsJSON(v)
	if err != nil {
		return 0, fmt.Errorf("%s: set fleet settings: %w", s.Name, err)
	}
	var rev int64
	err = s.InTx(ctx, func(tx DB) error {
		if err := tx.QueryRow(ctx, nextRev).Scan(&rev); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE fleet_settings SET settings = $1, rev = $2, updated_at = $3 WHERE id = 1`, raw, rev, store.UTC(now))
		return err
	})
	if err != nil {
		return 0, s.fail(ctx, err, "set fleet settings")
	}
	return rev, nil
}

// DeviceSettings returns a device's own settings; see store.Settings.
func (s *Store) DeviceSettings(ctx context.Context, deviceID string) (thermowatt.SettingsSet, error) {
	set, err := scanSettings(s.Read.QueryRow(ctx, `
		SELECT coalesce(ds.settings, '{}'), coalesce(ds.rev, 0), ds.updated_at
		FROM devices d LEFT JOIN device_settings ds ON ds.device_id = d.id
		WHERE d.id = $1`, deviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.SettingsSet{}, fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return set, s.fail(ctx, err, "settings of %q", deviceID)
	}
	return set, nil
}

// SetDeviceSettings replaces a device's own settings; see store.Settings.
func (s *Store) SetDeviceSettings(ctx context.Context, deviceID string, v thermowatt.Settings, now time.Time) (int64, error) {
	raw, err := settingsJSON(v)
	if err != nil {
		return 0, fmt.Errorf("%s: set settings of %q: %w", s.Name, deviceID, err)
	}
	var rev int64
	err = s.InTx(ctx, func(tx DB) error {
		if err := s.mustExist(ctx, tx, "device", `SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1)`, deviceID); err != nil {
			return err
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
		return 0, s.fail(ctx, err, "set settings of %q", deviceID)
	}
	return rev, nil
}

// mustExist returns thermowatt.ErrNotFound, naming what and key, when the
// query (SELECT EXISTS …) answers false.
func (s *Store) mustExist(ctx context.Context, db DB, what, query, key string) error {
	var ok bool
	if err := db.QueryRow(ctx, query, key).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s %q: %w", what, key, thermowatt.ErrNotFound)
	}
	return nil
}

// EffectiveSettings returns what a device should apply; see store.Settings.
func (s *Store) EffectiveSettings(ctx context.Context, deviceID string) (thermowatt.EffectiveSettings, error) {
	var fleetRaw, ownRaw []byte
	var fleetRev, ownRev int64
	err := s.Read.QueryRow(ctx, `
		SELECT f.settings, f.rev, coalesce(ds.settings, '{}'), coalesce(ds.rev, 0)
		FROM devices d CROSS JOIN fleet_settings f LEFT JOIN device_settings ds ON ds.device_id = d.id
		WHERE d.id = $1`, deviceID).Scan(&fleetRaw, &fleetRev, &ownRaw, &ownRev)
	if errors.Is(err, sql.ErrNoRows) {
		return thermowatt.EffectiveSettings{}, fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
	}
	if err != nil {
		return thermowatt.EffectiveSettings{}, s.fail(ctx, err, "effective settings of %q", deviceID)
	}
	return store.MergeSettings(fleetRaw, fleetRev, ownRaw, ownRev)
}
