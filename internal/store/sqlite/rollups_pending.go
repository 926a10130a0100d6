package sqlite

import (
	"cmp"
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

// markAllHours marks every hour of a device's readings pending, and
// every hour it has roll-ups of, in tx: its interval changed, so any
// trapezoid of energy may have. Marks already there take the new version
// too: a pass that read them before this must not write what it computed
// with the old interval (catchUp sees the interval moved).
func (s *Store) markAllHours(ctx context.Context, tx *sql.Tx, deviceID string) error {
	// The compacted days' hours too: not stored, they are computed when
	// read, but the change leaves every hour of the device's readings to
	// the materializer alike.
	first, last, found, err := readingSpan(ctx, tx, deviceID)
	if err != nil {
		return err
	}
	version, now := rand.Int64(), micros(time.Now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollup_pending (device_id, hour, marked_at, version)
		SELECT device_id, hour, ?, ? FROM hourly_rollups WHERE device_id = ?
		ON CONFLICT (device_id, hour) DO UPDATE SET version = excluded.version`, now, version, deviceID); err != nil {
		return err
	}
	if found {
		mark, err := s.writeStmts.inTx(ctx, tx, markHour)
		if err != nil {
			return err
		}
		width := int64(rollup.Width / time.Microsecond)
		for h := rollup.HourOf(first); h <= rollup.HourOf(last); h += width {
			if _, err := mark.ExecContext(ctx, deviceID, h, now, version); err != nil {
				return err
			}
		}
	}
	return nil
}

func scanPending(rows *sql.Rows) (store.PendingHours, int, error) {
	defer rows.Close()
	p := store.PendingHours{}
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

// pendingRun is one run of a device's consecutive pending hours [from,
// to) and the readings that compute it: those in [from - gap, to + gap].
type pendingRun struct {
	device   string
	gap      int64
	from, to int64
	samples  []rollup.Sample
}

// readPending reads, in tx, the readings that compute the marked hours:
// one read per run of consecutive hours.
func (s *Store) readPending(ctx context.Context, tx *sql.Tx, stmts *stmtCache, p store.PendingHours) ([]pendingRun, error) {
	samples, err := stmts.inTx(ctx, tx, sampleQuery)
	if err != nil {
		return nil, err
	}
	interval, err := stmts.inTx(ctx, tx, deviceInterval)
	if err != nil {
		return nil, err
	}
	var out []pendingRun
	for _, id := range p.Devices() {
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
			out = append(out, pendingRun{device: id, gap: gap, from: r[0], to: r[1], samples: window})
		}
	}
	return out, nil
}

func (r pendingRun) compute() []rollup.Row {
	return rollup.Compute(r.device, r.samples, r.gap, r.from, r.to)
}

// computePending computes the marked hours from the readings, in tx.
func (s *Store) computePending(ctx context.Context, tx *sql.Tx, stmts *stmtCache, p store.PendingHours) ([]rollup.Row, error) {
	runs, err := s.readPending(ctx, tx, stmts, p)
	if err != nil {
		return nil, err
	}
	var out []rollup.Row
	for _, r := range runs {
		out = append(out, r.compute()...)
	}
	return out, nil
}

// MaterializeRollups recomputes pending hours; see store.Rollups.
//
// SQLite has one writer, and ingest waits for it: so the hours are read
// and computed in a read transaction (one snapshot, beside the writer),
// and the write transaction that follows replaces them. A mark whose
// version still is the one read had no reading stored since the snapshot
// that changes its hour: the hour computed from the snapshot is written.
// A mark whose version moved was marked again by batches committed after
// the snapshot; their readings are exactly those whose id (AUTOINCREMENT:
// never reused) is above the snapshot's largest, so the write transaction
// reads only those and computes the hour from the snapshot's readings and
// them, without reading the hour again under the writer. It says how many
// hours it cleared.
func (s *Store) MaterializeRollups(ctx context.Context, limit int, markedBefore time.Time) (int, error) {
	n, err := s.materialize(ctx, limit, micros(markedBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlite: materialize roll-ups: %w", mapError(ctx, err))
	}
	return n, nil
}

type claim struct {
	device  string
	hour    int64
	version int64
}

// A snapshot of claimed hours: the claims, the readings that compute
// them, and the id of the newest reading it saw.
type claimed struct {
	claims []claim
	runs   []pendingRun
	lastID int64
}

// materialize recomputes up to limit hours, in transactions of at most
// store.MaterializeReadings readings each (the budget: a test may set it
// on the Store).
func (s *Store) materialize(ctx context.Context, limit int, markedBefore int64) (int, error) {
	budget := s.materializeBudget
	if budget == 0 {
		budget = store.MaterializeReadings
	}
	done := 0
	for done < limit {
		snap, more, err := s.claim(ctx, limit-done, markedBefore, budget)
		if err != nil || len(snap.claims) == 0 {
			return done, err
		}
		n, err := s.replaceClaimed(ctx, snap)
		done += n
		if err != nil || !more {
			return done, err
		}
	}
	return done, nil
}

// claim reads, in one snapshot beside the writer, up to limit marks made
// before markedBefore, less store.WaitPerReading for each reading their
// hour held when last materialized (the oldest first), and the readings
// that compute their hours.
func (s *Store) claim(ctx context.Context, limit int, markedBefore, budget int64) (snap claimed, more bool, err error) {
	err = s.snapshot(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT p.device_id, p.hour, p.version, coalesce(r.readings, 0) FROM rollup_pending p
			LEFT JOIN hourly_rollups r ON r.device_id = p.device_id AND r.hour = p.hour
			WHERE p.marked_at < ?1 AND p.marked_at < ?1 - coalesce(r.readings, 0) * ?3
			ORDER BY p.marked_at, p.device_id, p.hour LIMIT ?2`, markedBefore, limit, store.WaitPerReading.Microseconds())
		if err != nil {
			return err
		}
		defer rows.Close()
		pending := store.PendingHours{}
		var (
			all      int
			readings int64
			sum      int64
			cut      bool
		)
		for rows.Next() {
			var c claim
			if err := rows.Scan(&c.device, &c.hour, &c.version, &readings); err != nil {
				return err
			}
			all++
			// The hours up to the first that takes the readings past the
			// budget (the first always): the others stay for the next
			// transaction.
			if cut = cut || len(snap.claims) > 0 && sum+readings > budget; cut {
				continue
			}
			sum += readings
			snap.claims = append(snap.claims, c)
			pending[c.device] = append(pending[c.device], c.hour)
		}
		more = len(snap.claims) < all || all == limit
		if err := rows.Err(); err != nil || len(snap.claims) == 0 {
			return err
		}
		for _, hours := range pending {
			slices.Sort(hours)
		}
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM device_measurements`).Scan(&snap.lastID); err != nil {
			return err
		}
		snap.runs, err = s.readPending(ctx, tx, s.readStmts, pending)
		return err
	})
	return snap, more, err
}

// The statements of the materializer's write transaction, prepared once
// with the store (writeQueries) rather than compiled again in every such
// transaction: it holds the writer, which ingest waits for.
const (
	// A claimed mark goes only if no batch marked its hour again since
	// the snapshot (its version is the one read).
	clearClaimedMark = `DELETE FROM rollup_pending WHERE device_id = ? AND hour = ? AND version = ?`
	clearHourMark    = `DELETE FROM rollup_pending WHERE device_id = ? AND hour = ?`
	deleteRollupHour = `DELETE FROM hourly_rollups WHERE device_id = ? AND hour = ?`
)

// replaceClaimed writes the claimed hours and deletes their marks, in one
// write transaction: the unchanged ones as the snapshot computed them,
// those marked again since from the snapshot's readings and the readings
// stored after it (catchUp).
func (s *Store) replaceClaimed(ctx context.Context, snap claimed) (_ int, err error) {
	computed := map[claim]rollup.Row{}
	for _, r := range snap.runs {
		for _, row := range r.compute() {
			computed[claim{device: row.DeviceID, hour: row.Hour.UnixMicro()}] = row
		}
	}
	t0 := time.Now()
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	waited := time.Since(t0)
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var rows []rollup.Row
	moved := store.PendingHours{}
	var caughtUp, committing time.Duration
	defer func() {
		s.logger().Debug("sqlite: materializer's write transaction", "claims", len(snap.claims), "moved", len(moved),
			"waited", waited, "held", time.Since(t0)-waited, "caughtUp", caughtUp, "commit", committing)
	}()
	clearClaim, err := s.writeStmts.inTx(ctx, tx, clearClaimedMark)
	if err != nil {
		return 0, err
	}
	clearMark, err := s.writeStmts.inTx(ctx, tx, clearHourMark)
	if err != nil {
		return 0, err
	}
	dropHour, err := s.writeStmts.inTx(ctx, tx, deleteRollupHour)
	if err != nil {
		return 0, err
	}
	for _, c := range snap.claims {
		res, err := clearClaim.ExecContext(ctx, c.device, c.hour, c.version)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		if n == 0 {
			moved[c.device] = append(moved[c.device], c.hour)
			continue
		}
		if _, err := dropHour.ExecContext(ctx, c.device, c.hour); err != nil {
			return 0, err
		}
		if r, ok := computed[claim{device: c.device, hour: c.hour}]; ok {
			rows = append(rows, r)
		}
	}
	if len(moved) > 0 {
		for _, hours := range moved {
			slices.Sort(hours)
		}
		t1 := time.Now()
		caught, err := s.catchUp(ctx, tx, snap, moved)
		caughtUp = time.Since(t1)
		if err != nil {
			return 0, err
		}
		for id, hours := range moved {
			for _, h := range hours {
				if _, err := clearMark.ExecContext(ctx, id, h); err != nil {
					return 0, err
				}
				if _, err := dropHour.ExecContext(ctx, id, h); err != nil {
					return 0, err
				}
			}
		}
		rows = append(rows, caught...)
	}
	// Hours of compacted days are computed when read, not stored.
	if rows, err = dropCompacted(ctx, tx, rows); err != nil {
		return 0, err
	}
	if err := s.insertRollups(ctx, tx, rows); err != nil {
		return 0, err
	}
	t1 := time.Now()
	err = tx.Commit()
	committing = time.Since(t1)
	return len(snap.claims), err
}

// newSamples reads the readings stored after the snapshot whose newest id
// was lastID, of the devices of moved, in tx (the writer's: none can be
// added meanwhile), by device in recorded order. The AUTOINCREMENT key
// makes it a range of the table, as long as the time since the snapshot.
const newSamples = `
SELECT device_id, recorded_at, temperature, humidity, voltage_v, current_ma, power_mw,
	pressure_hpa
FROM device_measurements WHERE id > ?`

// catchUp computes, in the write transaction tx, the hours of moved
// (claimed, and marked again after the snapshot) from the snapshot's
// readings and those stored since. A run whose device's interval changed
// since the snapshot, or whose readings no longer number the snapshot's
// plus the new ones (retention deleted some), is read again whole under
// the writer instead: rare, and exact either way.
func (s *Store) catchUp(ctx context.Context, tx *sql.Tx, snap claimed, moved store.PendingHours) ([]rollup.Row, error) {
	added, err := s.samplesSince(ctx, tx, snap.lastID, moved)
	if err != nil {
		return nil, err
	}
	interval, err := s.writeStmts.inTx(ctx, tx, deviceInterval)
	if err != nil {
		return nil, err
	}
	var (
		out   []rollup.Row
		again = store.PendingHours{}
	)
	for _, r := range snap.runs {
		hours := hoursIn(moved[r.device], r.from, r.to)
		if len(hours) == 0 {
			continue
		}
		var seconds int
		if err := interval.QueryRowContext(ctx, r.device).Scan(&seconds); err != nil {
			return nil, fmt.Errorf("interval of %q: %w", r.device, err)
		}
		var news []rollup.Sample
		for _, a := range added[r.device] {
			if a.At >= r.from-r.gap && a.At <= r.to+r.gap {
				news = append(news, a)
			}
		}
		var stored int
		err := tx.QueryRowContext(ctx, `SELECT count(*) FROM device_measurements INDEXED BY device_measurements_device_recorded
			WHERE device_id = ? AND recorded_at >= ? AND recorded_at <= ?`, r.device, r.from-r.gap, r.to+r.gap).Scan(&stored)
		if err != nil {
			return nil, err
		}
		if rollup.MaxGap(seconds) != r.gap || stored != len(r.samples)+len(news) {
			again[r.device] = append(again[r.device], hours...)
			continue
		}
		r.samples = mergeSamples(r.samples, news)
		for _, row := range r.compute() {
			if _, ok := slices.BinarySearch(hours, row.Hour.UnixMicro()); ok {
				out = append(out, row)
			}
		}
	}
	if len(again) > 0 {
		exact, err := s.computePending(ctx, tx, s.writeStmts, again)
		if err != nil {
			return nil, err
		}
		out = append(out, exact...)
	}
	return out, nil
}

// samplesSince reads the readings of the devices of want stored after the
// one whose id is lastID, in tx, by device in recorded order.
func (s *Store) samplesSince(ctx context.Context, tx *sql.Tx, lastID int64, want store.PendingHours) (map[string][]rollup.Sample, error) {
	rows, err := tx.QueryContext(ctx, newSamples, lastID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]rollup.Sample{}
	for rows.Next() {
		var (
			device string
			smp    rollup.Sample
			vs     [rollup.NumMetrics]sql.NullFloat64
		)
		dst := []any{&device, &smp.At}
		for m := range vs {
			dst = append(dst, &vs[m])
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, err
		}
		if _, ok := want[device]; !ok {
			continue
		}
		for m, v := range vs {
			if v.Valid {
				f := v.Float64
				smp.Values[m] = &f
			}
		}
		out[device] = append(out[device], smp)
	}
	for _, ss := range out {
		slices.SortFunc(ss, func(a, b rollup.Sample) int { return cmp.Compare(a.At, b.At) })
	}
	return out, rows.Err()
}

// mergeSamples merges two runs of one device's readings, each in recorded
// order; no time is in both (a device's time is its readings' key).
func mergeSamples(a, b []rollup.Sample) []rollup.Sample {
	if len(b) == 0 {
		return a
	}
	out := make([]rollup.Sample, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].At < b[0].At {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// hoursIn is the hours of hours (ascending) in [from, to).
func hoursIn(hours []int64, from, to int64) []int64 {
	var out []int64
	for _, h := range hours {
		if h >= from && h < to {
			out = append(out, h)
		}
	}
	return out
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
	pending := store.PendingHours{}
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
	if err != nil {
		return nil, err
	}
	// The hours of compacted days are computed from their blocks, as
	// pending ones are.
	from, to := micros(q.From), micros(q.To)
	days, err := compactedDays(ctx, tx, q.DeviceIDs, from, to)
	if err != nil {
		return nil, err
	}
	pending = store.CompactedHours(pending, days, from, to)
	if len(pending) == 0 {
		return stored, nil
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
		err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM rollup_pending WHERE device_id = ?1 AND hour >= ?2 AND hour < ?3)
			+ (SELECT count(*) FROM reading_blocks WHERE device_id = ?1 AND day > ?2 - ?4 AND day < ?3)`,
			deviceID, micros(from), micros(to), day.Microseconds()).Scan(&pending)
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
