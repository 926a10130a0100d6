package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/tscodec"
)

// Compaction: the readings of a UTC day older than the compaction age
// become, per device, one row of reading_blocks (migration 00014), a
// tscodec block of a few bytes a reading. Every read of readings merges
// the blocks that may hold some (blockReadings); a reading sent again
// into a compacted day is found in its block and answered as a duplicate
// (inBlocks); one not yet stored there is stored as a row, which the next
// pass merges into the day's block. SQLite has one writer, so a pass
// never races ingest or another pass.

// day is the length of a block.
const day = 24 * time.Hour

// dayStart returns the start of the UTC day of t (unix microseconds).
func dayStart(t int64) int64 {
	d := day.Microseconds()
	start := t - t%d
	if t%d < 0 {
		start -= d
	}
	return start
}

// CompactBefore compacts up to limit device-days that end at or before
// cutoff and still have rows, the oldest first, each in a write
// transaction of its own; it returns how many it compacted. See
// store.Compactor.
func (s *Store) CompactBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	end := dayStart(micros(cutoff)) // days ending at or before cutoff start before this
	n, _, err := store.CompactOldestDays(limit, func(skipped store.Skipped) (bool, string, time.Time, error) {
		return s.compactOldestDay(ctx, end, skipped)
	})
	if err != nil {
		return n, fmt.Errorf("sqlite: compact readings: %w", mapError(ctx, err))
	}
	if n > 0 {
		// The pages the compacted rows left free go back to the file
		// system (autovacuum.go), through the WAL, which the checkpoint
		// below empties.
		if err := releaseFreePages(ctx, s.write); err != nil {
			return n, fmt.Errorf("sqlite: compact readings: releasing free pages: %w", mapError(ctx, err))
		}
	}
	if n > 0 && s.checkpoints != nil {
		// Compaction rewrites what it compacts, and the WAL file keeps the
		// size of the most it ever held (264 MB after compacting 200,000
		// readings, for a 21 MB database): copy it into the database and
		// truncate it. It waits for the writer and readers of older
		// snapshots (busy_timeout); busy, it is left for the next pass.
		_, _ = s.checkpoints.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
	return n, nil
}

