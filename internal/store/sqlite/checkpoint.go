package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// The writer's own checkpoints (wal_autocheckpoint) run inside the commit
// that crosses the threshold: that commit copies up to 16 MiB of pages
// into the database file and fsyncs it before the requests that share it
// are answered, which is where the SQLite fleet's p99 came from. Instead
// a connection of its own checkpoints every checkpointEvery, beside the
// writer (a PASSIVE checkpoint neither waits for nor blocks it), and the
// writer checkpoints itself only past walSafetyPages, should this one
// fall behind.
const (
	checkpointEvery = time.Second
	walSafetyPages  = 64000 // 256 MiB of WAL
)

// checkpointer runs PASSIVE checkpoints on db until ctx ends.
func checkpointer(ctx context.Context, db *sql.DB, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// An error (a busy database, a full disk) is the writer's to
			// report; the next tick tries again.
			_, _ = db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}
