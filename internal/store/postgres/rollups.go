package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/rollup"
)

// The hourly roll-ups (migrations 00006, 00007) are kept off the request:
// ingest marks the hours it changes in rollup_pending (ingest.go),
// MaterializeRollups recomputes marked hours from the readings, and
// RollupHours and EnergyHours compute the hours still marked from the
// readings, in one snapshot with what is materialized
// (store/rollups_pending.go). Retention and a change of a device's
// interval recompute hours directly, holding the device's row.

// insertRollups writes computed hours, which the caller has deleted first.
var insertRollups = func() string {
	var types, names []string
	types = append(types, "$1::text[]", "$2::timestamptz[]", "$3::int8[]")
	names = append(names, "device_id", "hour", "readings")
	n := 4
	for _, m := range rollup.Names {
		types = append(types, fmt.Sprintf("$%d::float8[]", n), fmt.Sprintf("$%d::int8[]", n+1),
			fmt.Sprintf("$%d::float8[]", n+2), fmt.Sprintf("$%d::float8[]", n+3))
		names = append(names, m+"_avg", m+"_n", m+"_min", m+"_max")
		n += 4
	}
	types = append(types, fmt.Sprintf("$%d::float8[]", n), fmt.Sprintf("$%d::float8[]", n+1))
	names = append(names, "energy_wh", "covered_s")
	return `INSERT INTO hourly_rollups (device_id, hour, ` + rollup.Columns + `)
SELECT * FROM unnest(` + strings.Join(types, ", ") + `) AS u(` + strings.Join(names, ", ") + `)
ORDER BY device_id, hour`
}()

// rollupArgs returns insertRollups' arguments for rows.
func rollupArgs(rows []rollup.Row) []any {
	n := len(rows)
	ids, hours, counts := make([]string, n), make([]time.Time, n), make([]int64, n)
	args := []any{ids, hours, counts}
	type metricArgs struct {
		mean     []float64
		count    []int64
		min, max []*float64
	}
	ms := make([]metricArgs, rollup.NumMetrics)
	for m := range ms {
		ms[m] = metricArgs{make([]float64, n), make([]int64, n), make([]*float64, n), make([]*float64, n)}
		args = append(args, ms[m].mean, ms[m].count, ms[m].min, ms[m].max)
	}
	energy, covered := make([]float64, n), make([]float64, n)
	for i, r := range rows {
		ids[i], hours[i], counts[i] = r.DeviceID, r.Hour, r.Count
		for m, a := range r.Metrics {
			ms[m].mean[i], ms[m].count[i] = a.Mean, a.N
			if a.N > 0 {
				ms[m].min[i], ms[m].max[i] = &a.Min, &a.Max
			}
		}
		energy[i], covered[i] = r.EnergyWh, r.CoveredS
	}
	return append(args, energy, covered)
}

// sampleQuery reads one device's readings in [$2, $3] as rollup.Samples.
// A range of the primary key, and those rows from the table.
const sampleQuery = `
SELECT recorded_at, temperature, humidity, voltage_v, current_ma, power_mw, pressure_hpa
FROM device_measurements
WHERE device_id = $1 AND recorded_at >= $2 AND recorded_at <= $3
ORDER BY recorded_at`

func scanSamples(rows pgx.Rows) ([]rollup.Sample, error) {
	var (
		out []rollup.Sample
		at  time.Time
		s   rollup.Sample
	)
	dst := []any{&at}
	for m := range s.Values {
		dst = append(dst, &s.Values[m])
	}
	_, err := pgx.ForEachRow(rows, dst, func() error {
		s.At = at.UnixMicro()
		out = append(out, s)
		s = rollup.Sample{}
		return nil
	})
	return out, err
}

