package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

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
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var ok bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM firmware_releases WHERE version = $1)`, r.Version).Scan(&ok); err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("firmware %q: %w", r.Version, thermowatt.ErrNotFound)
		}
		if len(r.Devices) > 0 {
			var missing []string
			rows, err := tx.Query(ctx, `SELECT want.id FROM unnest($1::text[]) AS want(id) WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = want.id) ORDER BY want.id`, r.Devices)
			if err != nil {
				return err
			}
			if missing, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			if len(missing) > 0 {
				return fmt.Errorf("device %q: %w", missing[0], thermowatt.ErrNotFound)
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO rollouts (version, all_devices, created_at) VALUES ($1, $2, $3) RETURNING id`,
			r.Version, r.All, r.CreatedAt).Scan(&r.ID); err != nil {
			return err
		}
		if len(r.Devices) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO rollout_devices (rollout_id, device_id) SELECT $1, unnest($2::text[])`, r.ID, r.Devices)
			return err
		}
		return nil
	})
	if errors.Is(err, thermowatt.ErrNotFound) {
		return thermowatt.Rollout{}, err
	}
	if err != nil {
		return thermowatt.Rollout{}, fmt.Errorf("postgres: create rollout of %q: %w", r.Version, mapError(ctx, err))
	}
	return r, nil
}

// SetRolloutPaused pauses or resumes a rollout; see store.Rollouts.
func (s *Store) SetRolloutPaused(ctx context.Context, id int64, paused bool) (thermowatt.Rollout, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE rollouts SET paused = $2 WHERE id = $1`, id, paused)
	if err != nil {
		return thermowatt.Rollout{}, fmt.Errorf("postgres: pause rollout %d: %w", id, mapError(ctx, err))
	}
	if tag.RowsAffected() == 0 {
		return thermowatt.Rollout{}, fmt.Errorf("rollout %d: %w", id, thermowatt.ErrNotFound)
	}
	rs, err := s.rollouts(ctx, id)
	if err != nil {
		return thermowatt.Rollout{}, fmt.Errorf("postgres: rollout %d: %w", id, mapError(ctx, err))
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
		return nil, fmt.Errorf("postgres: list rollouts: %w", mapError(ctx, err))
	}
	return rs, nil
}

// rollouts reads every rollout, or the one of id, newest first.
func (s *Store) rollouts(ctx context.Context, id int64) ([]thermowatt.Rollout, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.version, r.all_devices, r.paused, r.created_at,
			coalesce(array_agg(rd.device_id ORDER BY rd.device_id) FILTER (WHERE rd.device_id IS NOT NULL), '{}')
		FROM rollouts r LEFT JOIN rollout_devices rd ON rd.rollout_id = r.id
		WHERE $1 = 0 OR r.id = $1
		GROUP BY r.id ORDER BY r.id DESC`, id)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (thermowatt.Rollout, error) {
		var r thermowatt.Rollout
		err := row.Scan(&r.ID, &r.Version, &r.All, &r.Paused, &r.CreatedAt, &r.Devices)
		r.CreatedAt = r.CreatedAt.UTC()
		if len(r.Devices) == 0 {
			r.Devices = nil
		}
		return r, err
	})
}

// Desired returns what a device should have; see store.Rollouts. The
// settings revision is two primary-key probes; the firmware walks the
// rollouts newest first and stops at the first that is not paused and
// targets the device (rollout_devices' key).
func (s *Store) Desired(ctx context.Context, deviceID string) (thermowatt.Desired, error) {
	var d thermowatt.Desired
	var fw *string
	err := s.pool.QueryRow(ctx, `
		SELECT greatest((SELECT rev FROM fleet_settings),
				coalesce((SELECT rev FROM device_settings WHERE device_id = $1), 0)),
			(SELECT r.version FROM rollouts r
			 WHERE NOT r.paused AND (r.all_devices OR EXISTS (
				SELECT 1 FROM rollout_devices rd WHERE rd.rollout_id = r.id AND rd.device_id = $1))
			 ORDER BY r.id DESC LIMIT 1)`, deviceID).Scan(&d.SettingsRev, &fw)
	if err != nil {
		return d, fmt.Errorf("postgres: desired state of %q: %w", deviceID, mapError(ctx, err))
	}
	if fw != nil {
		d.Firmware = *fw
	}
	return d, nil
}
