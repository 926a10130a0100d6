// Package sqlite is the embedded SQLite implementation of store.Store, the
// default for a single small server: one file, no database to run.
//
// SQLite allows one writer at a time. Rather than let concurrent writers
// collide inside SQLite (SQLITE_BUSY), all writes go through a pool of one
// connection, so they queue in Go, in order, and honour their contexts;
// reads use a separate pool and, thanks to WAL, never wait for the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps readings, devices and tokens in an SQLite file.
type Store struct {
	// The queries of the fleet and admin entities, written once for both
	// backends (sqlstore), over write and read.
	*sqlstore.Store
	write *sql.DB // exactly one connection: SQLite has one writer
	read  *sql.DB // read-only connections; the same as write for :memory:
	// Prepared statements of each pool (stmts.go); the same cache twice
	// for :memory:.
	writeStmts, readStmts *stmtCache
	// The background checkpointer (checkpoint.go); nil for :memory:.
	checkpoints     *sql.DB
	stopCheckpoints context.CancelFunc
	checkpointsDone chan struct{}
	log             atomic.Pointer[slog.Logger] // the checkpointer's; nil: none (SetLogger)
	// materializeBudget is store.MaterializeReadings unless a test sets
	// it (0: store.MaterializeReadings).
	materializeBudget int64
	// walRestart is walRestartPages unless a test lowers it (0:
	// walRestartPages), read by the checkpointer at every tick.
	walRestart atomic.Int64
}

// walRestartPages is the WAL size, in pages, from which the checkpointer
// takes the writer's connection to start the WAL over (checkpoint.go).
func (s *Store) walRestartPages() int {
	if n := s.walRestart.Load(); n > 0 {
		return int(n)
	}
	return walRestartPages
}

// SetLogger has the background checkpointer log its checkpoints (debug)
// to l.
func (s *Store) SetLogger(l *slog.Logger) { s.log.Store(l) }

// logger is SetLogger's, or one that discards.
func (s *Store) logger() *slog.Logger {
	if l := s.log.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

var _ store.Store = (*Store)(nil)

// maxReaders bounds the read pool. Reads are short; a few connections are
// enough to keep the dashboard from queueing behind a slow export.
const maxReaders = 4

// Open opens (creating it and its directory if needed) the database file at
// path, brings its schema up to date and returns a Store. path ":memory:"
// gives a private in-memory database, for tests.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWith(ctx, path, Options{})
}

