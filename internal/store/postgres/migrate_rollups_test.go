package postgres_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// populateAtVersion3 makes a database as a thermowatt of migration 00003
// left it: devices devices with perDevice readings each, every 5 minutes
// with power, the newest now.
func populateAtVersion3(tb testing.TB, devices, perDevice int) (dbURL string, newest time.Time) {
	tb.Helper()
	ctx := tb.Context()
	dbURL = freshDatabase(tb, adminURL(tb))
	if err := postgres.MigrateTo(ctx, dbURL, 3); err != nil {
		tb.Fatalf("migrate to 3: %v", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	newest = time.Now().UTC().Truncate(5 * time.Minute)
	oldest := newest.Add(-time.Duration(perDevice-1) * 5 * time.Minute)
	if _, err := conn.Exec(ctx, `
		INSERT INTO devices (id, created_at, reading_count)
		SELECT 'node-' || d, $1, $2 FROM generate_series(1, $3) d`, oldest, perDevice, devices); err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `
		INSERT INTO device_measurements (device_id, recorded_at, received_at, temperature, power_mw)
		SELECT 'node-' || d, $1::timestamptz + i * interval '5 minutes', $1, 20 + (i % 100) / 10.0, 500 + 400 * sin(i / 12.0)
		FROM generate_series(1, $3) d, generate_series(0, $2 - 1) i`, oldest, perDevice, devices); err != nil {
		tb.Fatal(err)
	}
	return dbURL, newest
}

// Opening a database of readings stored before the roll-ups existed
// builds them: a device's hours then hold what its readings give.
func TestMigration6BuildsRollupsOfExistingReadings(t *testing.T) {
	ctx := t.Context()
	dbURL, newest := populateAtVersion3(t, 3, 600)
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open (migrates to 6): %v", err)
	}
	defer s.Close()
	from := newest.Add(-600 * 5 * time.Minute).Truncate(time.Hour)
	hours, err := s.RollupHours(ctx, store.RollupQuery{DeviceIDs: []string{"node-2"}, From: from, To: newest.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	var wh float64
	for _, h := range hours {
		count += h.Count
		wh += h.EnergyWh
	}
	// 599 trapezoids of 5 minutes over power 500 + 400 sin(i/12) mW.
	want := 0.0
	for i := range 599 {
		p0, p1 := 500+400*math.Sin(float64(i)/12), 500+400*math.Sin(float64(i+1)/12)
		want += (p0 + p1) / 2 * 300 / 3.6e6
	}
	if count != 600 || math.Abs(wh-want) > 1e-9 {
		t.Errorf("node-2's hours after the migration: %d readings, %.9f Wh; want 600 readings, %.9f Wh", count, wh, want)
	}
}

// BenchmarkMigrationAtScale times opening a database of MIGRATION_ROWS
// readings (1,000 devices) stored before migration 00004: the time
// partitions' attach and the roll-ups' build for every device.
//
//	MIGRATION_ROWS=10000000 TEST_DATABASE_URL=… go test -run '^$' -bench MigrationAtScale -benchtime 1x -timeout 1h ./internal/store/postgres
func BenchmarkMigrationAtScale(b *testing.B) {
	rows, _ := strconv.Atoi(os.Getenv("MIGRATION_ROWS"))
	if rows <= 0 {
		b.Skip("set MIGRATION_ROWS (e.g. 10000000) to run it")
	}
	const devices = 1000
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		dbURL, _ := populateAtVersion3(b, devices, rows/devices)
		b.Logf("populated %d readings in %v", rows, time.Since(start).Round(time.Second))
		b.StartTimer()
		start = time.Now()
		s, err := postgres.Open(context.Background(), dbURL)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/open")
		s.Close()
	}
}
