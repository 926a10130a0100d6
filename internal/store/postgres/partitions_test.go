package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// Migration 00004 makes the readings table a partition of a new
// partitioned table without rewriting it: the rows stay in the same file,
// the key's index is adopted rather than rebuilt, and every reading keeps
// its identity (a repeat is a duplicate, new readings get larger ids).
func TestMigration4AttachesTheTableWithoutRewritingIt(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	if err := postgres.MigrateTo(ctx, dbURL, 3); err != nil {
		t.Fatalf("migrate to 3: %v", err)
	}
	conn := connect(t, dbURL)
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	const n = 5000
	if _, err := conn.Exec(ctx, `
		INSERT INTO devices (id, created_at, reading_count) VALUES ('d1', $1, $2);
		`, base, n); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO device_measurements (device_id, recorded_at, received_at, temperature)
		SELECT 'd1', $1::timestamptz + i * interval '5 minutes', $1, i FROM generate_series(0, $2 - 1) i`, base, n); err != nil {
		t.Fatal(err)
	}
	var heapBefore, keyBefore uint32
	if err := conn.QueryRow(ctx, `SELECT pg_relation_filenode('device_measurements'), pg_relation_filenode('device_measurements_pkey')`).
		Scan(&heapBefore, &keyBefore); err != nil {
		t.Fatal(err)
	}

	if err := postgres.MigrateTo(ctx, dbURL, 4); err != nil {
		t.Fatalf("migrate to 4: %v", err)
	}

	var heapAfter, keyAfter uint32
	var strategy string
	if err := conn.QueryRow(ctx, `
		SELECT pg_relation_filenode('device_measurements_past'), pg_relation_filenode('device_measurements_past_pkey'),
			(SELECT partstrat::text FROM pg_partitioned_table WHERE partrelid = 'device_measurements'::regclass)`).
		Scan(&heapAfter, &keyAfter, &strategy); err != nil {
		t.Fatal(err)
	}
	if strategy != "r" {
		t.Errorf("device_measurements partition strategy = %q, want r (range)", strategy)
	}
	if heapAfter != heapBefore || keyAfter != keyBefore {
		t.Errorf("table or key rewritten: file %d → %d, key %d → %d", heapBefore, heapAfter, keyBefore, keyAfter)
	}
	// Later migrations rebuild the key (00013) but never rewrite the table.
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open (migrates on): %v", err)
	}
	defer s.Close()
	if err := conn.QueryRow(ctx, `SELECT pg_relation_filenode('device_measurements_past')`).Scan(&heapAfter); err != nil {
		t.Fatal(err)
	}
	if heapAfter != heapBefore {
		t.Errorf("table rewritten by a later migration: file %d → %d", heapBefore, heapAfter)
	}
	// What serve does at start: the weeks the past partition covers, and
	// holds readings of, stay with it.
	if err := s.PartitionHistory(ctx, base.AddDate(0, 0, -30), time.Now()); err != nil {
		t.Fatalf("PartitionHistory after the migration: %v", err)
	}
	got, err := s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: n + 1})
	if err != nil || len(got) != n {
		t.Fatalf("after the migration: %d readings, %v; want %d", len(got), err, n)
	}
	oldest := got[len(got)-1]
	res, err := s.InsertReadings(ctx, []thermowatt.Reading{
		{DeviceID: "d1", RecordedAt: oldest.RecordedAt},                   // a repeat
		{DeviceID: "d1", RecordedAt: oldest.RecordedAt.Add(-time.Minute)}, // new, far in the past partition
	}, time.Now())
	if err != nil || res.Accepted != 1 || res.Duplicates != 1 {
		t.Fatalf("a repeat and a new reading after the migration: %+v, %v; want 1 accepted, 1 duplicate", res, err)
	}
	if got, _ := s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: 1, To: oldest.RecordedAt}); len(got) != 1 || got[0].ID <= int64(n) {
		t.Errorf("new reading's id = %+v, want one larger than the %d migrated", got, n)
	}
}

// Several instances creating partitions at once create each exactly once;
// readings the DEFAULT partition took before their week existed move into
// it; readings go on being stored and found throughout.
func TestEnsurePartitionsConcurrentlyAndFromDefault(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	now := time.Now().UTC()
	later := now.AddDate(0, 0, 10*7) // beyond every partition: DEFAULT
	res, err := s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: later}}, now)
	if err != nil || res.Accepted != 1 {
		t.Fatalf("InsertReadings = %+v, %v", res, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = s.EnsurePartitions(ctx, later) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("EnsurePartitions %d: %v", i, err)
		}
	}
	conn := connect(t, dbURL)
	var inDefault, partitions int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM device_measurements_default),
		(SELECT count(*) FROM pg_inherits WHERE inhparent = 'device_measurements'::regclass)`).Scan(&inDefault, &partitions); err != nil {
		t.Fatal(err)
	}
	if inDefault != 0 {
		t.Errorf("%d readings left in the DEFAULT partition, want 0", inDefault)
	}
	if partitions != 5 { // past, default, and the week of later with two after it
		t.Errorf("%d partitions, want 5", partitions)
	}
	res, err = s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: later}, {DeviceID: "d1", RecordedAt: later.Add(time.Hour)}}, now)
	if err != nil || res.Accepted != 1 || res.Duplicates != 1 {
		t.Fatalf("after the move: %+v, %v; want the moved reading a duplicate", res, err)
	}
	if err := s.EnsurePartitions(ctx, later); err != nil {
		t.Fatalf("EnsurePartitions again: %v", err)
	}
}

