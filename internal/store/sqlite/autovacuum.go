package sqlite

import (
	"context"
	"database/sql"
)

// Freed pages go back to the file system. SQLite keeps the pages a DELETE
// frees inside the file for its own reuse (the freelist) unless the
// database is in auto_vacuum mode; compaction frees most of what it
// compacts (the rows of a day become a block of a few bytes a reading),
// so without it the file kept the size of the readings it no longer held.
// New databases are created with auto_vacuum = INCREMENTAL (dsn: it must
// be set before the first table), and a pass of the compactor that
// compacted something runs PRAGMA incremental_vacuum, which moves pages
// from the end of the file into the free ones and truncates it.
//
// A database created before this has auto_vacuum = NONE, which only a
// VACUUM (a rewrite of the whole file, holding the write lock) changes:
// Open does it when the file is at most autoVacuumSwitchMax, a few
// seconds at most; a larger one keeps its mode, and docs/operations.md
// says how to switch it during a maintenance window.
const autoVacuumSwitchMax = 256 << 20

// autoVacuumIncremental is the value PRAGMA auto_vacuum reads as for
// INCREMENTAL.
const autoVacuumIncremental = 2

// switchAutoVacuum turns a database created before auto_vacuum on to
// INCREMENTAL by a VACUUM, when it is small enough (autoVacuumSwitchMax).
// It says what the database's mode is afterwards.
func switchAutoVacuum(ctx context.Context, write *sql.DB) (int, error) {
	var mode, pages, pageSize int64
	if err := write.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return 0, err
	}
	if mode == autoVacuumIncremental {
		return int(mode), nil
	}
	if err := write.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		return int(mode), err
	}
	if err := write.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&pageSize); err != nil {
		return int(mode), err
	}
	if pages*pageSize > autoVacuumSwitchMax {
		return int(mode), nil
	}
	// The writer's connection has auto_vacuum = INCREMENTAL set (dsn); a
	// VACUUM rewrites the file in that mode.
	if _, err := write.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return int(mode), err
	}
	if _, err := write.ExecContext(ctx, `VACUUM`); err != nil {
		return int(mode), err
	}
	err := write.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode)
	return int(mode), err
}

// releaseFreePages gives the file's free pages back to the file system
// (auto_vacuum = INCREMENTAL; nothing otherwise). The caller then
// checkpoints: the pages moved go through the WAL.
func releaseFreePages(ctx context.Context, write *sql.DB) error {
	var free int64
	if err := write.QueryRowContext(ctx, `PRAGMA freelist_count`).Scan(&free); err != nil || free == 0 {
		return err
	}
	_, err := write.ExecContext(ctx, `PRAGMA incremental_vacuum`)
	return err
}
