package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/thermowatt/thermowatt/internal/store/sqlstore"
)

// dialect is how SQLite spells what sqlstore's queries need.
var dialect = sqlstore.Dialect{
	Name:     "sqlite",
	MapError: mapError,
	Violation: func(err error) sqlstore.Violation {
		switch {
		case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY), isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE):
			return sqlstore.UniqueViolation
		case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY):
			return sqlstore.ForeignKeyViolation
		case isConstraint(err, sqlite3.SQLITE_CONSTRAINT_CHECK):
			return sqlstore.CheckViolation
		}
		return sqlstore.NoViolation
	},
	Greatest: "max",
	// json_extract of a non-string (a number) gives a number, kept as its
	// text so that both backends name it alike.
	JSONText: func(column string, path ...string) string {
		return fmt.Sprintf("CAST(json_extract(%s, '%s') AS TEXT)", column, jsonPath(path))
	},
	JSONString: func(column string, path ...string) string {
		p := jsonPath(path)
		return fmt.Sprintf("CASE WHEN json_type(%s, '%s') = 'text' THEN json_extract(%s, '%s') ELSE '' END", column, p, column, p)
	},
	SecondsAfter: func(t, secs string) string { return fmt.Sprintf("(%s + (%s) * 1000000)", t, secs) },
}

func jsonPath(keys []string) string { return "$." + strings.Join(keys, ".") }

// db runs sqlstore's statements on a pool or a transaction of
// database/sql, in SQLite's encodings: a time.Time is INTEGER
// microseconds since the Unix epoch (time.go), a list of strings a JSON
// array in TEXT.
type db struct {
	q interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
		QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}
}

func (d db) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := d.q.ExecContext(ctx, query, encode(args)...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (d db) ExecAll(ctx context.Context, stmts []sqlstore.Stmt) error {
	for _, st := range stmts {
		if _, err := d.Exec(ctx, st.SQL, st.Args...); err != nil {
			return err
		}
	}
	return nil
}

func (d db) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := d.q.QueryContext(ctx, query, encode(args)...)
	if err != nil {
		return nil, err
	}
	return decodingRows{rows}, nil
}

func (d db) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return decodingRow{d.q.QueryRowContext(ctx, query, encode(args)...)}
}

// inTx runs fn in a write transaction and commits when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// shared is the sqlstore.Store over s's pools.
func (s *Store) shared() *sqlstore.Store {
	return &sqlstore.Store{
		Read: db{s.read}, Write: db{s.write},
		InTx: func(ctx context.Context, fn func(sqlstore.DB) error) error {
			return s.inTx(ctx, func(tx *sql.Tx) error { return fn(db{tx}) })
		},
		// tx is always one of InTx's.
		MarkAllHours: func(ctx context.Context, tx sqlstore.DB, deviceID string) error {
			return s.markAllHours(ctx, tx.(db).q.(*sql.Tx), deviceID)
		},
		Dialect: dialect,
	}
}

// encode returns args with times and lists in SQLite's encodings.
func encode(args []any) []any {
	out, copied := args, false
	for i, a := range args {
		var v any
		switch a := a.(type) {
		case time.Time:
			v = micros(a)
		case *time.Time:
			if a != nil {
				v = micros(*a)
			}
		case []string:
			if a != nil {
				b, _ := json.Marshal(a)
				v = string(b)
			}
		default:
			continue
		}
		if !copied {
			out, copied = append([]any(nil), args...), true
		}
		out[i] = v
	}
	return out
}

// decodingRows scans times and lists from SQLite's encodings.
type decodingRows struct{ *sql.Rows }

func (r decodingRows) Scan(dest ...any) error { return r.Rows.Scan(decoders(dest)...) }
func (r decodingRows) Close()                 { r.Rows.Close() }

type decodingRow struct{ *sql.Row }

func (r decodingRow) Scan(dest ...any) error { return r.Row.Scan(decoders(dest)...) }

// decoders replaces each *time.Time, **time.Time and *[]string in dest by
// a scanner that decodes into it.
func decoders(dest []any) []any {
	out, copied := dest, false
	for i, d := range dest {
		var s sql.Scanner
		switch d := d.(type) {
		case *time.Time:
			s = timeScanner{d}
		case **time.Time:
			s = nullTimeScanner{d}
		case *[]string:
			s = listScanner{d}
		default:
			continue
		}
		if !copied {
			out, copied = append([]any(nil), dest...), true
		}
		out[i] = s
	}
	return out
}

type timeScanner struct{ t *time.Time }

func (s timeScanner) Scan(v any) error {
	us, ok := v.(int64)
	if !ok {
		return fmt.Errorf("time column holds %T, want INTEGER microseconds", v)
	}
	*s.t = fromMicros(us)
	return nil
}

type nullTimeScanner struct{ t **time.Time }

func (s nullTimeScanner) Scan(v any) error {
	if v == nil {
		*s.t = nil
		return nil
	}
	*s.t = new(time.Time)
	return timeScanner{*s.t}.Scan(v)
}

type listScanner struct{ l *[]string }

func (s listScanner) Scan(v any) error {
	switch v := v.(type) {
	case nil:
		*s.l = nil
		return nil
	case string:
		return json.Unmarshal([]byte(v), s.l)
	case []byte:
		return json.Unmarshal(v, s.l)
	}
	return fmt.Errorf("list column holds %T, want a JSON array", v)
}
