package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	err := s.InTx(ctx, func(tx DB) error {
		if err := s.mustExist(ctx, tx, "firmware", `SELECT EXISTS (SELECT 1 FROM firmware_releases WHERE version = $1)`, r.Version); err != nil {
			return err
		}
		for _, id := range r.Devices {
			if err := s.mustExist(ctx, tx, "device", `SELECT EXISTS (SELECT 1 FROM devices WHERE id = $1)`, id); err != nil {
				return err
			}
		}
		if err := tx.QueryRow(ctx, `INSERT INTO rollouts (version, all_devices, created_at) VALUES ($1, $2, $3) RETURNING id`,
			r.Version, r.All, r.CreatedAt).Scan(&r.ID); err != nil {
			return err
		}
		stmts := make([]Stmt, len(r.Devices))
		for i, id := range r.Devices {
			stmts[i] = Stmt{`INSERT INTO rollout_devices (rollout_id, device_id) VALUES ($1, $2)`, []any{r.ID, id}}
		}
		return tx.ExecAll(ctx, stmts)
	})
	if errors.Is(err, thermowatt.ErrNotFound) {
		return thermowatt.Rollout{}, err
	}
	if err != nil {
		return thermowatt.Rollout{}, s.fail(ctx, err, "create rollout of %q", r.Version)
	}
	return r, nil
}

// SetRolloutPaused pauses or resumes a rollout; see store.Rollouts.
func (s *Store) SetRolloutPaused(ctx context.Context, id int64, paused bool) (thermowatt.Rollout, error) {
	n, err := s.Write.Exec(ctx, `UPDATE rollouts SET paused = $2 WHERE id = $1`, id, paused)
	if err != nil {
		return thermowatt.Rollout{}, s.fail(ctx, err, "pause rollout %d", id)
	}
	var rs []thermowatt.Rollout
	if n > 0 {
		if rs, err = s.rollouts(ctx, id); err != nil {
			return thermowatt.Rollout{}, s.fail(ctx, err, "rollout %d", id)
		}
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
		return nil, s.fail(ctx, err, "list rollouts")
	}
	return rs, nil
}

// rollouts reads every rollout, or the one of id, newest first, with
// their devices in one query.
func (s *Store) rollouts(ctx context.Context, id int64) ([]thermowatt.Rollout, error) {
	rows, err := s.Read.Query(ctx, `
		SELECT r.id, r.version, r.all_devices, r.paused, r.created_at, rd.device_id
		FROM rollouts r LEFT JOIN rollout_devices rd ON rd.rollout_id = r.id
		WHERE $1 = 0 OR r.id = $1
		ORDER BY r.id DESC, rd.device_id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []thermowatt.Rollout
	for rows.Next() {
		var r thermowatt.Rollout
		var device *string
		if err := rows.Scan(&r.ID, &r.Version, &r.All, &r.Paused, &r.CreatedAt, &device); err != nil {
			return nil, err
		}
		if len(out) == 0 || out[len(out)-1].ID != r.ID {
			out = append(out, r)
		}
		if device != nil {
			last := &out[len(out)-1]
			last.Devices = append(last.Devices, *device)
		}
	}
	return out, rows.Err()
}

// Desired returns what a device should have; see store.Rollouts. The
// settings revision is two primary-key probes; the firmware walks the
// rollouts newest first and stops at the first that is not paused and
// targets the device (rollout_devices' key).
func (s *Store) Desired(ctx context.Context, deviceID string) (thermowatt.Desired, error) {
	var d thermowatt.Desired
	var fw *string
	err := s.Read.QueryRow(ctx, `
		SELECT `+s.Greatest+`((SELECT rev FROM fleet_settings),
				coalesce((SELECT rev FROM device_settings WHERE device_id = $1), 0)),
			(SELECT r.version FROM rollouts r
			 WHERE NOT r.paused AND (r.all_devices OR EXISTS (
				SELECT 1 FROM rollout_devices rd WHERE rd.rollout_id = r.id AND rd.device_id = $1))
			 ORDER BY r.id DESC LIMIT 1)`, deviceID).Scan(&d.SettingsRev, &fw)
	if err != nil {
		return d, s.fail(ctx, err, "desired state of %q", deviceID)
	}
	if fw != nil {
		d.Firmware = *fw
	}
	return d, nil
}

// DesiredVersion returns what moves with every change of desired state;
// see store.Rollouts. Settings revisions come from one counter; rollouts
// are only added, paused and resumed, so the newest id and the set of
// paused ones say which rollouts apply: "REV/NEWEST/PAUSED,PAUSED". A
// change made between its two reads shows at the next call.
func (s *Store) DesiredVersion(ctx context.Context) (string, error) {
	var rev, newest int64
	err := s.Read.QueryRow(ctx, `SELECT (SELECT rev FROM settings_revision WHERE id = 1),
		coalesce((SELECT max(id) FROM rollouts), 0)`).Scan(&rev, &newest)
	var paused []int64
	if err == nil {
		rows, qerr := s.Read.Query(ctx, `SELECT id FROM rollouts WHERE paused ORDER BY id`)
		paused, err = collect(rows, qerr, func(row Row) (id int64, err error) {
			err = row.Scan(&id)
			return id, err
		})
	}
	if err != nil {
		return "", s.fail(ctx, err, "desired version")
	}
	ids := make([]string, len(paused))
	for i, id := range paused {
		ids[i] = strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%d/%d/%s", rev, newest, strings.Join(ids, ",")), nil
}
