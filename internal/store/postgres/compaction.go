package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/tscodec"
)

// Compaction: the readings of a UTC day older than the compaction age
// become, per device, one row of reading_blocks (migration 00014), a
// tscodec block of a few bytes a reading. Every read of readings merges
// the blocks that may hold some; a reading sent again into a compacted
// day is found in its block and answered as a duplicate; one not stored
// there yet is stored as a row, which the next pass merges into the
// day's block.
//
// Compacting a day and storing a reading into it exclude each other by a
// transaction-level advisory lock per device (deviceLock): both read the
// blocks and rows only once they hold it. Ingest takes it only for
// batches reaching back before lockedIngestAge; compaction never touches
// a day that ends after compactableAge, 12 hours later, so a batch taking
// the fast path can never meet a compaction, whatever the clocks of the
// instances say within 12 hours. compactableAge is the shortest
// compaction age (COMPACTION_AGE): a day, so that the last 24 hours, the
// dashboard's page, are always rows, and the current week mostly blocks
// (bench-rolling in docs/benchmarks.md).
const (
	lockedIngestAge = 12 * time.Hour
	compactableAge  = 2 * lockedIngestAge
)

// compactionLockClass is the first key of deviceLock's advisory locks.
const compactionLockClass = 0x74776370 // "twcp"

// deviceLock takes the advisory lock that orders compaction and ingest of
// one device's old days, until the transaction ends.
const deviceLock = `SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`

// CompactBefore compacts up to limit device-days that end at or before
// cutoff (and at least compactableAge ago) and still have rows, the
// oldest first, each in a transaction of its own; it returns how many it
// compacted. See store.Compactor.
func (s *Store) CompactBefore(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if latest := time.Now().Add(-compactableAge); cutoff.After(latest) {
		cutoff = latest
	}
	end := store.UTC(cutoff).Truncate(store.BlockDay) // days ending at or before cutoff start before this
	n, noneLeft, err := store.CompactOldestDays(limit, func(skipped store.Skipped) (done bool, writing string, at time.Time, err error) {
		err = s.inTx(ctx, func(tx pgx.Tx) (err error) {
			done, writing, at, err = s.compactOldestDay(ctx, tx, end, skipped)
			return err
		})
		return done, writing, at, err
	})
	if err == nil && noneLeft {
		if err = s.truncateCompactedPartitions(ctx, end); err == nil {
			err = s.vacuumCompacted(ctx, end)
		}
		if err == nil {
			s.shrinkRollups(ctx) // pending_shrink.go
		}
	}
	if err != nil {
		return n, fmt.Errorf("postgres: compact readings: %w", mapError(ctx, err))
	}
	return n, nil
}

// compactedFrom keeps the start of the oldest day compacted since the
// partitions were last vacuumed (vacuumCompacted).
type compactedFrom struct {
	mu  sync.Mutex
	day time.Time // zero: none
}

func (c *compactedFrom) note(day time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.day.IsZero() || day.Before(c.day) {
		c.day = day
	}
}

func (c *compactedFrom) take() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	day := c.day
	c.day = time.Time{}
	return day
}

// vacuumCompacted vacuums the partitions that days compacted since the
// last call (before end) were deleted from, at the end of a pass: their
// pages, table and indexes, are then free for the rows that come next
// into the same partition, the days still being written. A week's
// partition is given back only once it is empty (truncateCompactedPartitions),
// so with a compaction age under a week this is what keeps the current
// week at the size of the days in rows rather than of the week. Not left
// to autovacuum, which may be off (this machine's shared server) or come
// after the next day's rows have taken new pages.
func (s *Store) vacuumCompacted(ctx context.Context, end time.Time) error {
	from := s.compacted.take()
	if from.IsZero() {
		return nil
	}
	rows, err := s.pool.Query(ctx, `
		SELECT name FROM `+partitionBounds+`
		-- the past partition's lower bound is MINVALUE, the DEFAULT
		-- partition has none
		WHERE coalesce(lower, '-infinity') < $2 AND coalesce(upper, 'infinity') > $1
		ORDER BY upper`, from, end)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	// The roll-ups of the compacted days were deleted too: their space
	// goes to the hours materialized next.
	names = append(names, "hourly_rollups")
	for _, name := range names {
		// SKIP_LOCKED: a partition being truncated or dropped is not
		// waited for.
		if _, err := s.pool.Exec(ctx, `VACUUM (SKIP_LOCKED) `+pgx.Identifier{name}.Sanitize()); err != nil {
			return fmt.Errorf("vacuuming %s: %w", name, err)
		}
	}
	return nil
}

