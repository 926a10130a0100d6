package postgres

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// rollup_pending is a queue: ingest adds marks, the materializer deletes
// them, and when it has caught up the table holds none. But its two
// indexes keep every page a backlog ever needed (VACUUM makes deleted
// index pages reusable, never gives them back), and so does the table
// until a VACUUM finds its pages empty: after loading 200,000 old
// readings, 1.4 MB stayed for a table without a row. shrinkPending gives
// those pages back once the queue is empty: REINDEX builds the indexes
// anew from the table (MVCC-safe, unlike TRUNCATE, which would show a
// reader of an older snapshot no mark where it must see one), holding a
// lock that makes ingest's marks wait for the few milliseconds it takes
// on an empty table, and given up after shrinkWait should the lock not
// come; VACUUM then truncates the empty table. One instance at a time (an
// advisory lock), at most every shrinkEvery, and only when the indexes
// hold more than shrinkAbove.
const (
	shrinkEvery = time.Minute
	shrinkAbove = 1 << 20
	shrinkWait  = "200ms"
	// shrinkLock is the advisory lock of the instance shrinking.
	shrinkLock = 0x74777368 // "twsh"
)

// shrinkPending gives rollup_pending's pages back when it is empty and
// its indexes have grown past shrinkAbove; at most once per shrinkEvery
// per Store. Failures are left for the next time: nothing depends on it.
func (s *Store) shrinkPending(ctx context.Context) {
	now := time.Now().UnixNano()
	if last := s.shrunk.Load(); now-last < int64(shrinkEvery) || !s.shrunk.CompareAndSwap(last, now) {
		return
	}
	if s.citus {
		return // the coordinator's table is empty; the shards are the workers'
	}
	var worth bool
	err := s.pool.QueryRow(ctx, `SELECT pg_indexes_size('rollup_pending') > $1 AND NOT EXISTS (SELECT 1 FROM rollup_pending)`,
		shrinkAbove).Scan(&worth)
	if err != nil || !worth {
		return
	}
	s.withShrinkLock(ctx, func(conn *pgxpool.Conn) {
		t0 := time.Now()
		defer func() { s.logger().Debug("postgres: rollup_pending reindexed", "took", time.Since(t0)) }()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+shrinkWait+`'`); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `REINDEX TABLE rollup_pending`)
			return err
		})
		if err == nil {
			_, _ = conn.Exec(ctx, `VACUUM rollup_pending`)
		}
	})
}

// withShrinkLock runs fn on a connection of its own holding shrinkLock,
// the session lock that lets one instance at a time give pages back; it
// does nothing when another holds it.
func (s *Store) withShrinkLock(ctx context.Context, fn func(conn *pgxpool.Conn)) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, shrinkLock).Scan(&locked); err != nil || !locked {
		return
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, shrinkLock)
	fn(conn)
}

// shrinkClock is when a Store last looked at rollup_pending's size.
type shrinkClock = atomic.Int64

// hourly_rollups loses the hours of every day the compactor takes
// (compacted days keep no roll-ups), and the pages those rows leave are
// reused only by new hours: after an upgrade, or a backfill of old weeks,
// the table keeps the size of every hour it ever held (8.5 MB per million
// readings on bench-disk, a quarter of the whole database). Once a pass of
// the compactor has taken every day it could, shrinkRollups rewrites the
// table when its pages are mostly empty: VACUUM FULL, which keeps what
// readers of older snapshots see (unlike TRUNCATE), under an ACCESS
// EXCLUSIVE lock that waits shrinkWait at most and then holds while the
// live rows are copied (reads of roll-ups wait that long: about a second
// for a week of 1,000 devices' hours). Looked at after every pass of the
// compactor (a minute apart), rewritten at most every rewriteEvery, only
// when the table exceeds rewriteAbove and its rows fill under a third of
// it.
const (
	rewriteEvery = 10 * time.Minute
	rewriteAbove = 1 << 20
	// rollupRowBytes is what an hour's row takes in the table, header
	// and line pointer included: 30 columns, most of them float8.
	rollupRowBytes = 300
)

// shrinkRollups gives hourly_rollups' empty pages back, see above.
func (s *Store) shrinkRollups(ctx context.Context) {
	if s.citus {
		return
	}
	now := time.Now().UnixNano()
	if last := s.rewritten.Load(); last != 0 && now-last < int64(rewriteEvery) {
		return
	}
	var worth bool
	// The rows counted, not the statistics' estimate: a backend reports
	// its deletes up to 10 s after they commit. Not while a VACUUM works
	// on the table (autovacuum, after the deletes): the lock would not
	// come within shrinkWait; the next pass tries again.
	err := s.pool.QueryRow(ctx, `SELECT pg_relation_size('hourly_rollups') > $1
		AND pg_relation_size('hourly_rollups') > 3 * $2 * (SELECT count(*) FROM hourly_rollups)
		AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_vacuum WHERE relid = 'hourly_rollups'::regclass)`,
		rewriteAbove, rollupRowBytes).Scan(&worth)
	if err != nil || !worth {
		return
	}
	s.withShrinkLock(ctx, func(conn *pgxpool.Conn) {
		if _, err := conn.Exec(ctx, `SET lock_timeout = '`+shrinkWait+`'`); err != nil {
			return
		}
		defer conn.Exec(context.WithoutCancel(ctx), `RESET lock_timeout`)
		t0 := time.Now()
		_, err := conn.Exec(ctx, `VACUUM (FULL, ANALYZE) hourly_rollups`)
		s.logger().Debug("postgres: hourly_rollups rewritten (VACUUM FULL)", "took", time.Since(t0), "err", err)
		if err == nil {
			s.rewritten.Store(now)
		}
	})
}
