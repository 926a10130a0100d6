package postgres_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// The dashboard pages through one device's readings of a table that grows
// by a reading per device every few minutes: those queries must walk an
// index, not scan and sort the table.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const devices, perDevice = 20, 500
	for d := range devices {
		rs := make([]thermowatt.Reading, perDevice)
		for i := range rs {
			rs[i] = thermowatt.Reading{DeviceID: fmt.Sprintf("esp32-%02d", d), RecordedAt: base.Add(time.Duration(i) * 5 * time.Minute)}
		}
		if _, err := s.InsertReadings(ctx, rs, base); err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	conn := connect(t, dbURL)
	if _, err := conn.Exec(ctx, "ANALYZE device_measurements"); err != nil {
		t.Fatalf("ANALYZE: %v", err)
	}

	cursor := &store.Cursor{RecordedAt: base.Add(24 * time.Hour), ID: 1234}
	for _, tc := range []struct {
		name  string
		q     store.Query
		index string
	}{
		{"one device", store.Query{DeviceID: "esp32-07", Limit: 100}, `(using|on) device_measurements\w*_pkey`},
		{"one device, next page", store.Query{DeviceID: "esp32-07", Limit: 100, After: cursor}, `(using|on) device_measurements\w*_pkey`},
		{"one device, a day", store.Query{DeviceID: "esp32-07", From: base.Add(24 * time.Hour), To: base.Add(48 * time.Hour), Limit: 500}, `(using|on) device_measurements\w*_pkey`},
		{"all devices", store.Query{Limit: 100}, `(using|on) device_measurements\w*_recorded_at`},
		{"all devices, next page", store.Query{Limit: 100, After: cursor}, `(using|on) device_measurements\w*_recorded_at`},
	} {
		sql, args := postgres.ReadingsQuery(tc.q)
		rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", tc.name, err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", tc.name, err)
		}
		plan := strings.Join(lines, "\n")
		t.Logf("%s:\n%s", tc.name, plan)
		// Each partition has its own copy of the index (device_measurements_past_pkey, ...).
		if !regexp.MustCompile(tc.index).MatchString(plan) || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s: plan does not use index %s:\n%s", tc.name, tc.index, plan)
		}
	}
}

// A chart of one device's readings reads the range of the primary key
// that holds them, never the whole table. (Until migration 00013 the key
// carried the metrics too and this was an index-only scan; a series now
// reads readings for at most two partial hours, the roll-ups for the
// rest, and those rows come from the table.)
func TestSeriesPlanReadsTheKey(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)

	// Devices interleaved in arrival order, as a fleet's readings come:
	// each device's rows are spread over the whole heap.
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const devices, perDevice = 50, 1000
	for chunk := 0; chunk < perDevice; chunk += 40 {
		var rs []thermowatt.Reading
		for i := chunk; i < chunk+40; i++ {
			for d := range devices {
				rs = append(rs, thermowatt.Reading{DeviceID: fmt.Sprintf("esp32-%02d", d), RecordedAt: base.Add(time.Duration(i) * 5 * time.Minute),
					Temperature: ptr(20 + float64(i%10)), Payload: []byte(`{"sensor":{"bmp280":{"pressure_hpa":1012.5}}}`)})
			}
		}
		if _, err := s.InsertReadings(ctx, rs, base); err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	conn := connect(t, dbURL)
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE device_measurements"); err != nil {
		t.Fatalf("VACUUM: %v", err)
	}

	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) "+postgres.SeriesQuery,
		time.Hour.Microseconds(), "esp32-07", base, base.Add(perDevice*5*time.Minute))
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	plan := strings.Join(lines, "\n")
	t.Logf("series of one device:\n%s", plan)
	if !regexp.MustCompile(`Index (Only )?Scan (using|on) device_measurements\w*_pkey`).MatchString(plan) || strings.Contains(plan, "Seq Scan") {
		t.Errorf("the series does not read a range of the primary key:\n%s", plan)
	}
	if !strings.Contains(plan, "rows=1000 ") {
		t.Errorf("the scan does not return the device's 1000 readings:\n%s", plan)
	}
}

func ptr(v float64) *float64 { return &v }