// recomputeRollups replaces one device's hours in [from, to) (whole hours)
// with what its readings give, in tx, which holds the device's row lock.
func recomputeRollups(ctx context.Context, tx pgx.Tx, deviceID string, gap int64, from, to time.Time) error {
	var reads pgx.Batch
	lo, hi := from.Add(-time.Duration(gap)*time.Microsecond), to.Add(time.Duration(gap)*time.Microsecond)
	queueSamples(&reads, deviceID, lo, hi)
	br := tx.SendBatch(ctx, &reads)
	samples, err := readSamples(br, deviceID, lo, hi)
	if err != nil {
		br.Close()
		return err
	}
	if err := br.Close(); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM hourly_rollups WHERE device_id = $1 AND hour >= $2 AND hour < $3`, deviceID, from, to); err != nil {
		return err
	}
	hours, err := dropCompacted(ctx, tx, rollup.Compute(deviceID, samples, gap, from.UnixMicro(), to.UnixMicro()))
	if err != nil || len(hours) == 0 {
		return err
	}
	_, err = tx.Exec(ctx, insertRollups, rollupArgs(hours)...)
	return err
}

// lockDevice locks a device's state row before its roll-ups are recomputed
// (ingest and the materializer wait for it), and returns its
// rollup.MaxGap; ok is false when the device is unknown.
func lockDevice(ctx context.Context, tx pgx.Tx, deviceID string) (gap int64, ok bool, err error) {
	var interval int
	err = tx.QueryRow(ctx, `SELECT expected_interval_s FROM device_state WHERE device_id = $1 FOR UPDATE`, deviceID).Scan(&interval)
	if err == pgx.ErrNoRows {
		return 0, false, nil
	}
	return rollup.MaxGap(interval), err == nil, err
}

// rebuildRollups recomputes all of one device's hours, in tx.
func rebuildRollups(ctx context.Context, tx pgx.Tx, deviceID string) error {
	gap, ok, err := lockDevice(ctx, tx, deviceID)
	if err != nil || !ok {
		return err
	}
	first, last, found, err := readingSpan(ctx, tx, deviceID)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM hourly_rollups WHERE device_id = $1`, deviceID); err != nil {
		return err
	}
	if !found {
		return nil
	}
	return recomputeRollups(ctx, tx, deviceID, gap, first.Truncate(rollup.Width), last.Truncate(rollup.Width).Add(rollup.Width))
}

// readingSpan returns the times of one device's first and last readings,
// in rows or compacted (blockSpan); false when it has none.
func readingSpan(ctx context.Context, tx pgx.Tx, deviceID string) (first, last time.Time, found bool, err error) {
	var rFirst, rLast *time.Time
	err = tx.QueryRow(ctx, `SELECT min(recorded_at), max(recorded_at) FROM device_measurements WHERE device_id = $1`, deviceID).Scan(&rFirst, &rLast)
	if err != nil {
		return first, last, false, err
	}
	// The compacted readings are older than the rows, but for a day
	// backfilled since its compaction.
	first, last, found, err = blockSpan(ctx, tx, deviceID)
	if err != nil || rFirst == nil {
		return first, last, found, err
	}
	if !found || rFirst.Before(first) {
		first = *rFirst
	}
	if !found || rLast.After(last) {
		last = *rLast
	}
	return first, last, true, nil
}

// RebuildPendingRollups works through rollup_rebuilds: each device listed
// gets its roll-ups computed from its readings, one device a transaction.
// Several instances share the work (SKIP LOCKED).
func (s *Store) RebuildPendingRollups(ctx context.Context) (int, error) {
	done := 0
	for {
		var found bool
		err := s.withRetry(ctx, func() error {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				var id string
				err := tx.QueryRow(ctx, `SELECT device_id FROM rollup_rebuilds ORDER BY device_id LIMIT 1 `+s.skipLocked()).Scan(&id)
				if err == pgx.ErrNoRows {
					found = false
					return nil
				}
				if err != nil {
					return err
				}
				found = true
				if err := rebuildRollups(ctx, tx, id); err != nil {
					return err
				}
				_, err = tx.Exec(ctx, `DELETE FROM rollup_rebuilds WHERE device_id = $1`, id)
				return err
			})
		})
		if err != nil {
			return done, fmt.Errorf("postgres: rebuild roll-ups: %w", mapError(ctx, err))
		}
		if !found {
			return done, nil
		}
		done++
	}
}

// trimChunk is how many devices' roll-ups trimRollups recomputes in one
// transaction: the commits are few, and ingest waits on a device's row for
// one chunk at most.
const trimChunk = 100

