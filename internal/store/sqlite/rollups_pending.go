package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// markHour marks one device-hour as pending. A mark already there keeps
// its time (how long the hour has waited) and takes the batch's version,
// which tells the materializer that the hour changed while it was
// computing it. Versions are random, not counted: a mark cleared and made
// again must not come back with a version a materializer (another
// process's, on the same file) read before.
const markHour = `INSERT INTO rollup_pending (device_id, hour, marked_at, version) VALUES (?, ?, ?, ?)
	ON CONFLICT (device_id, hour) DO UPDATE SET version = excluded.version`

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
	version := rand.Int64()
	for _, id := range ids {
		gap, _, err := s.maxGap(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, h := range store.MarkedHours(news[id], gap) {
			if _, err := mark.ExecContext(ctx, id, h, received, version); err != nil {
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
			window, err := readSamples(ctx, tx, samples, id, r[0]-gap, r[1]+gap)
			if err != nil {
				return nil, err
			}
			out = append(out, rollup.Compute(id, window, gap, r[0], r[1])...)
		}
	}
	return out, nil
}

// MaterializeRollups recomputes pending hours; see store.Rollups.
//
// SQLite has one writer, and ingest waits for it: so the hours are read
// and computed in a read transaction (one snapshot, beside the writer),
// and the write transaction that follows only replaces the hours whose
// marks still have the version read, deleting those marks. A mark whose
// version moved was marked again by a batch committed after the snapshot:
// its hour is left pending for the next pass. It says how many hours it
// cleared.
func (s *Store) MaterializeRollups(ctx context.Context, limit int, markedBefore time.Time) (int, error) {
	n, err := s.materialize(ctx, limit, micros(markedBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlite: materialize roll-ups: %w", mapError(ctx, err))
	}
	return n, nil
}

type claim struct {
	device   string
	hour     int64
	version  int64
	markedAt int64
}

// maxOptimisticWait bounds how long an hour can stay pending because
// batches keep marking it again while the materializer computes it (a
// device sending many times a second): a mark older than this whose
// version moved is recomputed inside the write transaction instead, which
// holds the writer for that hour's readings once a minute at most.
const maxOptimisticWait = time.Minute

func (s *Store) materialize(ctx context.Context, limit int, markedBefore int64) (int, error) {
	var (
		claims   []claim
		computed []rollup.Row
	)
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT device_id, hour, version, marked_at FROM rollup_pending WHERE marked_at < ?
			ORDER BY marked_at, device_id, hour LIMIT ?`, markedBefore, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		pending := pendingHours{}
		for rows.Next() {
			var c claim
			if err := rows.Scan(&c.device, &c.hour, &c.version, &c.markedAt); err != nil {
				return err
			}
			claims = append(claims, c)
			pending[c.device] = append(pending[c.device], c.hour)
		}
		if err := rows.Err(); err != nil || len(claims) == 0 {
			return err
		}
		for _, hours := range pending {
			slices.Sort(hours)
		}
		computed, err = s.computePending(ctx, tx, s.readStmts, pending)
		return err
	})
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	byHour := make(map[claim]rollup.Row, len(computed))
	for _, r := range computed {
		byHour[claim{device: r.DeviceID, hour: r.Hour.UnixMicro()}] = r
	}
	return s.replaceUnchanged(ctx, claims, byHour, micros(time.Now().Add(-maxOptimisticWait)))
}

// replaceUnchanged writes the computed hours whose marks still have the
// version read, and deletes those marks, in one write transaction. Marks
// whose version moved are left for the next pass, but those marked before
// stale are recomputed here, under the writer, and cleared.
func (s *Store) replaceUnchanged(ctx context.Context, claims []claim, computed map[claim]rollup.Row, stale int64) (_ int, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var rows []rollup.Row
	cleared := 0
	late := pendingHours{}
	for _, c := range claims {
		res, err := tx.ExecContext(ctx, `DELETE FROM rollup_pending WHERE device_id = ? AND hour = ? AND version = ?`, c.device, c.hour, c.version)
		if err != nil {
			return 0, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return 0, err
			}
			if c.markedAt < stale {
				late[c.device] = append(late[c.device], c.hour)
			}
			continue // marked again since the snapshot: the next pass
		}
		cleared++
		if _, err := tx.ExecContext(ctx, `DELETE FROM hourly_rollups WHERE device_id = ? AND hour = ?`, c.device, c.hour); err != nil {
			return 0, err
		}
		if r, ok := computed[claim{device: c.device, hour: c.hour}]; ok {
			rows = append(rows, r)
		}
	}
	if len(late) > 0 {
		for _, hours := range late {
			slices.Sort(hours)
		}
		exact, err := s.computePending(ctx, tx, s.writeStmts, late)
		if err != nil {
			return 0, err
		}
		for id, hours := range late {
			for _, h := range hours {
				if _, err := tx.ExecContext(ctx, `DELETE FROM rollup_pending WHERE device_id = ? AND hour = ?`, id, h); err != nil {
					return 0, err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM hourly_rollups WHERE device_id = ? AND hour = ?`, id, h); err != nil {
					return 0, err
				}
				cleared++
			}
		}
		rows = append(rows, exact...)
	}
	if err := s.insertRollups(ctx, tx, rows); err != nil {
		return 0, err
	}
	return cleared, tx.Commit()
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
