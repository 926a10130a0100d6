package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Readings are partitioned by recorded_at, one partition a week (migration
// 00004). A week, because:
//
//   - Retention drops whole partitions; a week of readings older than
//     RETENTION_DAYS (400 by default) is kept at most a week too long.
//   - At the default retention that is ~58 partitions. A query without a
//     time bound (every device's newest readings) plans and opens every
//     one of them, and on Citus each partition has a shard per shard
//     count (32 by default): ~1,900 shard tables a week at a time against
//     ~13,000 with daily partitions.
//   - A dashboard query spans 24 hours (one or two partitions) or 30 days
//     (five or six), pruned at execution from its bounds.
//   - At a million devices a week is ~2 billion readings, each partition's
//     indexes still built and vacuumed on their own.
const (
	partitionWidth = 7 * 24 * time.Hour
	// partitionsAhead is how many weeks after the current one are created
	// ahead: ingest never waits for a partition, and a service stopped for
	// two weeks still finds its readings a partition of their own.
	partitionsAhead = 2
	// partitionEvery is how often serve makes sure they exist.
	partitionEvery = 24 * time.Hour
)

// partitionLockKey is the transaction-level advisory lock taken while a
// partition is created or dropped, so that instances doing it at the same
// time take turns (the second finds the work done).
const partitionLockKey = 0x7468726d70617274 // "thrmpart"

// weekStart returns the start (Monday 00:00 UTC, as date_trunc('week')) of
// the week holding t.
func weekStart(t time.Time) time.Time {
	t = t.UTC()
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func partitionName(start time.Time) string {
	return "device_measurements_p" + start.Format("20060102")
}

// EnsurePartitions creates the weekly partitions of readings from the week
// of now to partitionsAhead weeks after it, those that are missing. It is
// safe to run from several instances at once. On a database whose readings
// are not partitioned (migration 00004 not applied) it does nothing.
func (s *Store) EnsurePartitions(ctx context.Context, now time.Time) error {
	first := weekStart(now)
	for i := range partitionsAhead + 1 {
		lo := first.Add(time.Duration(i) * partitionWidth)
		if err := s.createPartition(ctx, lo, lo.Add(partitionWidth)); err != nil {
			return fmt.Errorf("postgres: create partition %s: %w", partitionName(lo), mapError(ctx, err))
		}
	}
	return nil
}

// PartitionHistory gives the weeks from since's on partitions of their
// own, so that readings of that history (a backfill) are dropped by
// retention a week at a time, and creates the weeks ahead as
// EnsurePartitions does. serve runs it at start with since = now -
// RETENTION_DAYS.
//
// Weeks before the one migration 00004 started with are covered by the
// past partition (device_measurements_past, the table as it was). Its
// upper bound is moved down to since's week first (shrinkPast): in a
// database created empty, the readings it took meanwhile move to their
// weeks; a large table that holds readings from that week on keeps the
// weeks it covers, and only the later ones are created.
func (s *Store) PartitionHistory(ctx context.Context, since, now time.Time) error {
	first := weekStart(since)
	if err := s.shrinkPast(ctx, first); err != nil {
		return fmt.Errorf("postgres: move the past partition's bound to %s: %w", first.Format("2006-01-02"), mapError(ctx, err))
	}
	end := weekStart(now).Add(partitionsAhead * partitionWidth)
	for lo := first; !lo.After(end); lo = lo.Add(partitionWidth) {
		if err := s.createPartition(ctx, lo, lo.Add(partitionWidth)); err != nil {
			return fmt.Errorf("postgres: create partition %s: %w", partitionName(lo), mapError(ctx, err))
		}
	}
	return nil
}

// pastBound is the CHECK constraint that proves the past partition's new
// bound while it is moved (shrinkPast), so that attaching it again needs
// no scan. While it exists, a reading of the weeks being given up is
// refused by it; mapError answers that as unavailable (503 with
// Retry-After: the device sends it again, and it is stored in its week
// once the bound has moved), never as a failure of the reading.
const pastBound = "device_measurements_past_new_bound"

// pastScanLimit is the size of the past partition (its table, without
// indexes) up to which shrinkPast moves its bound in one transaction,
// scanning it under the lock: up to 64 MB, a fraction of a second, which
// ingest waits for rather than being refused. A fresh database's past
// partition is empty, or holds the minutes of readings sent before serve
// started the move. Larger ones (a table migrated by 00004) are proved
// by the CHECK constraint first. A variable for the tests.
var pastScanLimit int64 = 64 << 20

// shrinkPast moves the past partition's upper bound down to bound.
//
// A small past partition (pastScanLimit; a fresh database's) is detached
// and attached again with the new bound in one transaction (movePast),
// its readings from bound on moved out to their weeks first: readings
// sent meanwhile wait for it, none is refused.
//
// A larger one keeps its weeks when it holds readings from bound on (a
// migrated table's are not copied). Otherwise the new bound is proved
// first by a CHECK constraint, validated by a scan with which ingest goes
// on; then, in one short transaction under the lock timeout, the
// partition is detached and attached again. Between the two, a reading
// of the weeks being given up is refused by the constraint (answered 503,
// see pastBound). On Citus, where the coordinator does not know the
// partition's size, the second way is taken.
func (s *Store) shrinkPast(ctx context.Context, bound time.Time) error {
	var upper *time.Time
	err := s.pool.QueryRow(ctx, `SELECT upper FROM `+partitionBounds+` WHERE name = 'device_measurements_past'`).Scan(&upper)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && (upper == nil || !upper.After(bound)) {
		return nil // not partitioned, or nothing to move
	}
	if err != nil {
		return err
	}
	if !s.citus {
		var size int64
		if err := s.pool.QueryRow(ctx, `SELECT pg_relation_size('device_measurements_past')`).Scan(&size); err != nil {
			return err
		}
		if size <= pastScanLimit {
			return s.movePast(ctx, bound, false)
		}
	}
	var later bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM device_measurements_past WHERE recorded_at >= $1)`, bound).Scan(&later); err != nil || later {
		return err // its weeks stay with it
	}
	// A reading of [bound, upper) stored between the constraint and the
	// move is refused by it (answered 503, stored on the device's retry,
	// in its week); PartitionHistory runs before a backfill, not during one.
	if _, err := s.pool.Exec(ctx, `ALTER TABLE device_measurements_past DROP CONSTRAINT IF EXISTS `+pastBound); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, fmt.Sprintf(`ALTER TABLE device_measurements_past ADD CONSTRAINT %s CHECK (recorded_at < '%s') NOT VALID`,
		pastBound, bound.Format(time.RFC3339))); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `ALTER TABLE device_measurements_past VALIDATE CONSTRAINT `+pastBound); err != nil {
		return err
	}
	return s.movePast(ctx, bound, true)
}

// movePast detaches the past partition and attaches it again up to bound,
// in one transaction under the partitions' advisory lock and the lock
// timeout. proved says pastBound holds; else the partition's readings
// from bound on are moved to the DEFAULT partition while it is detached
// (createPartition moves them on into their weeks), and the attach scans
// it.
func (s *Store) movePast(ctx context.Context, bound time.Time, proved bool) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLockKey)); err != nil {
			return err
		}
		var upper *time.Time // moved meanwhile by another instance?
		if err := tx.QueryRow(ctx, `SELECT upper FROM `+partitionBounds+` WHERE name = 'device_measurements_past'`).Scan(&upper); err != nil {
			return err
		}
		if upper == nil || !upper.After(bound) {
			if proved { // by another instance: this one's constraint goes
				_, err := tx.Exec(ctx, `ALTER TABLE device_measurements_past DROP CONSTRAINT IF EXISTS `+pastBound)
				return err
			}
			return nil
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE device_measurements DETACH PARTITION device_measurements_past`); err != nil {
			return err
		}
		if !proved {
			// Detached, its range is the DEFAULT partition's: the readings
			// from bound on go there, with their ids.
			if _, err := tx.Exec(ctx, `
				WITH moved AS (
					DELETE FROM device_measurements_past WHERE recorded_at >= $1
					RETURNING `+storedColumns+`
				) INSERT INTO device_measurements (`+storedColumns+`) SELECT * FROM moved`, bound); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `ALTER TABLE device_measurements ATTACH PARTITION device_measurements_past FOR VALUES FROM (MINVALUE) TO ('`+
			bound.Format(time.RFC3339)+`')`); err != nil {
			return err
		}
		if !proved {
			return nil
		}
		_, err := tx.Exec(ctx, `ALTER TABLE device_measurements_past DROP CONSTRAINT `+pastBound)
		return err
	})
}

