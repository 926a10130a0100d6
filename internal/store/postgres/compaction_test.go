package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
)

// Compacting an old week gives its partition's pages back: the rows move
// into blocks, and the emptied partition, indexes included, is truncated
// (deletes alone leave the indexes' pages allocated). Every reading still
// reads back, and sending one again is a duplicate.
func TestCompactionEmptiesOldPartitions(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	week := time.Now().UTC().AddDate(0, 0, -21).Truncate(24 * time.Hour)
	if err := s.PartitionHistory(ctx, week.AddDate(0, 0, -7), time.Now()); err != nil {
		t.Fatalf("PartitionHistory: %v", err)
	}
	conn := connect(t, dbURL)
	size := func() (n int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `
			SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits
			WHERE inhparent = 'device_measurements'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	empty := size()
	var rs []thermowatt.Reading
	for i := range 2016 { // a week at 5 minutes
		v := 20 + float64(i%50)/10
		rs = append(rs, thermowatt.Reading{DeviceID: "d1", RecordedAt: week.Add(time.Duration(i) * 5 * time.Minute),
			Temperature: &v, Payload: []byte(fmt.Sprintf(`{"sensor":{"bmp280":{"temperature_c":%v,"pressure_hpa":1012.5}}}`, v))})
	}
	// Received an hour ago: the device is quiet, so its newest day is not
	// being written (store.WrittenSince) and compacts.
	if _, err := s.InsertReadings(ctx, rs, time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	before := size()
	if err := store.CompactPass(ctx, s, time.Now(), 16); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	after := size()
	t.Logf("partitions: %d kB empty, %d kB before compaction, %d kB after", empty/1024, before/1024, after/1024)
	if after-empty > (before-empty)/4 {
		t.Errorf("the partitions keep %d of the %d bytes the readings took after they were compacted", after-empty, before-empty)
	}
	got, err := s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: 3000})
	if err != nil || len(got) != len(rs) {
		t.Fatalf("after compaction: %d readings, %v; want %d", len(got), err, len(rs))
	}
	res, err := s.InsertReadings(ctx, rs[:10], time.Now())
	if err != nil || res.Duplicates != 10 {
		t.Errorf("sending 10 compacted readings again: %+v, %v; want 10 duplicates", res, err)
	}
}

// A day a device is still writing is left in rows until it moves past
// it (storetest.WrittenDayWaits).
func TestWrittenDayWaits(t *testing.T) {
	s, _ := openFresh(t)
	storetest.WrittenDayWaits(t, s)
}

// The roll-ups of compacted days are computed from the blocks, not
// stored (storetest.CompactedRollups).
func TestCompactedDaysKeepNoRollups(t *testing.T) {
	s, dbURL := openFresh(t)
	conn := connect(t, dbURL)
	storetest.CompactedRollups(t, s, func(ctx context.Context, query string) (n int, err error) {
		err = conn.QueryRow(ctx, query).Scan(&n)
		return n, err
	})
}

// Readings of a week without a partition of its own land in the DEFAULT
// partition (serve creates the weeks it keeps at start, in the
// background: a load that starts at once can come first); once
// compaction has taken them, the DEFAULT partition's pages go back too.
func TestCompactionEmptiesTheDefaultPartition(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	week := time.Now().UTC().AddDate(0, 0, -21)
	if err := s.PartitionHistory(ctx, week.AddDate(0, 0, -14), time.Now()); err != nil {
		t.Fatalf("PartitionHistory: %v", err)
	}
	conn := connect(t, dbURL)
	start := postgres.WeekStart(week)
	if _, err := conn.Exec(ctx, `DROP TABLE `+pgx.Identifier{"device_measurements_p" + start.Format("20060102")}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	size := func() (n int64) {
		t.Helper()
		if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('device_measurements_default')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	var rs []thermowatt.Reading
	for i := range 2016 {
		v := 20 + float64(i%50)/10
		rs = append(rs, thermowatt.Reading{DeviceID: "d1", RecordedAt: start.Add(time.Duration(i) * 5 * time.Minute), Temperature: &v})
	}
	// Received an hour ago: the device is quiet, so its newest day is not
	// being written (store.WrittenSince) and compacts.
	if _, err := s.InsertReadings(ctx, rs, time.Now().Add(-time.Hour)); err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	before := size()
	if before < 128*1024 {
		t.Fatalf("the week's readings did not land in the DEFAULT partition (%d bytes)", before)
	}
	if err := store.CompactPass(ctx, s, time.Now(), 16); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	after := size()
	t.Logf("device_measurements_default: %d kB before compaction, %d kB after", before/1024, after/1024)
	if after > before/4 {
		t.Errorf("the DEFAULT partition keeps %d of the %d bytes the readings took after they were compacted", after, before)
	}
	got, err := s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: 3000})
	if err != nil || len(got) != len(rs) {
		t.Fatalf("after compaction: %d readings, %v; want %d", len(got), err, len(rs))
	}
}
