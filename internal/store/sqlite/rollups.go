package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The hourly roll-ups (migrations 00006, 00007) are kept off the request:
// ingest marks the hours it changes in rollup_pending (markStored),
// MaterializeRollups recomputes marked hours from the readings, and reads
// compute the hours still marked from the readings, in one read
// transaction with what is materialized (rollups_pending.go). SQLite has
// one writer at a time, so a materializing transaction sees every batch
// committed before it and none commits during it.

// insertRollup writes one computed hour, which the caller has deleted
// first.
var insertRollup = `INSERT INTO hourly_rollups (device_id, hour, ` + rollup.Columns + `)
VALUES (` + strings.TrimSuffix(strings.Repeat("?, ", 3+4*int(rollup.NumMetrics)+2), ", ") + `)`

func rollupArgs(r rollup.Row) []any {
	args := []any{r.DeviceID, micros(r.Hour), r.Count}
	for _, a := range r.Metrics {
		if a.N == 0 {
			args = append(args, a.Mean, a.N, nil, nil)
		} else {
			args = append(args, a.Mean, a.N, a.Min, a.Max)
		}
	}
	return append(args, r.EnergyWh, r.CoveredS)
}

// sampleQuery reads one device's readings in [?2, ?3] as rollup.Samples,
// from the index that holds every column it needs (seriesQuery's).
const sampleQuery = `
SELECT recorded_at, temperature, humidity, voltage_v, current_ma, power_mw, pressure_hpa
FROM device_measurements INDEXED BY device_measurements_device_rows
WHERE device_id = ?1 AND recorded_at >= ?2 AND recorded_at <= ?3
ORDER BY recorded_at`

// The compacted ones (blockSamples) are merged in.
func readSamples(ctx context.Context, tx *sql.Tx, st *sql.Stmt, deviceID string, from, to int64) ([]rollup.Sample, error) {
	compacted, err := blockSamples(ctx, tx, deviceID, from, to)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, deviceID, from, to)
	if err != nil {
		return nil, err
	}
	out, err := scanSamples(rows)
	if err != nil {
		return nil, err
	}
	return store.MergeSamples(out, compacted), nil
}

// scanSamples reads rows of (recorded_at, then each metric in
// rollup.Names' order) as roll-up samples, and closes rows.
func scanSamples(rows *sql.Rows) ([]rollup.Sample, error) {
	defer rows.Close()
	var out []rollup.Sample
	for rows.Next() {
		var (
			s  rollup.Sample
			vs [rollup.NumMetrics]sql.NullFloat64
		)
		dst := []any{&s.At}
		for m := range vs {
			dst = append(dst, &vs[m])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		for m, v := range vs {
			if v.Valid {
				f := v.Float64
				s.Values[m] = &f
			}
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// deviceInterval is a device's expected interval, for rollup.MaxGap.
const deviceInterval = `SELECT expected_interval_s FROM device_state WHERE device_id = ?`

// maxGap returns a device's rollup.MaxGap; ok is false when it is unknown.
func (s *Store) maxGap(ctx context.Context, tx *sql.Tx, deviceID string) (gap int64, ok bool, err error) {
	st, err := s.writeStmts.inTx(ctx, tx, deviceInterval)
	if err != nil {
		return 0, false, err
	}
	var interval int
	err = st.QueryRowContext(ctx, deviceID).Scan(&interval)
	if err == sql.ErrNoRows {
		return 0, false, nil
	}
	return rollup.MaxGap(interval), err == nil, err
}

// insertRollups writes computed hours, which the caller has deleted first.
func (s *Store) insertRollups(ctx context.Context, tx *sql.Tx, rows []rollup.Row) error {
	if len(rows) == 0 {
		return nil
	}
	add, err := s.writeStmts.inTx(ctx, tx, insertRollup)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if _, err := add.ExecContext(ctx, rollupArgs(r)...); err != nil {
			return err
		}
	}
	return nil
}

// recomputeRollups replaces one device's hours in [from, to) (whole hours,
// unix microseconds) with what its readings give, in tx.
func (s *Store) recomputeRollups(ctx context.Context, tx *sql.Tx, deviceID string, gap, from, to int64) error {
	st, err := s.writeStmts.inTx(ctx, tx, sampleQuery)
	if err != nil {
		return err
	}
	samples, err := readSamples(ctx, tx, st, deviceID, from-gap, to+gap)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM hourly_rollups WHERE device_id = ? AND hour >= ? AND hour < ?`, deviceID, from, to); err != nil {
		return err
	}
	// What the materializer computed before this transaction (with the
	// interval or the readings it replaces) must not be written after it.
	if _, err := tx.ExecContext(ctx, `UPDATE rollup_pending SET version = ? WHERE device_id = ?`, rand.Int64(), deviceID); err != nil {
		return err
	}
	hours, err := dropCompacted(ctx, tx, rollup.Compute(deviceID, samples, gap, from, to))
	if err != nil {
		return err
	}
	return s.insertRollups(ctx, tx, hours)
}

// rebuildRollups recomputes all of one device's hours, in tx.
func (s *Store) rebuildRollups(ctx context.Context, tx *sql.Tx, deviceID string) error {
	gap, ok, err := s.maxGap(ctx, tx, deviceID)
	if err != nil || !ok {
		return err
	}
	first, last, found, err := readingSpan(ctx, tx, deviceID)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM hourly_rollups WHERE device_id = ?`, deviceID); err != nil {
		return err
	}
	if !found {
		return nil
	}
	return s.recomputeRollups(ctx, tx, deviceID, gap, rollup.HourOf(first), rollup.HourOf(last)+int64(rollup.Width/time.Microsecond))
}

// readingSpan returns the times of one device's first and last readings
// (unix microseconds), in rows or compacted (blockSpan); false when it
// has none.
func readingSpan(ctx context.Context, tx *sql.Tx, deviceID string) (first, last int64, found bool, err error) {
	var rFirst, rLast sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT min(recorded_at), max(recorded_at) FROM device_measurements WHERE device_id = ?`, deviceID).Scan(&rFirst, &rLast)
	if err != nil {
		return 0, 0, false, err
	}
	// The compacted readings are older than the rows, but for a day
	// backfilled since its compaction.
	first, last, found, err = blockSpan(ctx, tx, deviceID)
	if err != nil || !rFirst.Valid {
		return first, last, found, err
	}
	if !found || rFirst.Int64 < first {
		first = rFirst.Int64
	}
	if !found || rLast.Int64 > last {
		last = rLast.Int64
	}
	return first, last, true, nil
}

// rebuildPendingRollups works through rollup_rebuilds, one device a
// transaction.
func (s *Store) rebuildPendingRollups(ctx context.Context) error {
	for {
		tx, err := s.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var id string
		err = tx.QueryRowContext(ctx, `SELECT device_id FROM rollup_rebuilds ORDER BY device_id LIMIT 1`).Scan(&id)
		if err == sql.ErrNoRows {
			return tx.Rollback()
		}
		if err == nil {
			err = s.rebuildRollups(ctx, tx, id)
		}
		if err == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM rollup_rebuilds WHERE device_id = ?`, id)
		}
		if err == nil {
			err = tx.Commit()
		}
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: rebuild roll-ups: %w", err)
		}
	}
}