// compactOldestDay merges the rows of the oldest device-day before end
// of a device not skipped into its block; false when there is none (in
// store.CompactScanRows rows from skipped.Since). When that day is the
// device's newest and the device was heard from within
// store.WrittenSince, the day is being written: it is left as it is,
// writing names the device and at is when its row found was recorded.
func (s *Store) compactOldestDay(ctx context.Context, end int64, skipped store.Skipped) (done bool, writing string, at time.Time, err error) {
	// Asked on a read connection first: a day being written (a backfill's)
	// is left without taking the writer, which every pass otherwise took
	// once per device written, each time after the group commits queued
	// for it (make soak). Asked again under the writer when it is not.
	deviceID, from, at, found, written, err := oldestDay(ctx, s.read, end, skipped)
	if err != nil || !found {
		return false, "", at, err
	}
	if written {
		return false, deviceID, at, nil
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return false, "", at, err
	}
	defer tx.Rollback()
	deviceID, from, at, found, written, err = oldestDay(ctx, tx, end, skipped)
	if err != nil || !found {
		return false, "", at, err
	}
	if written {
		return false, deviceID, at, nil
	}
	to := from + day.Microseconds()
	rows, err := tx.QueryContext(ctx, selectReadings+deviceIndex+`
		WHERE device_id = ? AND recorded_at >= ? AND recorded_at < ?`, deviceID, from, to)
	if err != nil {
		return false, "", at, err
	}
	var readings []thermowatt.Stored
	for rows.Next() {
		r, err := scanReading(rows)
		if err != nil {
			rows.Close()
			return false, "", at, err
		}
		readings = append(readings, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, "", at, err
	}
	compacted, err := blockReadings(ctx, tx, deviceID, from, to)
	if err != nil {
		return false, "", at, err
	}
	block, n, err := store.DayBlock(deviceID, fromMicros(from), readings, compacted)
	if err != nil {
		return false, "", at, err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO reading_blocks (device_id, day, readings, block) VALUES (?, ?, ?, ?)
		ON CONFLICT (device_id, day) DO UPDATE SET readings = excluded.readings, block = excluded.block`,
		deviceID, from, n, block); err != nil {
		return false, "", at, err
	}
	if _, err := tx.ExecContext(ctx, `
		DELETE FROM device_measurements WHERE device_id = ? AND recorded_at >= ? AND recorded_at < ?`,
		deviceID, from, to); err != nil {
		return false, "", at, err
	}
	// The day's hours are computed from the block from now on
	// (store.CompactedHours): its materialized ones go.
	if _, err := tx.ExecContext(ctx, `
		DELETE FROM hourly_rollups WHERE device_id = ? AND hour >= ? AND hour < ?`,
		deviceID, from, to); err != nil {
		return false, "", at, err
	}
	return true, "", at, tx.Commit()
}

// oldestDay finds the oldest device-day before end of a device not
// skipped, in store.CompactScanRows rows from skipped.Since (from: the
// day's start; at: when the row it was found by was recorded), and
// whether it is being written: the device's newest day, of a device heard
// from since store.WrittenSince.
func oldestDay(ctx context.Context, q rowQueryer, end int64, skipped store.Skipped) (deviceID string, from int64, at time.Time, found, written bool, err error) {
	var recorded int64
	err = q.QueryRowContext(ctx, `
		SELECT device_id, recorded_at FROM (
			SELECT device_id, recorded_at FROM device_measurements
			WHERE recorded_at >= ? AND recorded_at < ? ORDER BY recorded_at LIMIT ?)
		WHERE device_id NOT IN (SELECT value FROM json_each(?))
		ORDER BY recorded_at LIMIT 1`, micros(skipped.Since), end, store.CompactScanRows, jsonStrings(skipped.Devices)).Scan(&deviceID, &recorded)
	if err == sql.ErrNoRows {
		return "", 0, at, false, false, nil
	}
	if err != nil {
		return "", 0, at, false, false, err
	}
	at = fromMicros(recorded)
	from = dayStart(recorded)
	err = q.QueryRowContext(ctx, `
		SELECT coalesce((SELECT last_seen_at > ?1 FROM device_state WHERE device_id = ?2), 0)
			AND NOT EXISTS (SELECT 1 FROM device_measurements WHERE device_id = ?2 AND recorded_at >= ?3)`,
		micros(store.WrittenSince(time.Now())), deviceID, from+day.Microseconds()).Scan(&written)
	return deviceID, from, at, true, written, err
}

// rowQueryer is a pool or a transaction, for a query of one row.
type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryer is what reads blocks: a pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// blockTimes is the set of recorded times (unix microseconds) of one
// device's compacted readings in [from, to): what a duplicate check
// needs, without rebuilding the readings (tscodec.RecordedTimes).
func blockTimes(ctx context.Context, q queryer, deviceID string, from, to int64) (map[int64]bool, error) {
	at := map[int64]bool{}
	err := eachBlock(ctx, q, deviceID, from, to, func(block []byte) error {
		times, err := tscodec.RecordedTimes(block)
		for _, t := range times {
			if t >= from && t < to {
				at[t] = true
			}
		}
		return err
	})
	return at, err
}

// blockReadings returns one device's compacted readings in [from, to)
// (unix microseconds), oldest first.
func blockReadings(ctx context.Context, q queryer, deviceID string, from, to int64) ([]thermowatt.Stored, error) {
	var out []thermowatt.Stored
	err := eachBlock(ctx, q, deviceID, from, to, func(block []byte) error {
		rs, err := tscodec.DecodeBlock(deviceID, block)
		for _, r := range rs {
			if at := micros(r.RecordedAt); at >= from && at < to {
				out = append(out, r)
			}
		}
		return err
	})
	return out, err
}

// eachBlock calls fn with each block of one device that may hold
// readings in [from, to) (unix microseconds), oldest first.
func eachBlock(ctx context.Context, q queryer, deviceID string, from, to int64, fn func(block []byte) error) error {
	rows, err := q.QueryContext(ctx, `
		SELECT block FROM reading_blocks WHERE device_id = ? AND day >= ? AND day < ? ORDER BY day`,
		deviceID, dayStart(from), to)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var block []byte
		if err := rows.Scan(&block); err != nil {
			return err
		}
		if err := fn(block); err != nil {
			return fmt.Errorf("block of %q: %w", deviceID, err)
		}
	}
	return rows.Err()
}

// withBlocks merges into rows (the newest-first answer of q from
// device_measurements) the compacted readings q asks for
// (store.PageWithBlocks).
func withBlocks(ctx context.Context, db queryer, q store.Query, rows []thermowatt.Stored) ([]thermowatt.Stored, error) {
	where, args := "1", []any{}
	if q.DeviceID != "" {
		where += " AND device_id = ?"
		args = append(args, q.DeviceID)
	}
	if !q.From.IsZero() {
		where += " AND day >= ?"
		args = append(args, dayStart(micros(q.From)))
	}
	if !q.To.IsZero() {
		where += " AND day < ?"
		args = append(args, micros(q.To))
	}
	if q.After != nil {
		where += " AND day <= ?"
		args = append(args, micros(q.After.RecordedAt))
	}
	blocks, err := db.QueryContext(ctx, `SELECT device_id, day, block FROM reading_blocks WHERE `+where+` ORDER BY day DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer blocks.Close()
	out, err := store.PageWithBlocks(q, rows, func() (b store.Block, ok bool, err error) {
		if !blocks.Next() {
			return b, false, blocks.Err()
		}
		var start int64
		err = blocks.Scan(&b.DeviceID, &start, &b.Data)
		b.Day = fromMicros(start)
		return b, err == nil, err
	})
	if err != nil {
		return nil, err
	}
	return out, blocks.Err()
}

// blockSamples returns one device's compacted readings in [from, to] as
// roll-up samples, oldest first.
func blockSamples(ctx context.Context, q queryer, deviceID string, from, to int64) ([]rollup.Sample, error) {
	rs, err := blockReadings(ctx, q, deviceID, from, to+1)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return store.SamplesOf(rs), nil
}

// inBlocks marks in stored[i] false ... reports, for each of rs (sorted
// by device, then time), whether a block holds it already: a reading sent
// again into a compacted day is a duplicate.
func inBlocks(ctx context.Context, tx *sql.Tx, rs []thermowatt.Reading) ([]bool, bool, error) {
	var (
		found []bool
		any   bool
	)
	for end := len(rs); end > 0; {
		start := end - 1
		for start > 0 && rs[start-1].DeviceID == rs[end-1].DeviceID {
			start--
		}
		from, to := micros(rs[start].RecordedAt), micros(rs[end-1].RecordedAt)
		at, err := blockTimes(ctx, tx, rs[start].DeviceID, from, to+1)
		if err != nil {
			return nil, false, err
		}
		if len(at) > 0 {
			for i := start; i < end; i++ {
				if at[micros(rs[i].RecordedAt)] {
					if found == nil {
						found = make([]bool, len(rs))
					}
					found[i], any = true, true
				}
			}
		}
		end = start
	}
	return found, any, nil
}

// blockSpan returns the times of one device's first and last compacted
// readings (unix microseconds), from the headers of its first and last
// blocks; false when it has none.
func blockSpan(ctx context.Context, tx *sql.Tx, deviceID string) (first, last int64, ok bool, err error) {
	for _, order := range []string{"ASC", "DESC"} {
		var block []byte
		err := tx.QueryRowContext(ctx, `SELECT block FROM reading_blocks WHERE device_id = ? ORDER BY day `+order+` LIMIT 1`, deviceID).Scan(&block)
		if err == sql.ErrNoRows {
			return 0, 0, false, nil
		}
		if err != nil {
			return 0, 0, false, err
		}
		f, l, _, err := tscodec.BlockTimes(block)
		if err != nil {
			return 0, 0, false, fmt.Errorf("block of %q: %w", deviceID, err)
		}
		if order == "ASC" {
			first = micros(f)
		} else {
			last = micros(l)
		}
	}
	return first, last, true, nil
}

// deleteBlocksBefore deletes up to limit compacted readings recorded
// before cutoff, the oldest first (store.ExpireBlock): a block left
// without readings is deleted, one left with some is written again with
// those. It returns the readings deleted per device.
func deleteBlocksBefore(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) (map[string]int64, error) {
	deleted := map[string]int64{}
	budget := limit
	afterDay, afterDevice := int64(math.MinInt64), ""
	for budget > 0 {
		var (
			b     store.Block
			start int64
		)
		err := tx.QueryRowContext(ctx, `
			SELECT device_id, day, block FROM reading_blocks
			WHERE day < ?1 AND (day > ?2 OR day = ?2 AND device_id > ?3)
			ORDER BY day, device_id LIMIT 1`, cutoff, afterDay, afterDevice).Scan(&b.DeviceID, &start, &b.Data)
		if err == sql.ErrNoRows {
			break
		}
		if err != nil {
			return nil, err
		}
		b.Day = fromMicros(start)
		gone, left, err := store.ExpireBlock(b, fromMicros(cutoff), budget)
		if err != nil {
			return nil, err
		}
		budget -= gone
		deleted[b.DeviceID] += int64(gone)
		switch {
		case left == nil:
			_, err = tx.ExecContext(ctx, `DELETE FROM reading_blocks WHERE device_id = ? AND day = ?`, b.DeviceID, start)
		case gone > 0:
			_, err = tx.ExecContext(ctx, `UPDATE reading_blocks SET readings = readings - ?, block = ? WHERE device_id = ? AND day = ?`,
				gone, left, b.DeviceID, start)
		}
		if err != nil {
			return nil, err
		}
		// What is left of this block is at or after the cutoff (or beyond
		// the budget): on with the next block.
		afterDay, afterDevice = start, b.DeviceID
	}
	return deleted, nil
}

// compactedDays returns, per device of ids, the starts of its compacted
// days that hold hours in [from, to) (unix microseconds), ascending:
// those hours are computed from the blocks when read, never stored
// (store.CompactedHours).
func compactedDays(ctx context.Context, q queryer, ids []string, from, to int64) (map[string][]int64, error) {
	days := map[string][]int64{}
	for _, id := range ids {
		rows, err := q.QueryContext(ctx, `SELECT day FROM reading_blocks WHERE device_id = ? AND day > ? AND day < ? ORDER BY day`,
			id, from-day.Microseconds(), to)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var d int64
			if err := rows.Scan(&d); err != nil {
				rows.Close()
				return nil, err
			}
			days[id] = append(days[id], d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return days, nil
}

// dropCompacted returns rows (computed hours about to be stored) without
// those of compacted days, read in tx (store.DropCompacted).
func dropCompacted(ctx context.Context, tx *sql.Tx, rows []rollup.Row) ([]rollup.Row, error) {
	return store.DropCompacted(rows, func(ids []string, from, to int64) (map[string][]int64, error) {
		return compactedDays(ctx, tx, ids, from, to)
	})
}

// jsonStrings is ids as a JSON array, for json_each.
func jsonStrings(ids []string) string {
	if ids == nil {
		return "[]"
	}
	b, _ := json.Marshal(ids) // strings always marshal
	return string(b)
}
