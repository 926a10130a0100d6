package postgres_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// The weekly partitions on a Citus cluster (make test-citus), on a schema
// migrated and distributed as a user's database is: the weeks serve creates
// ahead become distributed tables co-located with the readings' other
// partitions, with shards on both workers; readings land in their week,
// far-past ones in the past partition and ones beyond the weeks created in
// DEFAULT, from which the week's creation moves them; retention drops
// whole weeks (their shards too) and deletes the rest row by row, leaving
// exactly the readings at or after the cutoff and the devices' counts
// right.
func TestCitusPartitions(t *testing.T) {
	ctx := t.Context()
	s, conn := openCitusStore(t)

	// The week of now is in the past partition (migration 00004 bounds it
	// two weeks after the newest reading or now), so serve's first run
	// creates only the week after those.
	now := time.Now().UTC()
	if err := s.EnsurePartitions(ctx, now); err != nil {
		t.Fatalf("EnsurePartitions(now): %v", err)
	}
	// Weeks of their own eight weeks on, created by several instances at
	// once; readings for ten weeks on wait in DEFAULT until theirs exists.
	start := now.AddDate(0, 0, 8*7)
	week := postgres.WeekStart(start)
	beyond := week.AddDate(0, 0, 10*7).Add(90 * time.Minute)
	if res, err := s.InsertReadings(ctx, []thermowatt.Reading{
		{DeviceID: "c", RecordedAt: beyond},
		{DeviceID: "c", RecordedAt: beyond.Add(time.Hour)},
	}, now); err != nil || res.Accepted != 2 {
		t.Fatalf("readings beyond every partition: %+v, %v", res, err)
	}
	if n := count(t, conn, "device_measurements_default"); n != 2 {
		t.Fatalf("DEFAULT holds %d readings, want 2", n)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() { errs[i] = s.EnsurePartitions(ctx, start) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("EnsurePartitions %d: %v", i, err)
		}
	}
	if err := s.EnsurePartitions(ctx, beyond); err != nil {
		t.Fatalf("EnsurePartitions(beyond): %v", err)
	}
	if n := count(t, conn, "device_measurements_default"); n != 0 {
		t.Errorf("DEFAULT still holds %d readings after their week was created", n)
	}
	if n := count(t, conn, partition(postgres.WeekStart(beyond))); n != 2 {
		t.Errorf("the week of the readings from DEFAULT holds %d, want 2", n)
	}

	weeks := []time.Time{week, week.AddDate(0, 0, 7), week.AddDate(0, 0, 14)}
	created := []string{partition(postgres.WeekStart(now).AddDate(0, 0, 14))}
	for _, w := range weeks {
		created = append(created, partition(w))
	}
	for i := range 3 {
		created = append(created, partition(postgres.WeekStart(beyond).AddDate(0, 0, 7*i)))
	}

	// Every partition, created by the service or by the migration, is a
	// distributed table of the readings' co-location group, hash-sharded
	// by device_id, with its shards on both workers.
	var parentColocation int
	if err := conn.QueryRow(ctx, `SELECT colocationid FROM pg_dist_partition
		WHERE logicalrelid = 'device_measurements'::regclass AND partmethod = 'h'`).Scan(&parentColocation); err != nil {
		t.Fatalf("device_measurements is not hash-distributed: %v", err)
	}
	var partitions []string
	rows, err := conn.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'device_measurements'::regclass ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	partitions, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]string{"device_measurements_default", "device_measurements_past"}, created...); !sameSet(partitions, want) {
		t.Errorf("partitions %v, want %v", partitions, want)
	}
	for _, p := range partitions {
		var method, column string
		var colocation, shards, nodes int
		err := conn.QueryRow(ctx, `
			SELECT p.partmethod::text, column_to_column_name(p.logicalrelid, p.partkey), p.colocationid,
				(SELECT count(*) FROM citus_shards s WHERE s.table_name = p.logicalrelid),
				(SELECT count(DISTINCT s.nodeport) FROM citus_shards s WHERE s.table_name = p.logicalrelid)
			FROM pg_dist_partition p WHERE p.logicalrelid = $1::regclass`, p).
			Scan(&method, &column, &colocation, &shards, &nodes)
		if err != nil {
			t.Errorf("partition %s is not a Citus table: %v", p, err)
			continue
		}
		if method != "h" || column != "device_id" || colocation != parentColocation || shards != 4 || nodes != 2 {
			t.Errorf("partition %s: method %s by %s, co-location %d (readings: %d), %d shards on %d nodes; want h by device_id, co-located, 4 shards on 2 workers",
				p, method, column, colocation, parentColocation, shards, nodes)
		}
	}

	// Hourly readings over the three weeks, from three devices, and a day
	// of readings from 2020 (a backfill), which belong to the past
	// partition.
	var rs []thermowatt.Reading
	for i := range 3 * 7 * 24 {
		rs = append(rs, thermowatt.Reading{DeviceID: []string{"a", "b", "c"}[i%3], RecordedAt: week.Add(time.Duration(i) * time.Hour)})
	}
	old := time.Date(2020, 1, 6, 0, 0, 0, 0, time.UTC)
	for i := range 24 {
		rs = append(rs, thermowatt.Reading{DeviceID: []string{"a", "b"}[i%2], RecordedAt: old.Add(time.Duration(i) * time.Hour)})
	}
	if res, err := s.InsertReadings(ctx, rs, now); err != nil || res.Accepted != len(rs) {
		t.Fatalf("InsertReadings: %+v, %v; want %d accepted", res, err, len(rs))
	}
	for _, w := range weeks {
		if n := count(t, conn, partition(w)); n != 7*24 {
			t.Errorf("%s holds %d readings, want %d", partition(w), n, 7*24)
		}
	}
	if n := count(t, conn, "device_measurements_past"); n != 24 {
		t.Errorf("the past partition holds %d readings, want the 24 from 2020", n)
	}
	if n := count(t, conn, "device_measurements_default"); n != 0 {
		t.Errorf("DEFAULT holds %d readings, want 0", n)
	}

	// Retention: the past partition, the (empty) week created from now and
	// the first of the three end before the cutoff and are dropped; 30
	// hours of the second week are deleted.
	cutoff := week.AddDate(0, 0, 7).Add(30 * time.Hour)
	var total int64
	for {
		n, err := s.DeleteReadingsBefore(ctx, cutoff, 10)
		if err != nil {
			t.Fatalf("DeleteReadingsBefore: %v", err)
		}
		total += n
		if n < 10 {
			break
		}
	}
	if want := int64(24 + 7*24 + 30); total != want {
		t.Errorf("deleted %d readings, want %d", total, want)
	}
	for _, p := range []string{"device_measurements_past", created[0], partition(week)} {
		var exists, distributed, shards bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL,
			EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid::text = $1),
			EXISTS (SELECT 1 FROM pg_dist_shard WHERE logicalrelid::text = $1)`, p).Scan(&exists, &distributed, &shards); err != nil {
			t.Fatal(err)
		}
		if exists || distributed || shards {
			t.Errorf("expired %s left behind: table %v, Citus metadata %v, shards %v", p, exists, distributed, shards)
		}
	}
	var orphans int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_dist_cleanup`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d shards left for Citus's deferred cleanup", orphans)
	}

	// What is left is exactly the readings at or after the cutoff: the
	// rest of the second week, the third, and the two from DEFAULT.
	got, err := s.QueryReadings(ctx, store.Query{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	for _, r := range append(rs, thermowatt.Reading{DeviceID: "c", RecordedAt: beyond}, thermowatt.Reading{DeviceID: "c", RecordedAt: beyond.Add(time.Hour)}) {
		if !r.RecordedAt.Before(cutoff) {
			want[r.DeviceID]++
		}
	}
	if left := int64(2*7*24 - 30 + 2); int64(len(got)) != left {
		t.Errorf("%d readings left, want %d", len(got), left)
	}
	perDevice := map[string]int64{}
	for _, r := range got {
		if r.RecordedAt.Before(cutoff) {
			t.Errorf("reading %s %s before the cutoff %s survived", r.DeviceID, r.RecordedAt, cutoff)
		}
		perDevice[r.DeviceID]++
	}
	for _, d := range []string{"a", "b", "c"} {
		dev, err := s.GetDevice(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if perDevice[d] != want[d] || dev.ReadingCount != want[d] {
			t.Errorf("device %s: %d readings stored, count %d; want %d", d, perDevice[d], dev.ReadingCount, want[d])
		}
	}
}

func partition(week time.Time) string { return "device_measurements_p" + week.Format("20060102") }

func count(t *testing.T, conn *pgx.Conn, table string) int64 {
	t.Helper()
	var n int64
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func sameSet(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Every table the migrations create is a distributed or a reference table
// after DistributeCitus, none a plain or "Citus local" table (kept on the
// coordinator alone, unnoticed until the coordinator's disk or CPU is the
// limit): a table missing from citusTables, or one Citus made local through
// its foreign key to devices, fails it.
func TestCitusEveryTableDistributed(t *testing.T) {
	if !testdb.CitusAvailable() {
		t.Skip("Citus test skipped: set CITUS_URL to a coordinator's database (make test-citus)")
	}
	ctx := t.Context()
	conn := connect(t, testdb.NewCitusDatabase(t))
	rows, err := conn.Query(ctx, `
		SELECT c.relname::text FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
			AND c.relname <> 'goose_db_version'
			AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid
				AND (p.partmethod = 'h' OR p.partmethod = 'n' AND p.repmodel = 't'))
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("tables neither distributed nor reference tables on Citus: %v; add them to citusTables (citus.go) and to the move in docs/scaling.md", left)
	}
}

// PartitionHistory, as serve runs it at start, on a cluster: the past
// partition's bound moves down to the first week retention keeps, those
// weeks become distributed partitions of their own, and a backfill lands
// in them.
func TestCitusPartitionHistory(t *testing.T) {
	ctx := t.Context()
	s, conn := openCitusStore(t)
	now := time.Now().UTC()
	if err := s.PartitionHistory(ctx, now.AddDate(0, 0, -30), now); err != nil {
		t.Fatalf("PartitionHistory: %v", err)
	}
	old := now.AddDate(0, 0, -20)
	if res, err := s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "h", RecordedAt: old}}, now); err != nil || res.Accepted != 1 {
		t.Fatalf("backfill: %+v, %v", res, err)
	}
	week := postgres.WeekStart(old)
	name := "device_measurements_p" + week.Format("20060102")
	if n := count(t, conn, name); n != 1 {
		t.Errorf("%s holds %d readings, want the backfilled one", name, n)
	}
	var distributed bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1::regclass AND partmethod = 'h')`, name).Scan(&distributed); err != nil {
		t.Fatal(err)
	}
	if !distributed {
		t.Errorf("%s is not distributed", name)
	}
}

// openCitusStore opens a store on a database of its own on the Citus
// cluster, migrated and distributed, and a connection to look inside it;
// both close when the test ends. It skips the test without CITUS_URL.
func openCitusStore(t *testing.T) (*postgres.Store, *pgx.Conn) {
	t.Helper()
	if !testdb.CitusAvailable() {
		t.Skip("Citus partition test skipped: set CITUS_URL to a coordinator's database (make test-citus)")
	}
	dbURL := testdb.NewCitusDatabase(t)
	s, err := postgres.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	conn := connect(t, dbURL)
	return s, conn
}
