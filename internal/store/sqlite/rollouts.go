package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// CreateRollout stores a rollout; see store.Rollouts.
func (s *Store) CreateRollout(ctx context.Context, r thermowatt.Rollout, now time.Time) (thermowatt.Rollout, error) {
	r.Devices = slices.Compact(slices.Sorted(slices.Values(r.Devices)))
	if r.All {
		r.Devices = nil
	}
	r.CreatedAt, r.Paused = store.UTC(now), false
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var ok bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM firmware_releases WHERE version = ?)`, r.Version).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("firmware %q: %w", r.Version, thermowatt.ErrNotFound)
		}
		for _, id := range r.Devices {
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM devices WHERE id = ?)`, id).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("device %q: %w", id, thermowatt.ErrNotFound)
			}
		}
		if err := tx.QueryRowContext(ctx, `INSERT INTO rollouts (version, all_devices, created_at) VALUES (?, ?, ?) RETURNING id`,
			r.Version, r.All, micros(r.CreatedAt)).Scan(&r.ID); err != nil {
			return err
		}
		for _, id := range r.Devices {
			if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_devices (rollout_id, device_id) VALUES (?, ?)`, r.ID, id); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, thermowatt.ErrNotFound) {
		return thermowatt.Rollout{}, err
	}
	if err != nil {
		return thermowatt.Rollout{}, fmt.Errorf("sqlite: create rollout of %q: %w", r.Version, mapError(ctx, err))
	}
	return r, nil
}

// SetRolloutPaused pauses or resumes a rollout; see store.Rollouts.
func (s *Store) SetRolloutPaused(ctx context.Context, id int64, paused bool) (thermowatt.Rollout, error) {
	res, err := s.write.ExecContext(ctx, `UPDATE rollouts SET paused = ? WHERE id = ?`, paused, id)
	if err != nil {
		return thermowatt.Rollout{}, fmt.Errorf("sqlite: pause rollout %d: %w", id, mapError(ctx, err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return thermowatt.Rollout{}, fmt.Errorf("rollout %d: %w", id, thermowatt.ErrNotFound)
	}
	rs, err := s.rollouts(ctx, id)
	if err != nil {
		return thermowatt.Rollout{}, fmt.Errorf("sqlite: rollout %d: %w", id, mapError(ctx, err))
	}
	if len(rs) == 0 {
		return thermowatt.Rollout{}, fmt.Errorf("rollout %d: %w", id, thermowatt.ErrNotFound)
	}
	return rs[0], nil
}

// ListRollouts returns every rollout newest first; see store.Rollouts.
func (s *Store) ListRollouts(ctx context.Context) ([]thermowatt.Rollout, error) {
	rs, err := s.rollouts(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list rollouts: %w", mapError(ctx, err))
	}
	return rs, nil
}

// rollouts reads every rollout, or the one of id, newest first. Device
// ids cannot hold a newline (thermowatt.ValidDeviceID), so they are
// aggregated with it as the separator.
func (s *Store) rollouts(ctx context.Context, id int64) ([]thermowatt.Rollout, error) {
	rows, err := s.read.QueryContext(ctx, `
		SELECT r.id, r.version, r.all_devices, r.paused, r.created_at,
			coalesce((SELECT group_concat(device_id, char(10)) FROM
				(SELECT device_id FROM rollout_devices rd WHERE rd.rollout_id = r.id ORDER BY device_id)), '')
		FROM rollouts r
		WHERE ?1 = 0 OR r.id = ?1
		ORDER BY r.id DESC`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []thermowatt.Rollout
	for rows.Next() {
		var r thermowatt.Rollout
		var created int64
		var devices string
		if err := rows.Scan(&r.ID, &r.Version, &r.All, &r.Paused, &created, &devices); err != nil {
			return nil, err
		}
		r.CreatedAt = fromMicros(created)
		if devices != "" {
			r.Devices = strings.Split(devices, "\n")
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Desired returns what a device should have; see store.Rollouts, and the
// PostgreSQL backend for how the query finds it.
func (s *Store) Desired(ctx context.Context, deviceID string) (thermowatt.Desired, error) {
	var d thermowatt.Desired
	var fw *string
	err := s.read.QueryRowContext(ctx, `
		SELECT max((SELECT rev FROM fleet_settings),
				coalesce((SELECT rev FROM device_settings WHERE device_id = ?1), 0)),
			(SELECT r.version FROM rollouts r
			 WHERE NOT r.paused AND (r.all_devices OR EXISTS (
				SELECT 1 FROM rollout_devices rd WHERE rd.rollout_id = r.id AND rd.device_id = ?1))
			 ORDER BY r.id DESC LIMIT 1)`, deviceID).Scan(&d.SettingsRev, &fw)
	if err != nil {
		return d, fmt.Errorf("sqlite: desired state of %q: %w", deviceID, mapError(ctx, err))
	}
	if fw != nil {
		d.Firmware = *fw
	}
	return d, nil
}
