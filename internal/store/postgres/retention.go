package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// DeleteReadingsBefore drops the partitions of readings that expired whole
// and deletes one batch of the expired readings left (in the partition
// that straddles the cutoff); see store.Retention. SKIP LOCKED: a second run at the same time takes other rows
// rather than waiting; the device counts are updated in id order, as
// ingest does, so the two never deadlock.
func (s *Store) DeleteReadingsBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	q := `
	WITH doomed AS (
		SELECT device_id, recorded_at FROM device_measurements WHERE recorded_at < $1
		ORDER BY recorded_at, id LIMIT $2 ` + s.skipLocked() + `
	), deleted AS (
		-- by the primary key (id is not indexed on its own), with the
		-- bound again, so that only the partitions before the cutoff are
		-- probed (or scanned), not every week kept
		DELETE FROM device_measurements m USING doomed
		WHERE m.device_id = doomed.device_id AND m.recorded_at = doomed.recorded_at AND m.recorded_at < $1
		RETURNING m.device_id
	), per_device AS (
		SELECT device_id, count(*) AS n FROM deleted GROUP BY device_id
	), counted AS (
		INSERT INTO device_state AS d (device_id, reading_count)
		SELECT device_id, n FROM per_device ORDER BY device_id
		ON CONFLICT (device_id) DO UPDATE
		SET reading_count = greatest(d.reading_count - EXCLUDED.reading_count, 0)
	)
	SELECT count(*) FROM deleted`
	// Retried like ingest (deadlock victim, dead pooled connection). Should
	// a batch commit and its answer be lost, the retry deletes the next
	// batch instead: the printed count is then short by one batch, the
	// data is right.
	// Whole weeks first (partitions.go): a DROP instead of a DELETE per
	// row, counted in this call's result, which may then exceed limit.
	dropped, err := s.dropExpiredPartitions(ctx, store.UTC(cutoff))
	if err != nil {
		return dropped, fmt.Errorf("postgres: drop expired partitions: %w", mapError(ctx, err))
	}
	// Then the compacted readings (compaction.go), older than any row but
	// for a day backfilled since its compaction, and the rows.
	fromBlocks, err := s.deleteExpiredBlocks(ctx, store.UTC(cutoff), limit)
	if err != nil {
		return dropped, fmt.Errorf("postgres: delete compacted readings: %w", mapError(ctx, err))
	}
	dropped += fromBlocks
	var n int64
	if rest := limit - int(fromBlocks); rest > 0 {
		err = s.withRetry(ctx, func() error {
			return s.pool.QueryRow(ctx, q, store.UTC(cutoff), rest).Scan(&n)
		})
		if err != nil {
			return dropped, fmt.Errorf("postgres: delete readings: %w", mapError(ctx, err))
		}
	}
	n += fromBlocks
	dropped -= fromBlocks
	// The roll-ups follow once the batches are through (this one was short
	// of limit): after every batch, each device's hours around the cutoff
	// would be recomputed as many times as there are batches.
	if n < int64(limit) {
		if err := s.trimRollups(ctx, store.UTC(cutoff)); err != nil {
			return dropped + n, fmt.Errorf("postgres: trim roll-ups: %w", mapError(ctx, err))
		}
	}
	return dropped + n, nil
}

// DeleteRawBefore deletes one batch of expired raw archive rows.
func (s *Store) DeleteRawBefore(ctx context.Context, cutoff time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		DELETE FROM raw_measurements WHERE id IN (
			SELECT id FROM raw_measurements WHERE received_at < $1
			ORDER BY received_at, id LIMIT $2 `+s.skipLocked()+`)`, store.UTC(cutoff), limit)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete raw archive: %w", mapError(ctx, err))
	}
	return tag.RowsAffected(), nil
}

// DeleteOpsBefore deletes old failure counts and resolved alerts.
func (s *Store) DeleteOpsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	cutoff = store.UTC(cutoff)
	var total int64
	for _, q := range []string{
		`DELETE FROM device_failures WHERE minute < $1`,
		`DELETE FROM alerts WHERE resolved_at < $1 AND resolved_notified_at IS NOT NULL`,
	} {
		tag, err := s.pool.Exec(ctx, q, cutoff)
		if err != nil {
			return total, fmt.Errorf("postgres: delete old alerts: %w", mapError(ctx, err))
		}
		total += tag.RowsAffected()
	}
	return total, nil
}

// skipLocked is the locking clause of a batch's selection: SKIP LOCKED
// lets concurrent runs take different rows. Citus refuses row locks in a
// query across shards; there the second of two runs selecting the same
// rows waits for the first's DELETE and then deletes none of them, and
// only the rows deleted are counted, so the counts stay right.
func (s *Store) skipLocked() string {
	if s.citus {
		return ""
	}
	return "FOR UPDATE SKIP LOCKED"
}

// skipLockedOf is skipLocked for the rows of one table of a join.
func (s *Store) skipLockedOf(table string) string {
	if s.citus {
		return ""
	}
	return "FOR UPDATE OF " + table + " SKIP LOCKED"
}
