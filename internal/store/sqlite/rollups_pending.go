package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// markHour marks one device-hour as pending, once: a mark already there is
// left as it is (and keeps its time, which says how long the hour waited).
const markHour = `INSERT INTO rollup_pending (device_id, hour, marked_at) VALUES (?, ?, ?)
	ON CONFLICT (device_id, hour) DO NOTHING`

// markStored marks the hours that the readings of rs marked in stored
// change (store.MarkedHours), in tx. rs is sorted by device, then time.
func (s *Store) markStored(ctx context.Context, tx *sql.Tx, rs []thermowatt.Reading, stored []bool, received int64) error {
	ids, news := rollup.NewByDevice(rs, stored)
	if len(ids) == 0 {
		return nil
	}
	mark, err := s.writeStmts.inTx(ctx, tx, markHour)
	if err != nil {
		return err
	}
	for _, id := range ids {
		gap, _, err := s.maxGap(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, h := range store.MarkedHours(news[id], gap) {
			if _, err := mark.ExecContext(ctx, id, h, received); err != nil {
				return err
			}
		}
	}
	return nil
}

// pendingHours is, per device, the marked hours (unix microseconds,
// ascending).
type pendingHours map[string][]int64

func (p pendingHours) devices() []string {
	ids := make([]string, 0, len(p))
	for id := range p {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func scanPending(rows *sql.Rows) (pendingHours, int, error) {
	defer rows.Close()
	p := pendingHours{}
	n := 0
	for rows.Next() {
		var (
			id   string
			hour int64
		)
		if err := rows.Scan(&id, &hour); err != nil {
			return nil, 0, err
		}
		p[id] = append(p[id], hour)
		n++
	}
	for _, hours := range p {
		slices.Sort(hours)
	}
	return p, n, rows.Err()
}

// computePending computes the marked hours from the readings, in tx: one
// read per run of consecutive hours.
func (s *Store) computePending(ctx context.Context, tx *sql.Tx, stmts *stmtCache, p pendingHours) ([]rollup.Row, error) {
	samples, err := stmts.inTx(ctx, tx, sampleQuery)
	if err != nil {
		return nil, err
	}
	interval, err := stmts.inTx(ctx, tx, deviceInterval)
	if err != nil {
		return nil, err
	}
	var out []rollup.Row
	for _, id := range p.devices() {
		var seconds int
		if err := interval.QueryRowContext(ctx, id).Scan(&seconds); err != nil {
			return nil, fmt.Errorf("interval of %q: %w", id, err)
		}
		gap := rollup.MaxGap(seconds)
		for _, r := range store.PendingRuns(p[id]) {
			window, err := readSamples(ctx, samples, id, r[0]-gap, r[1]+gap)
			if err != nil {
				return nil, err
			}
			out = append(out, rollup.Compute(id, window, gap, r[0], r[1])...)
		}
	}
	return out, nil
}

// MaterializeRollups recomputes pending hours; see store.Rollups. SQLite
// has one writer, so the transaction sees every batch committed before it
// and none commits while it runs.
func (s *Store) MaterializeRollups(ctx context.Context, limit int, markedBefore time.Time) (int, error) {
	n, err := s.materialize(ctx, limit, micros(markedBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlite: materialize roll-ups: %w", mapError(ctx, err))
	}
	return n, nil
}

func (s *Store) materialize(ctx context.Context, limit int, markedBefore int64) (_ int, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	rows, err := tx.QueryContext(ctx, `SELECT device_id, hour FROM rollup_pending WHERE marked_at < ?
		ORDER BY marked_at, device_id, hour LIMIT ?`, markedBefore, limit)
	if err != nil {
		return 0, err
	}
	claimed, n, err := scanPending(rows)
	if err != nil || n == 0 {
		tx.Rollback()
		return 0, err
	}
	computed, err := s.computePending(ctx, tx, s.writeStmts, claimed)
	if err != nil {
		return 0, err
	}
	for id, hours := range claimed {
		for _, h := range hours {
			if _, err := tx.ExecContext(ctx, `DELETE FROM hourly_rollups WHERE device_id = ? AND hour = ?`, id, h); err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM rollup_pending WHERE device_id = ? AND hour = ?`, id, h); err != nil {
				return 0, err
			}
		}
	}
	if err := s.insertRollups(ctx, tx, computed); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// RollupLag says how far the materializer is behind; see store.Rollups.
func (s *Store) RollupLag(ctx context.Context) (store.RollupLag, error) {
	var (
		lag    store.RollupLag
		oldest sql.NullInt64
	)
	err := s.read.QueryRowContext(ctx, `SELECT count(*), min(marked_at) FROM rollup_pending`).Scan(&lag.Pending, &oldest)
	if err != nil {
		return lag, fmt.Errorf("sqlite: roll-up lag: %w", mapError(ctx, err))
	}
	if oldest.Valid {
		lag.Oldest = fromMicros(oldest.Int64)
	}
	return lag, nil
}

// snapshot runs fn in a read transaction: in WAL mode it sees one
// snapshot of the database, so the marks, the materialized hours and the
// readings agree.
func (s *Store) snapshot(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

const pendingOfDevice = `SELECT device_id, hour FROM rollup_pending
	WHERE device_id = ? AND hour >= ? AND hour < ? ORDER BY hour`

func (s *Store) rollupHours(ctx context.Context, tx *sql.Tx, q store.RollupQuery) ([]rollup.Row, error) {
	pending := pendingHours{}
	for _, id := range q.DeviceIDs {
		rows, err := tx.QueryContext(ctx, pendingOfDevice, id, micros(q.From), micros(q.To))
		if err != nil {
			return nil, err
		}
		p, _, err := scanPending(rows)
		if err != nil {
			return nil, err
		}
		for d, hours := range p {
			pending[d] = hours
		}
	}
	stored, err := storedHours(ctx, tx, q)
	if err != nil || len(pending) == 0 {
		return stored, err
	}
	computed, err := s.computePending(ctx, tx, s.readStmts, pending)
	if err != nil {
		return nil, err
	}
	return store.ReplacePending(q.DeviceIDs, stored, pending, computed), nil
}

// RollupHours returns the hours of the devices named, the materialized
// ones with the pending ones computed from the readings; see
// store.Rollups.
func (s *Store) RollupHours(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error) {
	var out []rollup.Row
	err := s.snapshot(ctx, func(tx *sql.Tx) (err error) {
		out, err = s.rollupHours(ctx, tx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: roll-ups: %w", mapError(ctx, err))
	}
	return out, nil
}

// EnergyHours returns one device's energy per hour; see store.Rollups.
// When hours of the range are pending, they are computed as RollupHours
// does.
func (s *Store) EnergyHours(ctx context.Context, deviceID string, from, to time.Time) ([]store.HourEnergy, error) {
	var out []store.HourEnergy
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		var pending int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rollup_pending WHERE device_id = ? AND hour >= ? AND hour < ?`,
			deviceID, micros(from), micros(to)).Scan(&pending)
		if err != nil {
			return err
		}
		if pending == 0 {
			out, err = storedEnergy(ctx, tx, deviceID, from, to)
			return err
		}
		hours, err := s.rollupHours(ctx, tx, store.RollupQuery{DeviceIDs: []string{deviceID}, From: from, To: to})
		out = store.EnergyOf(hours)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: energy: %w", mapError(ctx, err))
	}
	return out, nil
}
