package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// deviceColumns are the columns of devices and of its state (device_state
// AS ds: its counts, last-seen time, health and interval, which ingest
// writes) that make a thermowatt.Device, with which alerts are open (a
// failing one decides its status, thermowatt.Device.Status), from the
// alerts_one_open index, and the revision of the settings it should
// apply: the larger of the fleet default's and its own (store.Settings).
func (s *Store) deviceColumns() string {
	return `id, created_at, ds.last_seen_at, ds.reading_count,
	ds.expected_interval_s, ds.health, ds.health_at, rejected_count, auth_failures,
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'failing' AND a.resolved_at IS NULL),
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'silent' AND a.resolved_at IS NULL),
	EXISTS (SELECT 1 FROM alerts a WHERE a.device_id = devices.id AND a.kind = 'update' AND a.resolved_at IS NULL),
	` + s.Greatest + `((SELECT rev FROM fleet_settings),
		coalesce((SELECT rev FROM device_settings dset WHERE dset.device_id = devices.id), 0))`
}

// deviceStateColumns are device_state's columns deviceColumns reads.
const deviceStateColumns = `device_id, last_seen_at, reading_count, expected_interval_s, health, health_at`

func scanDevice(row Row) (thermowatt.Device, error) {
	var d thermowatt.Device
	var health []byte
	err := row.Scan(&d.ID, &d.CreatedAt, &d.LastSeenAt, &d.ReadingCount, &d.ExpectedIntervalS, &health, &d.HealthAt,
		&d.Failures.Rejected, &d.Failures.AuthFailures, &d.Failing, &d.SilentAlertOpen, &d.UpdateAlertOpen, &d.SettingsRev)
	if health != nil {
		d.Health = health
	}
	return d, err
}

// CreateDevice registers a device; thermowatt.ErrExists when it is registered.
func (s *Store) CreateDevice(ctx context.Context, id string, now time.Time) (thermowatt.Device, error) {
	// The device is read back by GetDevice rather than by RETURNING: its
	// settings revision comes from a subquery, which Citus does not allow
	// in an INSERT. Its state row is created with it (every device has
	// one); ON CONFLICT, as ingest may have written it first.
	err := s.InTx(ctx, func(tx DB) error {
		n, err := tx.Exec(ctx, `INSERT INTO devices (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
			id, store.UTC(now))
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("device %q: %w", id, thermowatt.ErrExists)
		}
		_, err = tx.Exec(ctx, `INSERT INTO device_state (device_id) VALUES ($1) ON CONFLICT (device_id) DO NOTHING`, id)
		return err
	})
	if errors.Is(err, thermowatt.ErrExists) {
		return thermowatt.Device{}, err
	}
	if err != nil {
		return thermowatt.Device{}, s.fail(ctx, err, "create device %q", id)
	}
	d, err := s.GetDevice(ctx, id)
	if err != nil {
		return thermowatt.Device{}, fmt.Errorf("%s: create device %q: %w", s.Name, id, err)
	}
	return d, nil
}

// GetDevice returns one device; thermowatt.ErrNotFound when unknown.
func (s *Store) GetDevice(ctx context.Context, id string) (thermowatt.Device, error) {
	// ds.device_id = $1 as well: on Citus that names the shard to read.
	d, err := scanDevice(s.Read.QueryRow(ctx, `SELECT `+s.deviceColumns()+`
		FROM devices JOIN device_state ds ON ds.device_id = devices.id WHERE devices.id = $1 AND ds.device_id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %q: %w", id, thermowatt.ErrNotFound)
	}
	if err != nil {
		return d, s.fail(ctx, err, "get device %q", id)
	}
	return d, nil
}

// ListDevices returns a page of devices ordered by id, byte-wise (the
// column is COLLATE "C" in PostgreSQL, SQLite's default collation is
// binary), those after q.After.
func (s *Store) ListDevices(ctx context.Context, q store.DeviceQuery) ([]thermowatt.Device, error) {
	// The page of states first (every device has one, so it is the
	// page's): on Citus a subquery with LIMIT is read from the shards
	// first, then joined with devices, a reference table, and the alerts.
	rows, err := s.Read.Query(ctx, `SELECT `+s.deviceColumns()+`
		FROM devices JOIN (SELECT `+deviceStateColumns+` FROM device_state WHERE device_id > $1 ORDER BY device_id LIMIT $2) ds
			ON ds.device_id = devices.id
		ORDER BY id LIMIT $2`, q.After, q.Limit)
	ds, err := collect(rows, err, scanDevice)
	if err != nil {
		return nil, s.fail(ctx, err, "list devices")
	}
	return ds, nil
}

// SetExpectedInterval sets how often a device should send; see
// store.Devices. The interval decides which gaps energy spans: every hour
// of the device is marked pending under the same row lock (the backend's
// MarkAllHours), for the materializer to recompute with the new one; reads
// compute marked hours from the readings meanwhile, so they are exact at
// once.
func (s *Store) SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error {
	if seconds < 1 {
		return fmt.Errorf("%s: expected interval must be at least 1 s, got %d", s.Name, seconds)
	}
	err := s.InTx(ctx, func(tx DB) error {
		var old int
		err := tx.QueryRow(ctx, `SELECT expected_interval_s FROM device_state WHERE device_id = $1 `+s.ForUpdate, deviceID).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("device %q: %w", deviceID, thermowatt.ErrNotFound)
		}
		if err != nil || old == seconds {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE device_state SET expected_interval_s = $2 WHERE device_id = $1`, deviceID, seconds); err != nil {
			return err
		}
		return s.MarkAllHours(ctx, tx, deviceID)
	})
	if errors.Is(err, thermowatt.ErrNotFound) {
		return err
	}
	if err != nil {
		return s.fail(ctx, err, "set interval of %q", deviceID)
	}
	return nil
}

// CountDevicesByStatus counts devices by thermowatt.Device.Status, whose
// rule the CASE below follows in the same order: silent, failing, new,
// ok. The conformance suite checks the two agree device by device.
func (s *Store) CountDevicesByStatus(ctx context.Context, now time.Time, missed int) (map[thermowatt.DeviceStatus]int, error) {
	// The states as a CTE of its own (MATERIALIZED): on Citus it is read
	// from the shards first, then joined with devices and the alerts,
	// reference tables.
	rows, err := s.Read.Query(ctx, `
		WITH ds AS MATERIALIZED (SELECT `+deviceStateColumns+` FROM device_state)
		SELECT CASE
			WHEN $2 > 0 AND last_seen_at IS NOT NULL
				AND $1 > `+s.SecondsAfter("last_seen_at", "$2 * "+s.Greatest+"(expected_interval_s, 1)")+` THEN 'silent'
			WHEN EXISTS (SELECT 1 FROM alerts a
				WHERE a.device_id = devices.id AND a.kind = 'failing' AND a.resolved_at IS NULL) THEN 'failing'
			WHEN last_seen_at IS NULL THEN 'new'
			ELSE 'ok' END,
			count(*)
		FROM devices JOIN ds ON ds.device_id = devices.id GROUP BY 1`, store.UTC(now), missed)
	if err != nil {
		return nil, s.fail(ctx, err, "count devices by status")
	}
	defer rows.Close()
	counts, err := store.ScanCounts[thermowatt.DeviceStatus](rows)
	if err != nil {
		return nil, s.fail(ctx, err, "count devices by status")
	}
	return counts, nil
}
