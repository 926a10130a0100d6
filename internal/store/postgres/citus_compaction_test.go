package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// Compaction on a Citus cluster (make test-citus), on a schema migrated
// and distributed as a user's database is: three days of four devices (on
// both workers) in a week of their own, with payloads that become shapes
// (payload_shapes, a reference table), are compacted into reading_blocks
// (distributed, co-located with the readings) by the service's pass; every
// reading, series and count reads back exactly as before, the week's
// partition is emptied on the workers, a second pass changes nothing,
// sending the readings again answers duplicates, and a reading backfilled
// into a compacted day is stored, read at once and merged into its block
// by the next pass.
func TestCitusCompaction(t *testing.T) {
	ctx := t.Context()
	s, conn := openCitusStore(t)
	now := time.Now().UTC()
	day0 := postgres.WeekStart(now.AddDate(0, 0, -14)) // three days in one week
	if err := s.PartitionHistory(ctx, day0.AddDate(0, 0, -7), now); err != nil {
		t.Fatalf("PartitionHistory: %v", err)
	}
	devices := []string{"ca", "cb", "ce", "c1"} // one in each of the 4 shards
	var nodes int
	if err := conn.QueryRow(ctx, `
		SELECT count(DISTINCT nodeport) FROM citus_shards
		WHERE table_name = 'reading_blocks'::regclass
			AND shardid IN (SELECT get_shard_id_for_distribution_column('reading_blocks', d) FROM unnest($1::text[]) AS d)`,
		devices).Scan(&nodes); err != nil {
		t.Fatal(err)
	}
	if nodes != 2 {
		t.Fatalf("the devices' blocks would be on %d workers; the test wants both (pick other device ids)", nodes)
	}
	var rs []thermowatt.Reading
	for _, d := range devices {
		for i := range 3 * 288 { // three days at 5 minutes
			temp, power := 20+float64(i%37)/10, float64(100+i%200)
			rs = append(rs, thermowatt.Reading{DeviceID: d, RecordedAt: day0.Add(time.Duration(i) * 5 * time.Minute),
				Temperature: &temp, PowerMW: &power,
				// the same payload in every reading: a shape from the
				// second batch on
				Payload: []byte(`{"sensor":{"ina219":{"shunt_ohms":0.1}}}`)})
		}
	}
	// In batches of a day, received an hour ago (the devices are quiet,
	// so their newest day is not being written: store.WrittenSince).
	for i := 0; i < len(rs); i += 288 {
		if res, err := s.InsertReadings(ctx, rs[i:i+288], now.Add(-time.Hour)); err != nil || res.Accepted != 288 {
			t.Fatalf("InsertReadings: %+v, %v", res, err)
		}
	}
	var shaped int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM device_measurements WHERE payload_shape IS NOT NULL`).Scan(&shaped); err != nil {
		t.Fatal(err)
	}
	if shaped == 0 {
		t.Errorf("no reading names a payload shape: the compacted readings' payloads are not tested")
	}

	type answers struct {
		Readings []thermowatt.Stored
		Hourly   map[string][]store.SeriesPoint
		Fine     map[string][]store.SeriesPoint
		Counts   map[string]int64
	}
	read := func() answers {
		t.Helper()
		a := answers{Hourly: map[string][]store.SeriesPoint{}, Fine: map[string][]store.SeriesPoint{}, Counts: map[string]int64{}}
		var err error
		if a.Readings, err = s.QueryReadings(ctx, store.Query{Limit: 10000}); err != nil {
			t.Fatalf("QueryReadings: %v", err)
		}
		for _, d := range devices {
			q := store.SeriesQuery{DeviceID: d, From: day0.Add(-time.Hour), To: day0.Add(73 * time.Hour), Bucket: time.Hour}
			if a.Hourly[d], err = s.Series(ctx, q); err != nil {
				t.Fatalf("Series: %v", err)
			}
			q.Bucket = 5 * time.Minute
			if a.Fine[d], err = s.Series(ctx, q); err != nil {
				t.Fatalf("Series: %v", err)
			}
			dev, err := s.GetDevice(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			a.Counts[d] = dev.ReadingCount
		}
		return a
	}
	shape := func() (rows, blocks, inBlocks int64, shardBytes int64) {
		t.Helper()
		week := partition(day0)
		if err := conn.QueryRow(ctx, `
			SELECT (SELECT count(*) FROM device_measurements WHERE recorded_at < $1),
				(SELECT count(*) FROM reading_blocks),
				(SELECT coalesce(sum(readings), 0) FROM reading_blocks),
				citus_total_relation_size($2::regclass)`, day0.Add(72*time.Hour), week).Scan(&rows, &blocks, &inBlocks, &shardBytes); err != nil {
			t.Fatal(err)
		}
		return rows, blocks, inBlocks, shardBytes
	}
	before := read()
	if len(before.Readings) != len(rs) {
		t.Fatalf("before compaction %d readings read back, want %d", len(before.Readings), len(rs))
	}
	_, _, _, sizeBefore := shape()

	if err := store.CompactPass(ctx, s, now, 16); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	rows, blocks, inBlocks, sizeAfter := shape()
	t.Logf("after compaction: %d rows, %d blocks of %d readings; the week's shards %d kB before, %d kB after", rows, blocks, inBlocks, sizeBefore/1024, sizeAfter/1024)
	if rows != 0 || blocks != int64(3*len(devices)) || inBlocks != int64(len(rs)) {
		t.Fatalf("after compaction: %d rows left, %d blocks holding %d readings; want 0 rows, %d blocks holding %d",
			rows, blocks, inBlocks, 3*len(devices), len(rs))
	}
	if sizeAfter > sizeBefore/4 {
		t.Errorf("the week's partition keeps %d of the %d bytes of shards the readings took after they were compacted", sizeAfter, sizeBefore)
	}
	storetest.SameAnswers(t, "after compaction", read(), before)

	// Again: nothing left to compact, nothing changes.
	if err := store.CompactPass(ctx, s, now, 16); err != nil {
		t.Fatalf("second CompactPass: %v", err)
	}
	if r, b, n, _ := shape(); r != rows || b != blocks || n != inBlocks {
		t.Errorf("a second pass changed the tables: %d rows, %d blocks of %d readings", r, b, n)
	}
	storetest.SameAnswers(t, "after a second pass", read(), before)
	res, err := s.InsertReadings(ctx, rs[:288], now)
	if err != nil || res.Duplicates != 288 || res.Accepted != 0 {
		t.Fatalf("a compacted day sent again: %+v, %v; want 288 duplicates", res, err)
	}
	storetest.SameAnswers(t, "after a compacted day was sent again", read(), before)

	// A reading backfilled into a compacted day: stored as a row, read at
	// once, merged into its day's block by the next pass.
	temp := 99.5
	late := thermowatt.Reading{DeviceID: "ce", RecordedAt: day0.Add(30*time.Hour + 150*time.Second), Temperature: &temp,
		Payload: []byte(`{"sensor":{"ina219":{"shunt_ohms":0.1}}}`)}
	// (received an hour ago: from a device that is quiet, so its day is
	// not being written, store.WrittenSince)
	if res, err := s.InsertReadings(ctx, []thermowatt.Reading{late}, now.Add(-time.Hour)); err != nil || res.Accepted != 1 {
		t.Fatalf("the late reading: %+v, %v; want it accepted", res, err)
	}
	withLate := read()
	if len(withLate.Readings) != len(rs)+1 || withLate.Counts["ce"] != before.Counts["ce"]+1 {
		t.Fatalf("with the backfilled reading: %d readings, ce counts %d; want %d and %d",
			len(withLate.Readings), withLate.Counts["ce"], len(rs)+1, before.Counts["ce"]+1)
	}
	if err := store.CompactPass(ctx, s, now, 16); err != nil {
		t.Fatalf("CompactPass after the backfill: %v", err)
	}
	if r, b, n, _ := shape(); r != 0 || b != blocks || n != inBlocks+1 {
		t.Errorf("after compacting the backfill: %d rows, %d blocks of %d readings; want 0, %d of %d", r, b, n, blocks, inBlocks+1)
	}
	storetest.SameAnswers(t, "after compacting the backfill", read(), withLate)
}

// The conformance suite on Citus with every day compacted after every
// insert (storetest.RunCompacted): pages, series, roll-ups, duplicates and
// retention answered from blocks on the workers.
func TestCitusConformanceCompacted(t *testing.T) {
	if !testdb.CitusAvailable() {
		t.Skip("Citus suite skipped: set CITUS_URL to a coordinator's database (make test-citus)")
	}
	storetest.RunCompacted(t, func(t *testing.T) store.Store { return testdb.OpenCitus(t) })
}

// The roll-ups of compacted days on Citus: computed from the blocks, not
// stored (storetest.CompactedRollups).
func TestCitusCompactedDaysKeepNoRollups(t *testing.T) {
	s, conn := openCitusStore(t)
	storetest.CompactedRollups(t, s, func(ctx context.Context, query string) (n int, err error) {
		err = conn.QueryRow(ctx, query).Scan(&n)
		return n, err
	})
}

// A day a device is still writing is left in rows on Citus too
// (storetest.WrittenDayWaits).
func TestCitusWrittenDayWaits(t *testing.T) {
	s, _ := openCitusStore(t)
	storetest.WrittenDayWaits(t, s)
}
