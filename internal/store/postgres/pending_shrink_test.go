package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Once the materializer has emptied rollup_pending, the pages a backlog
// took are given back: the table's and, above all, its indexes', which
// VACUUM never returns (a backlog of 60,000 marks left 3 MB of index for a
// table without a row).
func TestEmptiedPendingGivesPagesBack(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	conn := connect(t, dbURL)
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

// When compaction has taken old days, the roll-up rows it deleted leave
// hourly_rollups mostly empty pages, which the compactor's pass gives
// back (VACUUM FULL): the table keeps the size of the hours still stored.
func TestCompactionGivesRollupPagesBack(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	conn := connect(t, dbURL)
	size := func() (n int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT pg_relation_size('hourly_rollups')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	week := time.Now().UTC().AddDate(0, 0, -21).Truncate(24 * time.Hour)
	for d := range 40 { // 40 devices' week: 6,720 hours
		var rs []thermowatt.Reading
		for i := range 2016 {
			v := 20 + float64(i%50)/10
			rs = append(rs, thermowatt.Reading{DeviceID: fmt.Sprintf("d%02d", d), RecordedAt: week.Add(time.Duration(i) * 5 * time.Minute), Temperature: &v, PowerMW: &v})
		}
		// Received an hour ago: the device is quiet, so its newest day is not
		// being written (store.WrittenSince) and compacts.
		if _, err := s.InsertReadings(ctx, rs, time.Now().Add(-time.Hour)); err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	if err := store.MaterializePass(ctx, s, 1000, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := size()
	if err := store.CompactPass(ctx, s, time.Now(), 1000); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM hourly_rollups`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	after := size()
	t.Logf("hourly_rollups: %d kB with the week's hours, %d kB after compaction (%d rows left)", before/1024, after/1024, rows)
	if rows != 0 || after > before/4 {
		t.Errorf("after compaction hourly_rollups keeps %d rows in %d of the %d bytes", rows, after, before)
	}
}
