package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
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
//
// A checkpoint beside a busy writer never finishes, though: the writer
// appends frames while it copies, so the WAL is never wholly copied, and
// SQLite starts a WAL over from its beginning only when it is. The WAL
// then grew by every commit (260 MiB in 40 s at 600 POSTs/s, for a 6 MiB
// database) until walSafetyPages, from where the writer checkpointed in
// its commits again: the soak's p50 went from 4 ms to 950 ms. So once the
// WAL holds walRestartPages, the checkpointer takes the writer's
// connection for one more checkpoint, which copies what the writer
// appended since the one beside it (a second of commits) and finishes;
// the writer's next commit starts the WAL over, and journal_size_limit
// gives the file's space back.
//
// That one checkpoint finishes the WAL. Its sync of the database file took
// 26 ms (perf trace; under 1 ms for the checkpoints beside the writer),
// and it held the writer 27–46 ms at the median (the soak at 1,150 single
// readings a second on a slow 2-core machine: 26 MiB of WAL a second, 300
// devices each dirtying their own pages). Every such hold makes the
// requests that arrive during it wait, so how often it comes sets part of
// the p99. At 32 MiB it came every 1.6–1.7 s (the writer held 1.6–2.1 % of
// the time); at 128 MiB every 3.5–4 s (0.75–1.0 %). The WAL grows that
// large under such load only: a writer that pauses lets the checkpoint
// beside it finish, and the WAL starts over at its next commit however
// small. After such load its file keeps up to walKeepBytes of disk until
// the last connection closes.
const (
	checkpointEvery = time.Second
	walRestartPages = 32768     // 128 MiB of WAL
	walSafetyPages  = 131072    // 512 MiB of WAL
	walKeepBytes    = 160 << 20 // walRestartPages and what is committed before the WAL starts over
)

// checkpointer runs PASSIVE checkpoints on own, and on writer once the
// WAL holds restartPages() pages (walRestartPages but in tests), until
// ctx ends.
func checkpointer(ctx context.Context, own, writer *sql.DB, restartPages func() int, log func() *slog.Logger, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An error (a busy database, a full disk) is the writer's to
		// report; the next tick tries again.
		var busy, frames, copied int
		t0 := time.Now()
		if err := own.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			continue
		}
		log().Debug("sqlite: checkpoint beside the writer", "took", time.Since(t0), "walFrames", frames, "copied", copied)
		if frames < restartPages() {
			continue
		}
		t0 = time.Now()
		conn, err := writer.Conn(ctx)
		if err != nil {
			continue
		}
		waited := time.Since(t0)
		_ = conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		conn.Close()
		log().Debug("sqlite: checkpoint on the writer's connection", "waited", waited, "took", time.Since(t0)-waited, "walFrames", frames, "copied", copied)
	}
}
