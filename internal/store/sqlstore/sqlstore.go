// Package sqlstore holds the queries of the fleet and admin entities
// (devices, tokens, settings, firmware, rollouts, alerts, alert rules,
// failure counts, the raw archive), each written once, one file per
// entity, over a DB that both backends provide and the small Dialect in
// which their SQL differs only in form. postgres.Store and sqlite.Store
// embed a Store and keep only what differs in substance: ingest, the
// readings and their roll-ups, partitions, retention, and how each looks a
// token up on the hot path.
//
// The queries use $1, $2… placeholders, which both databases accept. Times
// are passed and scanned as time.Time: the SQLite DB stores them as
// INTEGER microseconds (its on-disk format) and the PostgreSQL DB returns
// them in UTC, so no query here converts a time itself.
package sqlstore

import (
	"context"
	"fmt"

	"github.com/thermowatt/thermowatt/internal/store"
)

// DB runs statements: a connection pool, or one transaction.
type DB interface {
	// Exec runs a statement and says how many rows it changed.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow's Scan returns an error that is sql.ErrNoRows (errors.Is)
	// when there is no row.
	QueryRow(ctx context.Context, query string, args ...any) Row
	// ExecAll runs the statements in order, stopping at the first error;
	// PostgreSQL sends them in one round trip.
	ExecAll(ctx context.Context, stmts []Stmt) error
}

// Stmt is a statement with its arguments.
type Stmt struct {
	SQL  string
	Args []any
}

// Rows is a result set; Close may be called more than once.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is one row of a result, or the error that came instead.
type Row interface {
	Scan(dest ...any) error
}

// Store runs the shared queries. Read takes queries that only read; Write
// single statements that write; InTx runs fn in a write transaction,
// committed when fn returns nil (and run again when the database chose
// it as the victim of a deadlock). MarkAllHours marks every hour of a
// device's roll-ups pending in tx, after its interval changed, for the
// materializer to recompute: the backend's own.
type Store struct {
	Read, Write  DB
	InTx         func(ctx context.Context, fn func(tx DB) error) error
	MarkAllHours func(ctx context.Context, tx DB, deviceID string) error
	Dialect
	// Revoked are the functions the backend's WatchRevocations
	// registered: RevokeToken calls them after its commit.
	Revoked store.RevocationHooks
}

// fail wraps err, mapped by the dialect, with the backend's name and what
// was being done.
func (s *Store) fail(ctx context.Context, err error, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", s.Name, fmt.Sprintf(format, args...), s.MapError(ctx, err))
}

// collect scans every row of a query with scan.
func collect[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
