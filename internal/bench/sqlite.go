package bench

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt/internal/store/sqlite" // also registers the "sqlite" driver
)

// sqliteInsert inserts rowsPerInsert readings per statement: fewer
// statements is what makes a bulk load into SQLite fast.
var sqliteInsert = `INSERT INTO device_measurements
	(device_id, recorded_at, received_at, server_time, temperature, humidity, voltage_v, current_ma, power_mw, payload)
	VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?, 0, ?, ?, ?, ?, ?, ?),", rowsPerInsert), ",")

const rowsPerInsert = 100

var sqliteInsertOne = sqliteInsert[:strings.Index(sqliteInsert, "),")+1]

// openSQLite opens path as the server's writer does (WAL, synchronous
// FULL, checkpoints every 4,000 pages), for bulk loads from outside the
// server.
func openSQLite(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "wal_autocheckpoint(4000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// sqliteLoad inserts h in transactions of txRows, 100 rows per prepared
// INSERT: the fastest way into SQLite short of dropping the indexes.
func sqliteLoad(ctx context.Context, db *sql.DB, h *history, txRows int) (time.Duration, error) {
	start := time.Now()
	for _, register := range []string{
		`INSERT OR IGNORE INTO devices (id, created_at) SELECT value, 0 FROM json_each(?)`,
		`INSERT OR IGNORE INTO device_state (device_id) SELECT value FROM json_each(?)`, // migration 00015
	} {
		if _, err := db.ExecContext(ctx, register, jsonArray(h.ids)); err != nil {
			return 0, err
		}
	}
	received := time.Now().UnixMicro()
	var r row
	for more := true; more; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return 0, err
		}
		stmt, err := tx.PrepareContext(ctx, sqliteInsert)
		if err != nil {
			tx.Rollback()
			return 0, err
		}
		args := make([]any, 0, 9*rowsPerInsert)
		for i := 0; i < txRows; i++ {
			if more = h.next(&r); !more {
				break
			}
			args = append(args, r.DeviceID, r.RecordedAt.UnixMicro(), received,
				r.Temp, nil, r.V, r.MA, r.MW, string(r.Payload))
			if len(args) == cap(args) {
				if _, err := stmt.ExecContext(ctx, args...); err != nil {
					tx.Rollback()
					return 0, err
				}
				args = args[:0]
			}
		}
		if len(args) > 0 { // the last few rows, one statement each
			one, err := tx.PrepareContext(ctx, sqliteInsertOne)
			if err != nil {
				tx.Rollback()
				return 0, err
			}
			for i := 0; i < len(args); i += 9 {
				if _, err := one.ExecContext(ctx, args[i:i+9]...); err != nil {
					tx.Rollback()
					return 0, err
				}
			}
			one.Close()
		}
		stmt.Close()
		if err := tx.Commit(); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func jsonArray(ids []string) string {
	b := []byte{'['}
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, id...) // device ids are [A-Za-z0-9._-]
		b = append(b, '"')
	}
	return string(append(b, ']'))
}

// sqliteCeiling bulk-loads n readings into a fresh database made by the
// server's own migrations (so the table and indexes are identical), in
// large transactions: SQLite's counterpart of the CopyFrom ceiling.
func sqliteCeiling(ctx context.Context, path string, devices, n int) (float64, error) {
	return sqliteCeilingOf(ctx, path, ceilingHistory(devices, n))
}

// sqliteCeilingOf is sqliteCeiling of the readings h yields.
func sqliteCeilingOf(ctx context.Context, path string, h *history) (float64, error) {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return 0, err
	}
	st.Close()
	db, err := openSQLite(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	d, err := sqliteLoad(ctx, db, h, 50_000)
	if err != nil {
		return 0, fmt.Errorf("SQLite bulk ceiling: %w", err)
	}
	return float64(h.n) / d.Seconds(), nil
}

// sqliteFill loads the query phase's history into the server's database
// file (the server is idle meanwhile; WAL lets both have it open).
func sqliteFill(ctx context.Context, path string, h *history) (time.Duration, error) {
	db, err := openSQLite(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	// Only the set-up, not a measured figure: a 256 MB page cache keeps the
	// device-ordered indexes' pages at hand, which halves the load time.
	if _, err := db.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
		return 0, err
	}
	d, err := sqliteLoad(ctx, db, h, 200_000)
	if err != nil {
		return 0, fmt.Errorf("loading %d readings: %w", h.n, err)
	}
	start := time.Now()
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return 0, err
	}
	return d + time.Since(start), nil
}