// truncateWait is how long truncateCompactedPartitions waits for a
// partition's lock: inserts into it (a backfill starting on that week)
// wait behind the request that long at most.
const truncateWait = "100ms"

// truncateCompactedPartitions empties the weekly partitions of readings
// that compaction left without a row (every one ending at or before end,
// and the DEFAULT partition, which takes the readings of weeks without a
// partition of their own) but not without pages: the deletes leave the table's and, above all,
// its indexes' pages allocated (VACUUM frees them for reuse within the
// table but gives index pages back to no one). Each partition is locked
// (ACCESS EXCLUSIVE, waiting truncateWait at most: a backfill writing to it
// goes first, and the next pass tries again) and truncated only when it
// is still empty.
//
// On Citus a partition's rows are in its shards, on the workers: its size
// is theirs (citus_total_relation_size), not the coordinator's table's,
// which is empty (with pg_total_relation_size no partition was ever
// emptied there: TestCitusCompaction). Citus takes the lock on every
// node, and the coordinator's lock_timeout bounds the wait for all of
// them (measured: 104 ms with a worker's copy locked, 100 ms set).
func (s *Store) truncateCompactedPartitions(ctx context.Context, end time.Time) error {
	size := "pg_total_relation_size(relid)"
	if s.citus {
		// a partition not distributed (a schema migrated, not distributed
		// yet) has no shards: its own size
		size = `CASE WHEN EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = relid)
			THEN citus_total_relation_size(relid) ELSE pg_total_relation_size(relid) END`
	}
	rows, err := s.pool.Query(ctx, `
		SELECT name FROM `+partitionBounds+`
		WHERE (upper <= $1 OR upper IS NULL) AND `+size+` > 64 * 1024
		ORDER BY upper`, end)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		table := pgx.Identifier{name}.Sanitize()
		// Looked at without a lock first: a partition still written (a
		// backfill's week) is left at once. Its ACCESS EXCLUSIVE lock,
		// even while only waited for, queues every insert into the
		// partition behind it: taken every pass on a partition that is
		// not empty, it stalled the backfill's inserts up to the timeout
		// (make soak at half the peak, docs/benchmarks.md).
		var empty bool
		if err := s.pool.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&empty); err != nil {
			return fmt.Errorf("emptying %s: %w", name, err)
		}
		if !empty {
			continue
		}
		t0 := time.Now()
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+truncateWait+`'`); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
				return err
			}
			var empty bool
			if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&empty); err != nil || !empty {
				return err
			}
			_, err := tx.Exec(ctx, `TRUNCATE `+table)
			return err
		})
		s.logger().Debug("postgres: compaction emptied a partition", "partition", name, "took", time.Since(t0), "err", err)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: in use, next pass
			continue
		}
		if err != nil {
			return fmt.Errorf("emptying %s: %w", name, err)
		}
	}
	return nil
}

