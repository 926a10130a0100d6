package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ReadingsQuery lets the external tests EXPLAIN the SQL QueryReadings runs.
var ReadingsQuery = readingsQuery

// SeriesQuery is the SQL Series runs, for the same purpose.
var SeriesQuery = seriesQuery

// MigrateTo brings the database at databaseURL up to migration version, to
// test a later migration on a database that holds data.
func MigrateTo(ctx context.Context, databaseURL string, version int64) error {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	p, err := provider(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.UpTo(ctx, version)
	return err
}

// WeekStart is the start of the partition week holding t.
var WeekStart = weekStart

// MigrateDownTo rolls the database at databaseURL back to migration
// version, to test a migration's Down section.
func MigrateDownTo(ctx context.Context, databaseURL string, version int64) error {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return err
	}
	p, err := provider(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.DownTo(ctx, version)
	return err
}

// PartitionLockKey is the advisory lock partitions are changed under; a
// test holds it to keep a move of the past partition's bound waiting.
const PartitionLockKey = partitionLockKey

// SetPastScanLimit sets the size up to which the past partition's bound
// is moved in one transaction, and returns a function that restores it.
func SetPastScanLimit(n int64) (restore func()) {
	old := pastScanLimit
	pastScanLimit = n
	return func() { pastScanLimit = old }
}

// SetMaterializeReadings sets what one transaction of s's materializer
// reads (store.MaterializeReadings), for tests of the hours it leaves for the
// next.
func SetMaterializeReadings(s *Store, n int64) { s.materializeBudget = n }
