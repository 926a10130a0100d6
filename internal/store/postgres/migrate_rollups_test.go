package postgres_test

import (
	"context"
	"math"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
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
	conn := connect(tb, dbURL)
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

// Migration 00007 repairs the hours stored before it: an hour whose sums
// had overflowed (pressure 1.7e308 twice) or that holds sums where means
// are now kept is marked, answered from its readings until the
// materializer has recomputed it, and then holds finite means.
func TestMigration7RepairsStoredHours(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	if err := postgres.MigrateTo(ctx, dbURL, 6); err != nil {
		t.Fatalf("migrate to 6: %v", err)
	}
	conn := connect(t, dbURL)
	hour := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	for _, sql := range []string{
		`INSERT INTO devices (id, created_at, reading_count) VALUES ('old-1', $1, 2)`,
		`INSERT INTO device_measurements (device_id, recorded_at, received_at, temperature, payload) VALUES
			('old-1', $1, $1, 10, '{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}'),
			('old-1', $1::timestamptz + interval '1 minute', $1, 30, '{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}')`,
		// What the insert-time roll-ups had stored: sums, one of them overflowed.
		`INSERT INTO hourly_rollups (device_id, hour, readings, temperature_sum, temperature_n, temperature_min, temperature_max,
			pressure_hpa_sum, pressure_hpa_n, pressure_hpa_min, pressure_hpa_max)
			VALUES ('old-1', $1, 2, 40, 2, 10, 30, 'Infinity', 2, 1.7e308, 1.7e308)`,
	} {
		if _, err := conn.Exec(ctx, sql, hour); err != nil {
			t.Fatal(err)
		}
	}
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open (migrates to 7): %v", err)
	}
	defer s.Close()
	check := func(when string) {
		t.Helper()
		hours, err := s.RollupHours(ctx, store.RollupQuery{DeviceIDs: []string{"old-1"}, From: hour, To: hour.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if len(hours) != 1 {
			t.Fatalf("%s: %d hours, want 1", when, len(hours))
		}
		h := hours[0]
		if !h.Finite() || h.Count != 2 || h.Metrics[thermowatt.Temperature].Mean != 20 || h.Metrics[thermowatt.PressureHPa].Mean != 1.7e308 {
			t.Errorf("%s: hour %+v; want 2 readings, temperature mean 20, pressure mean 1.7e308, all finite", when, h)
		}
	}
	check("marked by the migration")
	if err := store.MaterializePass(ctx, s, 10, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if lag, err := s.RollupLag(ctx); err != nil || lag.Pending != 0 {
		t.Fatalf("after the materializer: %+v, %v; want nothing pending", lag, err)
	}
	check("materialized")
}