// compactOldestDay merges the rows of the oldest device-day before end
// of a device not skipped into its block; false when there is none (in
// store.CompactScanRows rows from skipped.Since). When that day is the
// device's newest and the device was heard from within
// store.WrittenSince, the day is being written: it is left as it is,
// writing names the device and at is when its row found was recorded.
func (s *Store) compactOldestDay(ctx context.Context, tx pgx.Tx, end time.Time, skipped store.Skipped) (done bool, writing string, at time.Time, err error) {
	var deviceID string
	err = tx.QueryRow(ctx, `
		SELECT device_id, recorded_at FROM (
			SELECT device_id, recorded_at FROM device_measurements
			WHERE recorded_at >= $3 AND recorded_at < $1 ORDER BY recorded_at LIMIT $4) r
		WHERE device_id <> ALL($2::text[]) ORDER BY recorded_at LIMIT 1`,
		end, skipped.Devices, skipped.Since, store.CompactScanRows).Scan(&deviceID, &at)
	if err == pgx.ErrNoRows {
		return false, "", at, nil
	}
	if err != nil {
		return false, "", at, err
	}
	from := at.UTC().Truncate(store.BlockDay)
	to := from.Add(store.BlockDay)
	beingWritten := func() (bool, error) {
		var written bool
		err := tx.QueryRow(ctx, `
			SELECT coalesce((SELECT last_seen_at > $3 FROM device_state WHERE device_id = $1), false)
				AND NOT EXISTS (SELECT 1 FROM device_measurements WHERE device_id = $1 AND recorded_at >= $2)`,
			deviceID, to, store.WrittenSince(time.Now())).Scan(&written)
		return written, err
	}
	// Asked before the lock as well: a day being written is left without
	// waiting for the device's lock, which a backfill's group commit
	// holds, and which its next commit would wait for behind this (one
	// commit stalled per device written, every pass: make soak).
	if written, err := beingWritten(); err != nil || written {
		return false, deviceID, at, err
	}
	if _, err := tx.Exec(ctx, deviceLock, compactionLockClass, deviceID); err != nil {
		return false, "", at, err
	}
	// From here on each statement sees what was committed before the lock
	// was granted: a second instance that picked the same day finds its
	// rows gone and the block written.
	if written, err := beingWritten(); err != nil || written {
		return false, deviceID, at, err
	}
	readings, err := s.queryReadings(ctx, tx, selectReadings+`
		WHERE device_id = $1 AND recorded_at >= $2 AND recorded_at < $3`, deviceID, from, to)
	if err != nil || len(readings) == 0 {
		return err == nil, "", at, err
	}
	compacted, err := blockReadings(ctx, tx, deviceID, from, to)
	if err != nil {
		return false, "", at, err
	}
	block, n, err := store.DayBlock(deviceID, from, readings, compacted)
	if err != nil {
		return false, "", at, err
	}
	var b pgx.Batch
	b.Queue(`
		INSERT INTO reading_blocks (device_id, day, readings, block) VALUES ($1, $2, $3, $4)
		ON CONFLICT (device_id, day) DO UPDATE SET readings = EXCLUDED.readings, block = EXCLUDED.block`,
		deviceID, from, n, block)
	b.Queue(`DELETE FROM device_measurements WHERE device_id = $1 AND recorded_at >= $2 AND recorded_at < $3`, deviceID, from, to)
	// The day's hours are computed from the block from now on
	// (store.CompactedHours): its materialized ones go. The device's state row
	// orders this with a materializer that computed some of them before
	// the block was there (it holds the row for share until it has
	// written them): their DELETE waits for its commit and sees them; one
	// that comes after sees the block and leaves the day out
	// (dropCompacted). Taken last, after the block's row, in the order
	// retention takes the two.
	b.Queue(`SELECT 1 FROM device_state WHERE device_id = $1 FOR NO KEY UPDATE`, deviceID)
	b.Queue(`DELETE FROM hourly_rollups WHERE device_id = $1 AND hour >= $2 AND hour < $3`, deviceID, from, to)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return false, "", at, err
	}
	s.compacted.note(from)
	return true, "", at, nil
}

// querier runs a statement: the pool, or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// blocksOfDevice selects one device's blocks that may hold readings in
// [$2, $3), oldest first.
const blocksOfDevice = `
SELECT block FROM reading_blocks
WHERE device_id = $1 AND day >= date_bin('1 day', $2::timestamptz, timestamptz 'epoch') AND day < $3
ORDER BY day`

// blockReadings returns one device's compacted readings in [from, to),
// oldest first.
func blockReadings(ctx context.Context, q querier, deviceID string, from, to time.Time) ([]thermowatt.Stored, error) {
	blocks, err := deviceBlocks(ctx, q, deviceID, from, to)
	if err != nil {
		return nil, err
	}
	return decodeBlocks(deviceID, blocks, from, to)
}

// deviceBlocks are the blocks of one device that may hold readings in
// [from, to).
func deviceBlocks(ctx context.Context, q querier, deviceID string, from, to time.Time) ([][]byte, error) {
	rows, err := q.Query(ctx, blocksOfDevice, deviceID, from, to)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[[]byte])
}