// Retention drops the weeks that expired whole, lowering each device's
// count by what they held, and deletes the expired rows of the week that
// straddles the cutoff.
func TestRetentionDropsExpiredPartitions(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	start := time.Now().UTC().AddDate(0, 0, 7*8) // weeks of their own, after the past partition
	if err := s.EnsurePartitions(ctx, start); err != nil {
		t.Fatal(err)
	}
	week := postgres.WeekStart(start)
	var rs []thermowatt.Reading
	for i := range 3 * 7 * 24 { // hourly over the week and the two after it
		rs = append(rs, thermowatt.Reading{DeviceID: []string{"a", "b"}[i%2], RecordedAt: week.Add(time.Duration(i) * time.Hour)})
	}
	if _, err := s.InsertReadings(ctx, rs, start); err != nil {
		t.Fatal(err)
	}
	cutoff := week.Add(7*24*time.Hour + 30*time.Hour) // first week whole, 30 hours of the second
	var total int64
	for {
		n, err := s.DeleteReadingsBefore(ctx, cutoff, 10)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 10 {
			break
		}
	}
	if want := int64(7*24 + 30); total != want {
		t.Errorf("deleted %d readings, want %d", total, want)
	}
	conn := connect(t, dbURL)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, "device_measurements_p"+week.Format("20060102")).Scan(&exists); err != nil || exists {
		t.Errorf("the expired week's partition still exists (%v)", err)
	}
	left := int64(len(rs)) - total
	var counted int64
	for _, d := range []string{"a", "b"} {
		dev, err := s.GetDevice(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		counted += dev.ReadingCount
	}
	if counted != left {
		t.Errorf("device reading counts sum to %d, want %d", counted, left)
	}
	if got, _ := s.QueryReadings(ctx, store.Query{Limit: 10000}); int64(len(got)) != left {
		t.Errorf("%d readings left, want %d", len(got), left)
	}
}

// A database created empty gets the weeks retention keeps as partitions
// of their own (PartitionHistory, which serve runs at start): a backfill
// of that history lands in its weeks, and retention drops them whole.
// A database whose past partition holds readings keeps them there.
func TestPartitionHistory(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now().UTC()
	since := now.AddDate(0, 0, -60)
	for range 2 { // a second run, as at every start, changes nothing
		if err := s.PartitionHistory(ctx, since, now); err != nil {
			t.Fatalf("PartitionHistory: %v", err)
		}
	}
	old := now.AddDate(0, 0, -40)
	backfill := []thermowatt.Reading{{DeviceID: "h1", RecordedAt: old}, {DeviceID: "h1", RecordedAt: old.Add(time.Minute)},
		{DeviceID: "h1", RecordedAt: now.AddDate(0, 0, -59)}, {DeviceID: "h1", RecordedAt: now.AddDate(-2, 0, 0)}}
	if res, err := s.InsertReadings(ctx, backfill, now); err != nil || res.Accepted != 4 {
		t.Fatalf("backfill: %+v, %v", res, err)
	}
	conn := connect(t, dbURL)
	var inPast, inWeeks int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM device_measurements_past),
		(SELECT count(*) FROM device_measurements WHERE tableoid::regclass::text LIKE 'device_measurements_p2%')`).Scan(&inPast, &inWeeks); err != nil {
		t.Fatal(err)
	}
	if inPast != 1 || inWeeks != 3 {
		t.Errorf("%d readings in the past partition, %d in weekly ones; want 1 (two years ago) and 3", inPast, inWeeks)
	}
	// Retention to 20 days: the weeks of the backfill go whole.
	if n, err := s.DeleteReadingsBefore(ctx, now.AddDate(0, 0, -20), 5000); err != nil || n != 4 {
		t.Fatalf("retention: %d, %v; want the 4 readings", n, err)
	}
	var weeks int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'device_measurements'::regclass
		AND inhrelid::regclass::text LIKE 'device_measurements_p2%'`).Scan(&weeks); err != nil {
		t.Fatal(err)
	}
	if weeks > 6 { // the weeks after the cutoff's, with two ahead
		t.Errorf("%d weekly partitions after retention to 20 days, want the expired ones dropped", weeks)
	}
}