// trimRollups brings the roll-ups in line with retention having deleted
// readings before cutoff (unix microseconds), in tx: hours before
// cutoff's go, and of each device that lost readings (deleted, or whose
// hours before cutoff remain) the hours that trapezoids from the deleted
// readings reached are recomputed.
func (s *Store) trimRollups(ctx context.Context, tx *sql.Tx, cutoff int64, deleted []string) error {
	floor := rollup.HourOf(cutoff)
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT device_id FROM hourly_rollups WHERE hour < ?`, floor)
	if err != nil {
		return err
	}
	devices := deleted
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		devices = append(devices, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	slices.Sort(devices)
	devices = slices.Compact(devices)
	if _, err := tx.ExecContext(ctx, `DELETE FROM hourly_rollups WHERE hour < ?`, floor); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rollup_pending SET version = ? WHERE hour < ?`, rand.Int64(), floor); err != nil {
		return err
	}
	for _, id := range devices {
		gap, ok, err := s.maxGap(ctx, tx, id)
		if err != nil {
			return err
		}
		if ok {
			to := rollup.HourOf(cutoff+gap) + int64(rollup.Width/time.Microsecond)
			if err := s.recomputeRollups(ctx, tx, id, gap, floor, to); err != nil {
				return err
			}
		}
	}
	return nil
}

// storedHours returns the materialized hours of q, in tx.
func storedHours(ctx context.Context, tx *sql.Tx, q store.RollupQuery) ([]rollup.Row, error) {
	var out []rollup.Row
	for _, id := range q.DeviceIDs {
		rows, err := tx.QueryContext(ctx, `SELECT hour, `+rollup.Columns+`
			FROM hourly_rollups WHERE device_id = ? AND hour >= ? AND hour < ? ORDER BY hour`,
			id, micros(q.From), micros(q.To))
		if err != nil {
			return nil, fmt.Errorf("sqlite: roll-ups: %w", mapError(ctx, err))
		}
		for rows.Next() {
			r := rollup.Row{DeviceID: id}
			var (
				hour     int64
				min, max [rollup.NumMetrics]sql.NullFloat64
			)
			dst := []any{&hour, &r.Count}
			for m := range r.Metrics {
				dst = append(dst, &r.Metrics[m].Mean, &r.Metrics[m].N, &min[m], &max[m])
			}
			dst = append(dst, &r.EnergyWh, &r.CoveredS)
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("sqlite: roll-ups: %w", mapError(ctx, err))
			}
			r.Hour = fromMicros(hour)
			for m := range r.Metrics {
				if min[m].Valid && max[m].Valid {
					r.Metrics[m].Min, r.Metrics[m].Max = min[m].Float64, max[m].Float64
				}
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("sqlite: roll-ups: %w", mapError(ctx, err))
		}
	}
	return out, nil
}

// storedEnergy returns one device's materialized energy per hour, in tx.
// The table is ordered by its key (WITHOUT ROWID), so a device's hours are
// one range of it.
func storedEnergy(ctx context.Context, tx *sql.Tx, deviceID string, from, to time.Time) ([]store.HourEnergy, error) {
	rows, err := tx.QueryContext(ctx, energyHours, deviceID, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("sqlite: energy: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []store.HourEnergy
	for rows.Next() {
		var (
			h    store.HourEnergy
			hour int64
		)
		if err := rows.Scan(&hour, &h.Wh, &h.CoveredS); err != nil {
			return nil, fmt.Errorf("sqlite: energy: %w", mapError(ctx, err))
		}
		h.Hour = fromMicros(hour)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: energy: %w", mapError(ctx, err))
	}
	return out, nil
}

const energyHours = `SELECT hour, energy_wh, covered_s FROM hourly_rollups
	WHERE device_id = ? AND hour >= ? AND hour < ? ORDER BY hour`
