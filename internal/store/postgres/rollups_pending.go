package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// scanPending reads (device_id, hour) rows sorted by device and hour.
func scanPending(rows pgx.Rows) (store.PendingHours, int, error) {
	p := store.PendingHours{}
	var (
		id   string
		hour time.Time
		n    int
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &hour}, func() error {
		p[id] = append(p[id], hour.UnixMicro())
		n++
		return nil
	})
	for _, hours := range p {
		slices.Sort(hours)
	}
	return p, n, err
}

// markAllHours marks every hour of a device's readings pending, and every
// hour it has roll-ups of, in tx, which holds the device's row: its
// interval changed, so any trapezoid of energy may have. A mark already
// there is left as it is (ON CONFLICT DO NOTHING takes no lock, so a
// materializer that claimed it and waits for the device's row does not
// deadlock with this): that materializer reads the interval only once it
// has the row, after this commits, or has committed before this began.
func markAllHours(ctx context.Context, tx pgx.Tx, deviceID string) error {
	// The compacted days' hours too: not stored, they are computed when
	// read, but the change leaves every hour of the device's readings to
	// the materializer alike.
	first, last, found, err := readingSpan(ctx, tx, deviceID)
	if err != nil {
		return err
	}
	if !found {
		_, err = tx.Exec(ctx, `INSERT INTO rollup_pending (device_id, hour)
			SELECT device_id, hour FROM hourly_rollups WHERE device_id = $1
			ORDER BY 1, 2 ON CONFLICT (device_id, hour) DO NOTHING`, deviceID)
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO rollup_pending (device_id, hour)
		SELECT $1::text, h FROM generate_series($2::timestamptz, $3::timestamptz, interval '1 hour') AS h
		UNION SELECT device_id, hour FROM hourly_rollups WHERE device_id = $1
		ORDER BY 1, 2 ON CONFLICT (device_id, hour) DO NOTHING`,
		deviceID, first.Truncate(rollup.Width), last.Truncate(rollup.Width))
	return err
}

// computePending computes the marked hours from the readings, in tx, with
// each device's rollup.MaxGap in gaps: one read per run of consecutive
// hours, all in one round trip.
func computePending(ctx context.Context, tx pgx.Tx, p store.PendingHours, gaps map[string]int64) ([]rollup.Row, error) {
	type run struct {
		device   string
		from, to int64
	}
	var (
		runs  []run
		reads pgx.Batch
	)
	for _, id := range p.Devices() {
		gap := gaps[id]
		for _, r := range store.PendingRuns(p[id]) {
			runs = append(runs, run{id, r[0], r[1]})
			queueSamples(&reads, id, time.UnixMicro(r[0]-gap).UTC(), time.UnixMicro(r[1]+gap).UTC())
		}
	}
	if len(runs) == 0 {
		return nil, nil
	}
	br := tx.SendBatch(ctx, &reads)
	defer br.Close()
	var out []rollup.Row
	for _, r := range runs {
		gap := gaps[r.device]
		samples, err := readSamples(br, r.device, time.UnixMicro(r.from-gap).UTC(), time.UnixMicro(r.to+gap).UTC())
		if err != nil {
			return nil, err
		}
		out = append(out, rollup.Compute(r.device, samples, gap, r.from, r.to)...)
	}
	return out, br.Close()
}

// readGaps returns the rollup.MaxGap of each of ids (sorted), locking
// their state rows (device_state) as lock says: "" (none), "FOR SHARE" or
// "FOR UPDATE", in id order, as ingest locks them.
func readGaps(ctx context.Context, tx pgx.Tx, ids []string, lock string, perDevice bool) (map[string]int64, error) {
	intervals, err := readIntervals(ctx, tx, ids, lock, perDevice)
	gaps := make(map[string]int64, len(intervals))
	for id, interval := range intervals {
		gaps[id] = rollup.MaxGap(interval)
	}
	return gaps, err
}

// readIntervals returns the expected interval of each of ids (sorted)
// that has a state row, locking the rows as readGaps says. perDevice locks
// them one statement per device: on Citus device_state is distributed, and
// Citus refuses row locks in a query across shards (each statement here
// names one device, so it goes to its shard alone).
func readIntervals(ctx context.Context, tx pgx.Tx, ids []string, lock string, perDevice bool) (map[string]int, error) {
	intervals := make(map[string]int, len(ids))
	var (
		id       string
		interval int
	)
	if lock != "" && perDevice {
		for _, want := range ids {
			err := tx.QueryRow(ctx, `SELECT expected_interval_s FROM device_state WHERE device_id = $1 `+lock, want).Scan(&interval)
			if err == pgx.ErrNoRows {
				continue
			}
			if err != nil {
				return nil, err
			}
			intervals[want] = interval
		}
		return intervals, nil
	}
	rows, err := tx.Query(ctx, `SELECT device_id, expected_interval_s FROM device_state WHERE device_id = ANY($1) ORDER BY device_id `+lock, ids)
	if err != nil {
		return nil, err
	}
	_, err = pgx.ForEachRow(rows, []any{&id, &interval}, func() error {
		intervals[id] = interval
		return nil
	})
	return intervals, err
}

// MaterializeRollups recomputes pending hours; see store.Rollups.
//
// The marks are claimed with FOR UPDATE SKIP LOCKED, so instances running
// at once take different hours (on Citus one device at a time:
// claimPerDevice). Then the state rows (device_state) of those hours'
// devices are share-locked, in id order as ingest locks them, before
// their readings are read: a batch storing readings of one of them holds
// its row until it commits, so the read sees every batch that found a
// mark already there, and a batch that comes after marks the hour again
// once this commits. The hours are then replaced and their marks deleted,
// in the same transaction.
func (s *Store) MaterializeRollups(ctx context.Context, limit int, markedBefore time.Time) (int, error) {
	done := 0
	for done < limit {
		n, more, err := s.materializeOnce(ctx, limit-done, markedBefore)
		done += n
		if err != nil {
			return done, fmt.Errorf("postgres: materialize roll-ups: %w", mapError(ctx, err))
		}
		if !more {
			break
		}
	}
	if done == 0 {
		s.shrinkPending(ctx)
	}
	return done, nil
}

// materializeOnce recomputes, in one transaction, up to limit pending
// hours marked before markedBefore, fewer when their readings exceed
// store.MaterializeReadings; more says whether hours may be left.
func (s *Store) materializeOnce(ctx context.Context, limit int, markedBefore time.Time) (done int, more bool, err error) {
	var devices int
	t0 := time.Now()
	var locked time.Time // when the device states were share-locked
	defer func() {
		if !locked.IsZero() {
			s.logger().Debug("postgres: materializer transaction", "hours", done, "devices", devices,
				"before lock", locked.Sub(t0), "device states held", time.Since(locked))
		}
	}()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		// A mark waits store.WaitPerReading longer for each reading its
		// hour held when last materialized.
		rows, err := tx.Query(ctx, `SELECT p.device_id, p.hour, coalesce(r.readings, 0) FROM rollup_pending p
			LEFT JOIN hourly_rollups r ON r.device_id = p.device_id AND r.hour = p.hour
			WHERE p.marked_at < $1 AND p.marked_at < $1 - coalesce(r.readings, 0) * $3::interval
			ORDER BY p.marked_at, p.device_id, p.hour LIMIT $2 `+s.skipLockedOf("p"), store.UTC(markedBefore), limit, store.WaitPerReading)
		if err != nil {
			return err
		}
		budget := s.materializeBudget
		if budget == 0 {
			budget = store.MaterializeReadings
		}
		claimed, n, all, err := scanBudget(rows, budget)
		more = n < all || all == limit
		if err == nil && n > 0 && s.citus {
			claimed, n, err = claimPerDevice(ctx, tx, claimed)
		}
		if err != nil || n == 0 {
			done = 0
			return err
		}
		ids := claimed.Devices()
		devices = len(ids)
		gaps, err := readGaps(ctx, tx, ids, "FOR SHARE", s.citus)
		locked = time.Now()
		if err != nil {
			return err
		}
		computed, err := computePending(ctx, tx, claimed, gaps)
		if err != nil {
			return err
		}
		// Hours of compacted days are computed when read, not stored.
		if computed, err = dropCompacted(ctx, tx, computed); err != nil {
			return err
		}
		var devices []string
		var hours []time.Time
		for _, id := range ids {
			for _, h := range claimed[id] {
				devices, hours = append(devices, id), append(hours, time.UnixMicro(h).UTC())
			}
		}
		var writes pgx.Batch
		writes.Queue(`DELETE FROM hourly_rollups h USING unnest($1::text[], $2::timestamptz[]) AS c(device_id, hour)
			WHERE h.device_id = c.device_id AND h.hour = c.hour`, devices, hours)
		if len(computed) > 0 {
			writes.Queue(insertRollups, rollupArgs(computed)...)
		}
		writes.Queue(`DELETE FROM rollup_pending p USING unnest($1::text[], $2::timestamptz[]) AS c(device_id, hour)
			WHERE p.device_id = c.device_id AND p.hour = c.hour`, devices, hours)
		done = n
		return tx.SendBatch(ctx, &writes).Close()
	})
	if err != nil {
		return 0, false, err
	}
	return done, more && done > 0, nil
}

// scanBudget reads (device_id, hour, readings) rows, in the order claimed,
// and keeps the hours up to the first that takes the readings past budget
// (the first always): n of all. The hours kept are sorted by device and
// hour; those past the budget stay pending (their row locks end with the
// transaction).
func scanBudget(rows pgx.Rows, budget int64) (p store.PendingHours, n, all int, err error) {
	p = store.PendingHours{}
	var (
		id       string
		hour     time.Time
		readings int64
		sum      int64
		cut      bool
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &hour, &readings}, func() error {
		all++
		if cut = cut || n > 0 && sum+readings > budget; cut {
			return nil
		}
		sum += readings
		p[id] = append(p[id], hour.UnixMicro())
		n++
		return nil
	})
	for _, hours := range p {
		slices.Sort(hours)
	}
	return p, n, all, err
}

// claimPerDevice claims the marks of candidates (chosen without locks) one
// device at a time, skipping those another materializer holds: on Citus,
// which refuses row locks in a query across shards, each statement names
// one device and so goes to its shard alone. It returns the marks claimed
// and how many.
func claimPerDevice(ctx context.Context, tx pgx.Tx, candidates store.PendingHours) (store.PendingHours, int, error) {
	var b pgx.Batch
	ids := candidates.Devices()
	for _, id := range ids {
		hours := make([]time.Time, len(candidates[id]))
		for i, h := range candidates[id] {
			hours[i] = time.UnixMicro(h).UTC()
		}
		b.Queue(`SELECT device_id, hour FROM rollup_pending WHERE device_id = $1 AND hour = ANY($2)
			ORDER BY hour FOR UPDATE SKIP LOCKED`, id, hours)
	}
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	claimed, total := store.PendingHours{}, 0
	for range ids {
		rows, err := br.Query()
		if err != nil {
			return nil, 0, err
		}
		p, n, err := scanPending(rows)
		if err != nil {
			return nil, 0, err
		}
		for id, hours := range p {
			claimed[id] = hours
		}
		total += n
	}
	return claimed, total, br.Close()
}

// RollupLag says how far the materializer is behind; see store.Rollups.
func (s *Store) RollupLag(ctx context.Context) (store.RollupLag, error) {
	var (
		lag    store.RollupLag
		oldest *time.Time
	)
	err := s.withRetry(ctx, func() error {
		return s.pool.QueryRow(ctx, `SELECT count(*), min(marked_at) FROM rollup_pending`).Scan(&lag.Pending, &oldest)
	})
	if err != nil {
		return lag, fmt.Errorf("postgres: roll-up lag: %w", mapError(ctx, err))
	}
	if oldest != nil {
		lag.Oldest = oldest.UTC()
	}
	return lag, nil
}

// snapshot runs fn in a read-only transaction that sees one snapshot:
// the marks, the materialized hours and the readings agree.
func (s *Store) snapshot(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.withRetry(ctx, func() error {
		return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
	})
}

const pendingInRange = `SELECT device_id, hour FROM rollup_pending
WHERE device_id = ANY($1) AND hour >= $2 AND hour < $3 ORDER BY device_id, hour`

// RollupHours returns the hours of the devices named, the materialized
// ones with the pending ones computed from the readings; see
// store.Rollups.
func (s *Store) RollupHours(ctx context.Context, q store.RollupQuery) ([]rollup.Row, error) {
	var out []rollup.Row
	err := s.snapshot(ctx, func(tx pgx.Tx) (err error) {
		out, err = rollupHours(ctx, tx, q)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: roll-ups: %w", mapError(ctx, err))
	}
	return out, nil
}

func rollupHours(ctx context.Context, tx pgx.Tx, q store.RollupQuery) ([]rollup.Row, error) {
	from, to := store.UTC(q.From), store.UTC(q.To)
	var b pgx.Batch
	b.Queue(pendingInRange, q.DeviceIDs, from, to)
	b.Queue(`
SELECT device_id, hour, `+rollup.Columns+`
FROM hourly_rollups
WHERE device_id = ANY($1) AND hour >= $2 AND hour < $3
ORDER BY array_position($1, device_id), hour`, q.DeviceIDs, from, to)
	b.Queue(compactedDaysOf, q.DeviceIDs, from, to)
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	pending, n, err := scanPending(rows)
	if err != nil {
		return nil, err
	}
	rows, err = br.Query()
	if err != nil {
		return nil, err
	}
	stored, err := pgx.CollectRows(rows, scanRollup)
	if err != nil {
		return nil, err
	}
	rows, err = br.Query()
	if err != nil {
		return nil, err
	}
	days, err := scanDays(rows)
	if err == nil {
		err = br.Close() // before tx's next statement
	}
	if err != nil || n == 0 && len(days) == 0 {
		return stored, err
	}
	// The hours of compacted days are computed from their blocks, as
	// pending ones are.
	pending = store.CompactedHours(pending, days, from.UnixMicro(), to.UnixMicro())
	gaps, err := readGaps(ctx, tx, pending.Devices(), "", false)
	if err != nil {
		return nil, err
	}
	computed, err := computePending(ctx, tx, pending, gaps)
	if err != nil {
		return nil, err
	}
	return store.ReplacePending(q.DeviceIDs, stored, pending, computed), nil
}

// EnergyHours returns one device's energy per hour; see store.Rollups. The
// columns it reads are in the key's INCLUDE list (migration 00006): an
// index-only scan of the device's adjacent entries, in order. When hours
// of the range are pending, they are computed as RollupHours does.
func (s *Store) EnergyHours(ctx context.Context, deviceID string, from, to time.Time) ([]store.HourEnergy, error) {
	from, to = store.UTC(from), store.UTC(to)
	var out []store.HourEnergy
	err := s.snapshot(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(`SELECT (SELECT count(*) FROM rollup_pending WHERE device_id = $1 AND hour >= $2 AND hour < $3)
			+ (SELECT count(*) FROM reading_blocks WHERE device_id = $1 AND day > $2::timestamptz - interval '1 day' AND day < $3)`, deviceID, from, to)
		b.Queue(`
SELECT hour, energy_wh, covered_s FROM hourly_rollups
WHERE device_id = $1 AND hour >= $2 AND hour < $3
ORDER BY hour`, deviceID, from, to)
		br := tx.SendBatch(ctx, &b)
		var pending int
		if err := br.QueryRow().Scan(&pending); err != nil {
			br.Close()
			return err
		}
		rows, err := br.Query()
		if err != nil {
			br.Close()
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.HourEnergy, error) {
			var h store.HourEnergy
			err := row.Scan(&h.Hour, &h.Wh, &h.CoveredS)
			h.Hour = h.Hour.UTC()
			return h, err
		})
		if cerr := br.Close(); err == nil {
			err = cerr
		}
		if err != nil || pending == 0 {
			return err
		}
		hours, err := rollupHours(ctx, tx, store.RollupQuery{DeviceIDs: []string{deviceID}, From: from, To: to})
		out = store.EnergyOf(hours)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: energy: %w", mapError(ctx, err))
	}
	return out, nil
}