// trimRollups brings the roll-ups in line with retention having deleted
// every reading before cutoff: the hours before cutoff's go, and of each
// device that had readings before cutoff (its hours before cutoff tell)
// the hours that trapezoids from them reached are recomputed.
func (s *Store) trimRollups(ctx context.Context, cutoff time.Time) error {
	floor := cutoff.Truncate(rollup.Width)
	var devices []string
	err := s.withRetry(ctx, func() error {
		// The devices with hours stored before the cutoff, or after it
		// within a trapezoid's reach (the hours before may have been a
		// compacted day's, which are not stored).
		rows, err := s.pool.Query(ctx, `SELECT DISTINCT h.device_id FROM hourly_rollups h JOIN device_state d ON d.device_id = h.device_id
			WHERE h.hour < $1::timestamptz + 2 * greatest(d.expected_interval_s, 1) * interval '1 second'
			ORDER BY h.device_id`, cutoff)
		if err != nil {
			return err
		}
		devices, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return err
	}
	for start := 0; start < len(devices); start += trimChunk {
		chunk := devices[start:min(start+trimChunk, len(devices))]
		err := s.withRetry(ctx, func() error {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				return recomputeAfterCutoff(ctx, tx, chunk, floor, cutoff, s.citus)
			})
		})
		if err != nil {
			return err
		}
	}
	return s.withRetry(ctx, func() error {
		_, err := s.pool.Exec(ctx, `DELETE FROM hourly_rollups WHERE hour < $1`, floor)
		return err
	})
}

// recomputeAfterCutoff recomputes, for each of devices (sorted), its hours
// from floor to as far as a trapezoid from before cutoff reaches, in tx:
// the devices' rows locked in id order, as ingest locks them, then the
// reads in one round trip and the writes in another.
func recomputeAfterCutoff(ctx context.Context, tx pgx.Tx, devices []string, floor, cutoff time.Time, perDevice bool) error {
	gaps, err := readGaps(ctx, tx, devices, "FOR UPDATE", perDevice)
	if err != nil {
		return err
	}
	type span struct {
		id       string
		gap      int64
		from, to time.Time
	}
	var spans []span
	for _, id := range devices {
		gap, ok := gaps[id]
		if !ok {
			continue
		}
		to := cutoff.Add(time.Duration(gap) * time.Microsecond).Truncate(rollup.Width).Add(rollup.Width)
		spans = append(spans, span{id, gap, floor, to})
	}
	var reads pgx.Batch
	for _, sp := range spans {
		g := time.Duration(sp.gap) * time.Microsecond
		queueSamples(&reads, sp.id, sp.from.Add(-g), sp.to.Add(g))
	}
	br := tx.SendBatch(ctx, &reads)
	var hours []rollup.Row
	for _, sp := range spans {
		g := time.Duration(sp.gap) * time.Microsecond
		samples, err := readSamples(br, sp.id, sp.from.Add(-g), sp.to.Add(g))
		if err != nil {
			br.Close()
			return err
		}
		hours = append(hours, rollup.Compute(sp.id, samples, sp.gap, sp.from.UnixMicro(), sp.to.UnixMicro())...)
	}
	if err := br.Close(); err != nil {
		return err
	}
	if hours, err = dropCompacted(ctx, tx, hours); err != nil {
		return err
	}
	var writes pgx.Batch
	for _, sp := range spans {
		writes.Queue(`DELETE FROM hourly_rollups WHERE device_id = $1 AND hour >= $2 AND hour < $3`, sp.id, sp.from, sp.to)
	}
	if len(hours) > 0 {
		writes.Queue(insertRollups, rollupArgs(hours)...)
	}
	return tx.SendBatch(ctx, &writes).Close()
}

func scanRollup(row pgx.CollectableRow) (rollup.Row, error) {
	var (
		r        rollup.Row
		min, max [rollup.NumMetrics]*float64
	)
	dst := []any{&r.DeviceID, &r.Hour, &r.Count}
	for m := range r.Metrics {
		dst = append(dst, &r.Metrics[m].Mean, &r.Metrics[m].N, &min[m], &max[m])
	}
	dst = append(dst, &r.EnergyWh, &r.CoveredS)
	if err := row.Scan(dst...); err != nil {
		return r, err
	}
	r.Hour = r.Hour.UTC()
	for m := range r.Metrics {
		if min[m] != nil && max[m] != nil {
			r.Metrics[m].Min, r.Metrics[m].Max = *min[m], *max[m]
		}
	}
	return r, nil
}