// decodeBlocks returns the readings in [from, to) of one device's blocks.
func decodeBlocks(deviceID string, blocks [][]byte, from, to time.Time) ([]thermowatt.Stored, error) {
	var out []thermowatt.Stored
	for _, block := range blocks {
		rs, err := tscodec.DecodeBlock(deviceID, block)
		if err != nil {
			return nil, fmt.Errorf("compacted readings of %q: %w", deviceID, err)
		}
		for _, r := range rs {
			if !r.RecordedAt.Before(from) && r.RecordedAt.Before(to) {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// withBlocks merges into rows (the newest-first answer of q from
// device_measurements) the compacted readings q asks for
// (store.PageWithBlocks).
func (s *Store) withBlocks(ctx context.Context, q store.Query, rows []thermowatt.Stored) ([]thermowatt.Stored, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.DeviceID != "" {
		where = append(where, "device_id = "+arg(q.DeviceID))
	}
	if !q.From.IsZero() {
		where = append(where, "day >= date_bin('1 day', "+arg(store.UTC(q.From))+"::timestamptz, timestamptz 'epoch')")
	}
	if !q.To.IsZero() {
		where = append(where, "day < "+arg(store.UTC(q.To)))
	}
	if q.After != nil {
		where = append(where, "day <= "+arg(store.UTC(q.After.RecordedAt)))
	}
	blocks, err := s.pool.Query(ctx, `SELECT device_id, day, block FROM reading_blocks WHERE `+strings.Join(where, " AND ")+` ORDER BY day DESC`, args...)
	if err != nil {
		return nil, err
	}
	defer blocks.Close()
	return store.PageWithBlocks(q, rows, func() (b store.Block, ok bool, err error) {
		if !blocks.Next() {
			return b, false, blocks.Err()
		}
		err = blocks.Scan(&b.DeviceID, &b.Day, &b.Data)
		return b, err == nil, err
	})
}

// queueSamples queues the reads of one device's readings in [from, to]
// as roll-up samples: the rows, then the blocks; readSamples reads both.
func queueSamples(b *pgx.Batch, deviceID string, from, to time.Time) {
	b.Queue(sampleQuery, deviceID, from, to)
	b.Queue(blocksOfDevice, deviceID, from, to.Add(time.Microsecond))
}

// readSamples reads what queueSamples queued, merged in time order.
func readSamples(br pgx.BatchResults, deviceID string, from, to time.Time) ([]rollup.Sample, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	samples, err := scanSamples(rows)
	if err != nil {
		return nil, err
	}
	rows, err = br.Query()
	if err != nil {
		return nil, err
	}
	blocks, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil || len(blocks) == 0 {
		return samples, err
	}
	compacted, err := decodeBlocks(deviceID, blocks, from, to.Add(time.Microsecond))
	if err != nil {
		return nil, err
	}
	return store.MergeSamples(samples, store.SamplesOf(compacted)), nil
}

// lockDevices takes the deviceLock of each device of $2, in the
// array's order (ascending, as every batch is sorted), until the
// transaction ends.
const lockDevices = `SELECT pg_advisory_xact_lock($1::int4, hashtext(u.id)) FROM unnest($2::text[]) AS u(id)`

// blocksOfDevices selects, for each device of $1, the blocks that may
// hold readings in its span [$2, $3): blocksOfDevice for many devices in
// one statement. On Citus, where a join of arrays with a distributed table
// is planned across shards, each device's blocksOfDevice is sent instead.
const blocksOfDevices = `
SELECT b.device_id, b.block
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS r(device_id, from_at, to_at)
JOIN reading_blocks b ON b.device_id = r.device_id
	AND b.day >= date_bin('1 day', r.from_at, timestamptz 'epoch') AND b.day < r.to_at`

// lockReadingsInBlocks takes the deviceLock of each device of rs (sorted
// by device, then time), in tx, and then reports which of rs a block
// holds already: one round trip, the locks before the read, so that the
// read sees every compaction that committed before them.
func (s *Store) lockReadingsInBlocks(ctx context.Context, tx pgx.Tx, rs []thermowatt.Reading) ([]bool, error) {
	var ids []string
	var from, to []time.Time
	for i, r := range rs {
		if i == 0 || r.DeviceID != rs[i-1].DeviceID {
			ids, from, to = append(ids, r.DeviceID), append(from, r.RecordedAt), append(to, time.Time{})
		}
		to[len(to)-1] = r.RecordedAt.Add(time.Microsecond)
	}
	var b pgx.Batch
	b.Queue(lockDevices, compactionLockClass, ids)
	if s.citus {
		for i, id := range ids {
			b.Queue(`SELECT $1::text, block FROM (`+blocksOfDevice+`) b`, id, from[i], to[i])
		}
	} else {
		b.Queue(blocksOfDevices, ids, from, to)
	}
	results := tx.SendBatch(ctx, &b)
	defer results.Close()
	if _, err := results.Exec(); err != nil {
		return nil, err
	}
	blocks := map[string][][]byte{}
	for range b.Len() - 1 {
		rows, err := results.Query()
		if err != nil {
			return nil, err
		}
		var (
			id    string
			block []byte
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &block}, func() error {
			blocks[id] = append(blocks[id], block)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	if err := results.Close(); err != nil {
		return nil, err
	}
	found := make([]bool, len(rs))
	for i, start := 0, 0; i < len(ids); i++ {
		end := start
		for end < len(rs) && rs[end].DeviceID == ids[i] {
			end++
		}
		if len(blocks[ids[i]]) > 0 {
			at := map[int64]bool{}
			for _, block := range blocks[ids[i]] {
				times, err := tscodec.RecordedTimes(block)
				if err != nil {
					return nil, fmt.Errorf("compacted readings of %q: %w", ids[i], err)
				}
				for _, t := range times {
					at[t] = true
				}
			}
			for k := start; k < end; k++ {
				found[k] = at[rs[k].RecordedAt.UnixMicro()]
			}
		}
		start = end
	}
	return found, nil
}

// deleteBlocksBefore deletes up to limit compacted readings recorded
// before cutoff, the oldest first (store.ExpireBlock), in tx, and returns
// how many per device. Concurrent runs take different blocks (SKIP
// LOCKED, but on Citus: see skipLocked).
func (s *Store) deleteBlocksBefore(ctx context.Context, tx pgx.Tx, cutoff time.Time, limit int) (map[string]int64, error) {
	rows, err := tx.Query(ctx, `
		SELECT device_id, day, block FROM reading_blocks WHERE day < $1
		ORDER BY day, device_id LIMIT $2 `+s.skipLocked(), cutoff, limit)
	if err != nil {
		return nil, err
	}
	blocks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (b store.Block, err error) {
		err = row.Scan(&b.DeviceID, &b.Day, &b.Data)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	if s.citus {
		// Citus takes no row lock in a query across shards (skipLocked):
		// two runs chose the same blocks, and each expired their readings
		// and counted them (TestCitusConformanceCompacted's
		// RetentionConcurrentRuns: 258 deleted of 151). Each block is
		// locked by a statement naming it, which goes to its shard alone.
		if blocks, err = lockBlocks(ctx, tx, blocks); err != nil {
			return nil, err
		}
	}
	deleted := map[string]int64{}
	budget := limit
	var writes pgx.Batch
	for _, b := range blocks {
		if budget == 0 {
			break
		}
		gone, left, err := store.ExpireBlock(b, cutoff, budget)
		if err != nil {
			return nil, err
		}
		budget -= gone
		switch {
		case left == nil:
			writes.Queue(`DELETE FROM reading_blocks WHERE device_id = $1 AND day = $2`, b.DeviceID, b.Day)
		case gone > 0:
			writes.Queue(`UPDATE reading_blocks SET readings = readings - $3, block = $4 WHERE device_id = $1 AND day = $2`,
				b.DeviceID, b.Day, gone, left)
		}
		if gone > 0 {
			deleted[b.DeviceID] += int64(gone)
		}
	}
	if writes.Len() == 0 {
		return deleted, nil
	}
	return deleted, tx.SendBatch(ctx, &writes).Close()
}

// lockBlocks locks blocks in tx, one statement each, skipping those
// another transaction holds, and returns the others as they are once
// locked (another run may have expired some of their readings since they
// were read), without those deleted meanwhile.
func lockBlocks(ctx context.Context, tx pgx.Tx, blocks []store.Block) ([]store.Block, error) {
	if len(blocks) == 0 {
		return blocks, nil
	}
	var b pgx.Batch
	for _, bl := range blocks {
		b.Queue(`SELECT block FROM reading_blocks WHERE device_id = $1 AND day = $2 FOR UPDATE SKIP LOCKED`, bl.DeviceID, bl.Day)
	}
	br := tx.SendBatch(ctx, &b)
	defer br.Close()
	var locked []store.Block
	for _, bl := range blocks {
		err := br.QueryRow().Scan(&bl.Data)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		locked = append(locked, bl)
	}
	return locked, br.Close()
}

// deleteExpiredBlocks deletes up to limit compacted readings recorded
// before cutoff in a transaction of its own, lowering the devices'
// reading counts by as many, in id order as ingest locks them.
func (s *Store) deleteExpiredBlocks(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	var total int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		total = 0
		deleted, err := s.deleteBlocksBefore(ctx, tx, cutoff, limit)
		if err != nil || len(deleted) == 0 {
			return err
		}
		ids := make([]string, 0, len(deleted))
		counts := make([]int64, 0, len(deleted))
		for id := range deleted {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			counts = append(counts, deleted[id])
			total += deleted[id]
		}
		_, err = tx.Exec(ctx, `
			UPDATE device_state d SET reading_count = greatest(d.reading_count - u.n, 0)
			FROM (SELECT * FROM unnest($1::text[], $2::int8[]) AS u(id, n) ORDER BY id) u
			WHERE d.device_id = u.id`, ids, counts)
		return err
	})
	return total, err
}

// blockSpan returns the times of one device's first and last compacted
// readings, from the headers of its first and last blocks; false when it
// has none.
func blockSpan(ctx context.Context, tx pgx.Tx, deviceID string) (first, last time.Time, ok bool, err error) {
	var oldest, newest []byte
	err = tx.QueryRow(ctx, `
		SELECT (SELECT block FROM reading_blocks WHERE device_id = $1 ORDER BY day LIMIT 1),
			(SELECT block FROM reading_blocks WHERE device_id = $1 ORDER BY day DESC LIMIT 1)`, deviceID).Scan(&oldest, &newest)
	if err != nil || oldest == nil {
		return first, last, false, err
	}
	if first, _, _, err = tscodec.BlockTimes(oldest); err != nil {
		return first, last, false, fmt.Errorf("compacted readings of %q: %w", deviceID, err)
	}
	if _, last, _, err = tscodec.BlockTimes(newest); err != nil {
		return first, last, false, fmt.Errorf("compacted readings of %q: %w", deviceID, err)
	}
	return first, last, true, nil
}

// compactedDaysOf selects the compacted days of the devices $1 that hold
// hours in [$2, $3), by device and day: those hours are computed from the
// blocks when read, never stored (store.CompactedHours).
const compactedDaysOf = `
SELECT device_id, day FROM reading_blocks
WHERE device_id = ANY($1) AND day > $2::timestamptz - interval '1 day' AND day < $3
ORDER BY device_id, day`

// scanDays reads compactedDaysOf's rows: per device, its days' starts in
// unix microseconds, ascending.
func scanDays(rows pgx.Rows) (map[string][]int64, error) {
	days := map[string][]int64{}
	var (
		id  string
		day time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &day}, func() error {
		days[id] = append(days[id], day.UnixMicro())
		return nil
	})
	return days, err
}

// dropCompacted returns rows (computed hours about to be stored) without
// those of compacted days, read in tx (store.DropCompacted).
func dropCompacted(ctx context.Context, tx pgx.Tx, rows []rollup.Row) ([]rollup.Row, error) {
	return store.DropCompacted(rows, func(ids []string, from, to int64) (map[string][]int64, error) {
		r, err := tx.Query(ctx, compactedDaysOf, ids, time.UnixMicro(from).UTC(), time.UnixMicro(to).UTC())
		if err != nil {
			return nil, err
		}
		return scanDays(r)
	})
}