// Options are settings of an SQLite store beyond its path.
type Options struct {
	// MaxPageCount caps the database file at this many pages (4 KiB
	// each) for every connection, 0 for no cap. Reaching it fails writes
	// with SQLITE_FULL exactly as a full disk does, which is how the
	// fault tests fill the "disk" without filling the machine's.
	MaxPageCount int
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, o Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("sqlite: database path %q: must not contain '?'", path)
	}
	memory := path == ":memory:"
	if !memory {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("sqlite: create directory for database: %w", mapError(ctx, err))
		}
	}

	write, err := sql.Open("sqlite", dsn(path, false, o))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	s := &Store{write: write, read: write, writeStmts: newStmtCache(write)}
	s.readStmts = s.writeStmts

	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, mapError(ctx, err))
	}
	if !memory {
		if _, err := switchAutoVacuum(ctx, write); err != nil {
			write.Close()
			return nil, fmt.Errorf("sqlite: switching %s to auto_vacuum = INCREMENTAL: %w", path, mapError(ctx, err))
		}
		// Opened after the migration, which has switched the file to WAL.
		s.read, err = sql.Open("sqlite", dsn(path, true, o))
		if err != nil {
			write.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.read.SetMaxOpenConns(maxReaders)
		s.read.SetMaxIdleConns(maxReaders)
		s.readStmts = newStmtCache(s.read)
		if s.checkpoints, err = sql.Open("sqlite", dsn(path, false, o)); err != nil {
			s.Close()
			return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
		}
		s.checkpoints.SetMaxOpenConns(1)
		var cctx context.Context
		cctx, s.stopCheckpoints = context.WithCancel(context.Background())
		s.checkpointsDone = make(chan struct{})
		go checkpointer(cctx, s.checkpoints, s.write, s.walRestartPages, s.logger, s.checkpointsDone)
	}
	s.Store = s.shared()
	if err := s.writeStmts.prepareAll(ctx, writeQueries...); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: prepare statements: %w", mapError(ctx, err))
	}
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// Roll-ups a migration or an interval change left to compute, before
	// anything reads them.
	if err := s.rebuildPendingRollups(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// dsn returns the data source name for path. The pragmas are in the DSN
// because the driver applies them to every connection it opens; a PRAGMA
// run with db.Exec would reach only one pooled connection.
//
//   - journal_mode(WAL): readers do not block the writer nor it them.
//   - synchronous(FULL): a commit is on disk before it returns, because a
//     2xx to a device promises its readings survive a power cut.
//   - busy_timeout(5000): wait for a lock held by another process (a
//     second instance, the sqlite3 shell) instead of failing at once.
//   - foreign_keys(1): SQLite does not enforce REFERENCES otherwise.
//   - auto_vacuum(INCREMENTAL), the writer only: a new database gives
//     freed pages back to the file system when told (autovacuum.go).
//   - _txlock=immediate: a write transaction takes the write lock when it
//     begins, so it waits (busy_timeout) rather than failing with
//     SQLITE_BUSY when it later turns out another process wrote meanwhile.
//   - wal_autocheckpoint(walSafetyPages), the writer only: the WAL is
//     copied into the database file by a checkpointer of its own, off the
//     commit path (checkpoint.go); the writer does it only if that one
//     falls far behind.
//   - journal_size_limit(walKeepBytes), the writer only: when the WAL
//     starts over, a file grown larger (a burst) is cut back to this.
//   - temp_store(MEMORY), the writer only: a multi-row INSERT in a
//     transaction keeps the old content of each page it changes in a
//     statement journal (to undo the statement alone), which SQLite
//     otherwise spills to a temporary file past 64 KB: a write system
//     call per page, 14 % of the server's CPU for single readings
//     (bench-peers' profile). In memory it costs the pages one
//     statement changes (a chunk of at most 100 readings: a few MB), and
//     nothing on disk needs it: a crash undoes the whole transaction,
//     never one statement. The writer's temporary sort trees (a
//     compaction's day of one device) are kept in memory too.
func dsn(path string, readOnly bool, o Options) string {
	q := url.Values{}
	if o.MaxPageCount > 0 {
		q.Add("_pragma", fmt.Sprintf("max_page_count(%d)", o.MaxPageCount))
	}
	if !readOnly {
		// Before the first table of a new database is created, and
		// before WAL mode: autovacuum.go.
		q.Add("_pragma", "auto_vacuum(INCREMENTAL)")
	}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walSafetyPages))
		q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walKeepBytes))
		q.Add("_pragma", "temp_store(MEMORY)")
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// No locker: SQLite serialises the migration itself, since goose runs
	// each migration in a transaction and _txlock=immediate makes that
	// transaction take the write lock before it looks at the version table.
	p, err := goose.NewProvider(goose.DialectSQLite3, s.write, fsys,
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", mapError(ctx, err))
	}
	return nil
}

// Close closes the database; calls in flight finish first.
func (s *Store) Close() error {
	var errs []error
	if s.checkpoints != nil {
		s.stopCheckpoints()
		<-s.checkpointsDone
		errs = append(errs, s.checkpoints.Close())
	}
	if s.read != s.write {
		errs = append(errs, s.readStmts.close(), s.read.Close())
	}
	errs = append(errs, s.writeStmts.close(), s.write.Close())
	return errors.Join(errs...)
}

// writeQueries are prepared when the store opens, because a statement used
// inside a transaction cannot be prepared on the pool then (stmtCache.inTx).
var writeQueries = append([]string{registerDevice, registerState, insertReading, countReadings, deviceInterval, sampleQuery, insertRollup, markHour, blocksAround,
	clearClaimedMark, clearHourMark, deleteRollupHour},
	insertRowsQueries()...)
