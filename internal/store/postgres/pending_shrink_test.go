package postgres_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Once the materializer has emptied rollup_pending, the pages a backlog
// took are given back: the table's and, above all, its indexes', which
// VACUUM never returns (a backlog of 60,000 marks left 3 MB of index for a
// table without a row).
func TestEmptiedPendingGivesPagesBack(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	size := func() (n int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('rollup_pending')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// A backlog, as a large backfill leaves one, then drained as the
	// materializer drains it.
	if _, err := conn.Exec(ctx, `INSERT INTO rollup_pending (device_id, hour)
		SELECT 'd' || (i % 100), timestamptz '2025-01-01' + (i / 100) * interval '1 hour' FROM generate_series(1, 60000) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM rollup_pending`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `VACUUM rollup_pending`); err != nil {
		t.Fatal(err)
	}
	before := size()
	if n, err := s.MaterializeRollups(ctx, 10, time.Now()); err != nil || n != 0 {
		t.Fatalf("MaterializeRollups = %d, %v; want 0 hours, no error", n, err)
	}
	after := size()
	t.Logf("rollup_pending with its indexes: %d kB after the backlog and a VACUUM, %d kB after the materializer found it empty", before/1024, after/1024)
	if after > before/10 {
		t.Errorf("an empty rollup_pending keeps %d of the %d bytes its backlog took", after, before)
	}
}