// createPartition creates and attaches the partition [lo, hi), unless it
// exists or a partition already covers part of the range (the one migration
// 00004 made of the table as it was, which reaches into the following
// weeks).
//
// Create, then attach, rather than CREATE TABLE ... PARTITION OF: ATTACH
// takes a SHARE UPDATE EXCLUSIVE lock on the parent, with which reads go
// on, where PARTITION OF would take an ACCESS EXCLUSIVE one. Readings the
// DEFAULT partition took for the range (stored before the partition
// existed) move into it first, as ATTACH requires; the DEFAULT partition is
// then scanned, and it holds nothing in normal operation. Inserts wait
// meanwhile (a SHARE ROW EXCLUSIVE lock on the parent, taken before any of
// it): an insert already routed to the DEFAULT partition would fail the
// attach, or fail itself after it. On Citus they are not held up.
func (s *Store) createPartition(ctx context.Context, lo, hi time.Time) error {
	name := partitionName(lo)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLockKey)); err != nil {
			return err
		}
		var partitioned, exists, covered bool
		err := tx.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = 'device_measurements'::regclass),
				to_regclass($1) IS NOT NULL,
				EXISTS (SELECT 1 FROM `+partitionBounds+` WHERE upper IS NOT NULL AND upper > $2 AND (lower IS NULL OR lower < $3))`,
			name, lo, hi).Scan(&partitioned, &exists, &covered)
		if err != nil || !partitioned || exists || covered {
			return err
		}
		// Fail rather than queue behind a long query: ingest would queue
		// behind this statement in turn. The next run tries again.
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		// Inserts wait while the partition is made (milliseconds: the
		// DEFAULT partition holds nothing in normal operation). One routed
		// to the DEFAULT partition meanwhile would make the attach fail, or
		// itself fail once the range was attached (a 500 to a device).
		if !s.citus {
			if _, err := tx.Exec(ctx, `LOCK TABLE device_measurements IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE `+name+
			` (LIKE device_measurements INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING STORAGE)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			WITH moved AS (
				DELETE FROM device_measurements_default WHERE recorded_at >= $1 AND recorded_at < $2
				RETURNING `+storedColumns+`
			) INSERT INTO `+name+` (`+storedColumns+`) SELECT * FROM moved`, lo, hi); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `ALTER TABLE device_measurements ATTACH PARTITION `+name+
			` FOR VALUES FROM ('`+lo.Format(time.RFC3339)+`') TO ('`+hi.Format(time.RFC3339)+`')`)
		return err
	})
}

// storedColumns are the columns of device_measurements a row is stored
// with.
var storedColumns = `id, ` + readingColumnNames

// partitionBounds lists the partitions of device_measurements with their
// bounds (NULL: MINVALUE, or the DEFAULT partition, which has neither), as
// a table expression. A condition on its columns alone may be evaluated
// on every row of pg_class before the join with pg_inherits (the
// planner's choice), so one that could fail on another relation names it
// by relid, never by name: quote_ident(name)::regclass failed with
// "relation pg_toast_… does not exist" on a TOAST table's row.
const partitionBounds = `(
	SELECT c.oid AS relid, c.relname::text AS name,
		(regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lower,
		(regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper
	FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
	WHERE i.inhparent = to_regclass('device_measurements')
) AS bounds`

// PartitionBounds is partitionBounds for the benchmarks (internal/bench),
// which size the partitions by their bounds.
const PartitionBounds = partitionBounds

// dropExpiredPartitions drops every partition of readings whose range ends
// at or before cutoff, the oldest first, each in a transaction of its own,
// and returns how many readings they held. The devices' reading counts are
// lowered by what each partition held, in the same transaction.
func (s *Store) dropExpiredPartitions(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		n, dropped, err := s.dropOldestExpired(ctx, cutoff)
		total += n
		if err != nil || !dropped {
			return total, err
		}
	}
}

func (s *Store) dropOldestExpired(ctx context.Context, cutoff time.Time) (n int64, dropped bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(partitionLockKey)); err != nil {
			return err
		}
		var (
			name         string
			lower, upper *time.Time
		)
		err := tx.QueryRow(ctx, `SELECT name, lower, upper FROM `+partitionBounds+`
			WHERE upper IS NOT NULL AND upper <= $1 ORDER BY upper LIMIT 1`, cutoff).Scan(&name, &lower, &upper)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '5s'`); err != nil {
			return err
		}
		// The parent first, in the mode ingest does not conflict with, then
		// the partition, so that no reading is stored into it between the
		// count and the DROP (only a backfill of expired readings would be).
		// DROP then takes the parent's ACCESS EXCLUSIVE lock for a catalog
		// change; the lock timeout bounds how long ingest can queue behind.
		if _, err := tx.Exec(ctx, `LOCK TABLE device_measurements IN SHARE UPDATE EXCLUSIVE MODE`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{name}.Sanitize()+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		// Counts are lowered in device id order, as ingest raises them, by
		// what the partition holds of each device: its hourly roll-ups'
		// counts (the partition's bounds are whole hours, and the lock
		// keeps its readings as they are), a week of hours rather than a
		// week of readings to read; but an hour still pending (any reading
		// stored in it since it was materialized marked it) is counted
		// from the partition's readings, as is an hour of a compacted day
		// (not stored). One statement: the marks and the roll-ups are of
		// one snapshot.
		err = tx.QueryRow(ctx, `
			WITH pending AS (
				SELECT device_id, hour FROM rollup_pending
				WHERE hour >= coalesce($1, '-infinity'::timestamptz) AND hour < $2
			), per_hour AS (
				SELECT h.device_id, h.readings AS n FROM hourly_rollups h
				WHERE h.hour >= coalesce($1, '-infinity'::timestamptz) AND h.hour < $2
					AND NOT EXISTS (SELECT 1 FROM pending p WHERE p.device_id = h.device_id AND p.hour = h.hour)
				UNION ALL
				SELECT m.device_id, 1 FROM `+pgx.Identifier{name}.Sanitize()+` m
				WHERE EXISTS (SELECT 1 FROM pending p WHERE p.device_id = m.device_id
					AND p.hour = date_bin('1 hour', m.recorded_at, timestamptz 'epoch'))
				-- a compacted day's hours are not stored (its block holds
				-- its readings, not this partition): its rows are counted
				OR EXISTS (SELECT 1 FROM reading_blocks b WHERE b.device_id = m.device_id
					AND b.day = date_bin('1 day', m.recorded_at, timestamptz 'epoch'))
			), per_device AS (
				SELECT device_id, sum(n) AS n FROM per_hour
				GROUP BY device_id HAVING sum(n) > 0
			), counted AS (
				INSERT INTO device_state AS d (device_id, reading_count)
				SELECT device_id, n FROM per_device ORDER BY device_id
				ON CONFLICT (device_id) DO UPDATE
				SET reading_count = greatest(d.reading_count - EXCLUDED.reading_count, 0)
			)
			SELECT coalesce(sum(n), 0)::int8 FROM per_device`, lower, upper).Scan(&n)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DROP TABLE `+pgx.Identifier{name}.Sanitize()); err != nil {
			return err
		}
		dropped = true
		return nil
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available: busy, the next run drops it
		return 0, false, nil
	}
	return n, dropped, err
}

// MaintainPartitions creates the partitions ahead (EnsurePartitions) now
// and every day until ctx ends; serve runs it. A failure is reported to
// errs and tried again at the next run: the weeks created ahead leave time,
// and the DEFAULT partition takes readings meanwhile.
func (s *Store) MaintainPartitions(ctx context.Context, errs func(error)) {
	t := time.NewTicker(partitionEvery)
	defer t.Stop()
	for now := time.Now(); ; {
		if err := s.EnsurePartitions(ctx, now); err != nil && ctx.Err() == nil {
			errs(err)
		}
		select {
		case <-ctx.Done():
			return
		case now = <-t.C:
		}
	}
}
