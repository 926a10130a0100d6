// Package postgres is the PostgreSQL implementation of store.Store, for
// deployments with a managed database (Render). It uses a pgx connection
// pool and applies its schema migrations itself when opened.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store keeps readings, devices and tokens in PostgreSQL.
type Store struct {
	// The queries of the fleet and admin entities, written once for both
	// backends (sqlstore), over pool.
	*sqlstore.Store
	pool   *pgxpool.Pool
	tokens tokenLookups // concurrent TokenByID calls share queries
	citus  bool         // a Citus coordinator: see adaptToCitus
	// citusIngest: on Citus, with the insert function DistributeCitus
	// creates; readings go through it (insertPerNode)
	citusIngest bool
	nodes       deviceNodes // on Citus: the node of each device's shards
	shapes      payloadShapes
	compacted   compactedFrom // days compacted, not yet vacuumed (compaction.go)
	shrunk      shrinkClock   // when shrinkPending last looked
	rewritten   shrinkClock   // when shrinkRollups last looked
	log         storeLog      // the background passes' debug lines (log.go)
	// materializeBudget is store.MaterializeReadings unless a test sets
	// it (0: store.MaterializeReadings).
	materializeBudget int64
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at databaseURL (a postgres:// URL or a
// key=value DSN), brings its schema up to date and returns a Store. Several
// instances may open the same database at once: migrations run under a
// PostgreSQL advisory lock, so exactly one applies them and the others wait.
// An unreachable database yields an error wrapping thermowatt.ErrUnavailable.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The message of a parse error can contain the password.
		return nil, errors.New("postgres: invalid database URL (expected postgres://user:password@host:port/dbname)")
	}
	if err := migrate(ctx, cfg); err != nil {
		return nil, fmt.Errorf("postgres: migrate: %w", mapError(ctx, err))
	}
	citus, err := adaptToCitus(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", mapError(ctx, err))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", mapError(ctx, err))
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", mapError(ctx, err))
	}
	s := &Store{pool: pool, citus: citus}
	if citus {
		// Distributed by DistributeCitus, which creates the function (a
		// schema not distributed yet keeps the statements).
		// By its whole signature: one created by an earlier version, for
		// other columns, leaves the statements in use until `thermowatt
		// citus distribute` runs again and creates this one.
		err := pool.QueryRow(ctx, `SELECT to_regprocedure($1) IS NOT NULL`, citusInsertFunctionArgs).Scan(&s.citusIngest)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: %w", mapError(ctx, err))
		}
	}
	s.Store = s.shared()
	// Roll-ups a migration or an interval change left to compute, before
	// anything reads them (docs/scaling.md gives how long that takes).
	if _, err := s.RebuildPendingRollups(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Citus reports whether the database is a Citus coordinator and, if so,
// whether readings go through the insert function of this version
// (insertPerNode) rather than the statements of plain PostgreSQL: false
// until `thermowatt citus distribute` has run with this version (a
// cluster distributed before migration 00016 has the function of the
// columns before it).
func (s *Store) Citus() (coordinator, insertFunction bool) { return s.citus, s.citusIngest }

// migrate applies the embedded migrations.
func migrate(ctx context.Context, cfg *pgxpool.Config) error {
	p, err := provider(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	_, err = p.Up(ctx)
	return err
}

// provider returns a goose provider of the embedded migrations. Goose
// needs a database/sql handle; it gets one on a single pgx connection that
// lives until the provider is closed.
func provider(cfg *pgxpool.Config) (*goose.Provider, error) {
	db := stdlib.OpenDB(*cfg.ConnConfig.Copy())
	// The advisory lock belongs to a session, so goose must keep using the
	// connection it took the lock on; it does (sql.Conn). Poll every second
	// for up to five minutes rather than goose's default of every 5 s, so a
	// second instance starting alongside the first is not held up needlessly.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
	if err != nil {
		db.Close()
		return nil, err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrationsFS(),
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		db.Close()
		return nil, err
	}
	return p, nil
}

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.withRetry(ctx, func() error { return s.pool.Ping(ctx) }); err != nil {
		return fmt.Errorf("postgres: ping: %w", mapError(ctx, err))
	}
	return nil
}

// Close closes every connection; calls in flight finish first.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrationsFS returns the embedded migrations with the directory stripped:
// goose expects the files at the root of its file system.
func migrationsFS() fs.FS {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		panic(err) // cannot happen: the directory is embedded
	}
	return sub
}

// adaptToCitus sets what the store's connections need on a Citus
// coordinator (the citus extension created in the database):
//
//   - citus.multi_shard_modify_mode = sequential. The ingest statement
//     writes readings (distributed, possibly several shards of a worker at
//     once) and then the devices' counts (a reference table) in one
//     transaction; Citus refuses to modify a reference table after a
//     parallel multi-shard operation in the same transaction ("cannot
//     modify table devices because there was a parallel operation on a
//     distributed table"). Sequential mode sends a transaction's work for
//     a worker over one connection, which it accepts; the shards of the
//     different workers are still written at once.
//   - No row locks in a query across shards: Citus refuses FOR UPDATE
//     there (retention.go).
func adaptToCitus(ctx context.Context, cfg *pgxpool.Config) (bool, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	var citus bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')`).Scan(&citus); err != nil {
		return false, err
	}
	if citus {
		cfg.ConnConfig.RuntimeParams["citus.multi_shard_modify_mode"] = "sequential"
	}
	return citus, nil
}