// On a fresh database the past partition's bound is moved at the start
// (PartitionHistory, which serve runs in the background while devices
// already send): readings of now, inserted meanwhile, are stored and
// never refused; those stored in the past partition before the move end
// up in their week. The test holds the partitions' advisory lock for a
// while, as another instance creating partitions does, so that the move
// waits with whatever it has done so far in place (before the fix: a
// CHECK constraint that refused every recent reading, answered 500).
//
// A past partition too large to scan under the lock (a migrated table;
// here by lowering the limit) is moved with the constraint first: a
// reading refused meanwhile is reported as unavailable (503 and
// Retry-After to the device), never as a failure of the reading.
func TestPartitionHistoryWhileIngesting(t *testing.T) {
	for _, large := range []bool{false, true} {
		t.Run(map[bool]string{false: "fresh", true: "large"}[large], func(t *testing.T) {
			if large {
				defer postgres.SetPastScanLimit(-1)()
			}
			s, dbURL := openFresh(t)
			ctx := t.Context()
			now := time.Now().UTC()
			since := now.AddDate(0, 0, -400)
			holder, err := pgx.Connect(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close(ctx)
			lock, err := holder.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := lock.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(postgres.PartitionLockKey)); err != nil {
				t.Fatal(err)
			}

			moved := make(chan error, 1)
			go func() { moved <- s.PartitionHistory(ctx, since, now) }()
			if large {
				// Readings from the new bound on would keep the weeks in the
				// past partition: the devices start once the constraint is in.
				for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					var in bool
					if err := holder.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'device_measurements_past_new_bound')`).Scan(&in); err != nil {
						t.Fatal(err)
					}
					if in {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the past partition's new bound was never proved by its constraint")
					}
				}
			}
			stop := make(chan struct{})
			var (
				wg          sync.WaitGroup
				mu          sync.Mutex
				failed      []error
				unavailable int
				stored      []thermowatt.Reading
			)
			for w := range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for n := 0; ; n++ {
						select {
						case <-stop:
							return
						default:
						}
						r := thermowatt.Reading{DeviceID: fmt.Sprintf("racer-%d", w), RecordedAt: now.Add(-time.Duration(n) * time.Second)}
						res, err := s.InsertReadings(ctx, []thermowatt.Reading{r}, time.Now())
						mu.Lock()
						switch {
						case err == nil && res.Accepted == 1:
							stored = append(stored, r)
						case errors.Is(err, thermowatt.ErrUnavailable):
							unavailable++
						default:
							failed = append(failed, fmt.Errorf("%s at %s: %+v, %v", r.DeviceID, r.RecordedAt.Format(time.RFC3339), res, err))
						}
						mu.Unlock()
						time.Sleep(2 * time.Millisecond)
					}
				}()
			}
			time.Sleep(400 * time.Millisecond) // the move waits for the lock meanwhile
			if err := lock.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			err = <-moved
			time.Sleep(50 * time.Millisecond)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatalf("PartitionHistory: %v", err)
			}
			if len(failed) > 0 {
				t.Fatalf("%d inserts of recent readings failed while the past partition's bound moved; first: %v", len(failed), failed[0])
			}
			if !large && unavailable > 0 {
				t.Errorf("%d inserts of recent readings refused as unavailable on a fresh database, want none", unavailable)
			}
			if large && unavailable == 0 {
				t.Errorf("no insert refused while the constraint was in place; the test no longer reaches that window")
			}
			t.Logf("%d readings stored, %d refused as unavailable", len(stored), unavailable)
			if len(stored) == 0 {
				t.Fatal("no reading stored")
			}
			var upper time.Time
			var inPast int
			if err := holder.QueryRow(ctx, `SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz
				FROM pg_class c WHERE c.relname = 'device_measurements_past'`).Scan(&upper); err != nil {
				t.Fatal(err)
			}
			if err := holder.QueryRow(ctx, `SELECT count(*) FROM device_measurements_past`).Scan(&inPast); err != nil {
				t.Fatal(err)
			}
			if want := postgres.WeekStart(since); !upper.Equal(want) {
				t.Errorf("the past partition ends at %s, want %s", upper, want)
			}
			if !large && inPast != 0 {
				t.Errorf("%d recent readings left in the past partition, want them in their weeks", inPast)
			}
			got, err := s.QueryReadings(ctx, store.Query{Limit: 100000})
			if err != nil || len(got) != len(stored) {
				t.Fatalf("%d readings queried, %v; want the %d stored", len(got), err, len(stored))
			}
			if res, err := s.InsertReadings(ctx, stored, time.Now()); err != nil || res.Duplicates != len(stored) {
				t.Errorf("the stored readings sent again: %+v, %v; want all %d duplicates", res, err, len(stored))
			}
		})
	}
}
