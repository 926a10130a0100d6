package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt/internal/store/sqlstore"
)

// dialect is how PostgreSQL spells what sqlstore's queries need.
var dialect = sqlstore.Dialect{
	Name:     "postgres",
	MapError: mapError,
	Violation: func(err error) sqlstore.Violation {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) {
			switch pgErr.Code {
			case "23505": // unique_violation
				return sqlstore.UniqueViolation
			case "23503": // foreign_key_violation
				return sqlstore.ForeignKeyViolation
			case "23514": // check_violation
				return sqlstore.CheckViolation
			}
		}
		return sqlstore.NoViolation
	},
	Greatest:   "greatest",
	ForUpdate:  "FOR UPDATE",
	SkipLocked: "FOR UPDATE SKIP LOCKED",
	JSONText:   jsonText,
	// ->> would turn a number into its text: only a string counts.
	JSONString: func(column string, path ...string) string {
		return fmt.Sprintf("CASE WHEN jsonb_typeof(%s%s) = 'string' THEN %s ELSE '' END", column, jsonPath(path), jsonText(column, path...))
	},
	SecondsAfter: func(t, secs string) string { return fmt.Sprintf("(%s + make_interval(secs => %s))", t, secs) },
	// The notification (revocations.go) is sent by the revoking
	// transaction, so every instance hears of the revocation when, and
	// only if, it commits.
	AfterRevoke: func(ctx context.Context, tx sqlstore.DB, id string) error {
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, revokedChannel, id)
		return err
	},
}

// jsonText is column->'a'->>'b' for the path a, b.
func jsonText(column string, path ...string) string {
	return column + jsonPath(path[:len(path)-1]) + "->>'" + path[len(path)-1] + "'"
}

// jsonPath is the -> steps of keys.
func jsonPath(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString("->'" + k + "'")
	}
	return b.String()
}

// db runs sqlstore's statements on the pool or a transaction, with pgx:
// the admin queries take the same connections as the hot paths. Times
// are scanned in UTC.
type db struct {
	q interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
		QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
		SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	}
}

func (d db) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := d.q.Exec(ctx, query, args...)
	return tag.RowsAffected(), err
}

func (d db) ExecAll(ctx context.Context, stmts []sqlstore.Stmt) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, st := range stmts {
		b.Queue(st.SQL, st.Args...)
	}
	return d.q.SendBatch(ctx, b).Close()
}

func (d db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return utcRows{rows}, nil
}

func (d db) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return utcRow{d.q.QueryRow(ctx, query, args...)}
}

// shared is the sqlstore.Store over s's pool.
func (s *Store) shared() *sqlstore.Store {
	return &sqlstore.Store{
		Read: db{s.pool}, Write: db{s.pool},
		InTx: s.adminTx,
		// tx is always one of adminTx's.
		MarkAllHours: func(ctx context.Context, tx sqlstore.DB, deviceID string) error {
			return markAllHours(ctx, tx.(db).q.(pgx.Tx), deviceID)
		},
		Dialect: dialect,
	}
}

// adminTx runs fn in a transaction, run again when PostgreSQL rolled it
// back as the victim of a deadlock or a serialization conflict (an
// interval change recomputing roll-ups while readings arrive). Unlike
// ingest's (withRetry), it is not run again after a lost connection: an
// admin change whose commit's answer was lost must not be made twice.
func (s *Store) adminTx(ctx context.Context, fn func(sqlstore.DB) error) error {
	var err error
	for range maxAttempts {
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return fn(db{tx}) })
		if err == nil || ctx.Err() != nil {
			return err
		}
		if retry, reset := retryable(err); !retry || reset {
			return err
		}
	}
	return err
}

type utcRows struct{ pgx.Rows }

func (r utcRows) Scan(dest ...any) error { return inUTC(r.Rows.Scan(dest...), dest) }

type utcRow struct{ pgx.Row }

func (r utcRow) Scan(dest ...any) error { return inUTC(r.Row.Scan(dest...), dest) }

// inUTC sets every time scanned into dest in UTC (pgx gives local
// times), and returns err.
func inUTC(err error, dest []any) error {
	if err != nil {
		return err
	}
	for _, d := range dest {
		switch t := d.(type) {
		case *time.Time:
			*t = t.UTC()
		case **time.Time:
			if *t != nil {
				u := (*t).UTC()
				*t = &u
			}
		}
	}
	return nil
}
