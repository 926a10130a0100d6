package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
)

// One device's readings and the newest readings of all devices are read by
// walking an index, not by scanning and sorting the table; a device's
// readings and chart (Series) are read from its covering index alone.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	s := openFile(t, path)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for d := range 5 {
		rs := make([]thermowatt.Reading, 200)
		for i := range rs {
			rs[i] = thermowatt.Reading{DeviceID: fmt.Sprintf("esp32-%02d", d), RecordedAt: base.Add(time.Duration(i) * 5 * time.Minute)}
		}
		if _, err := s.InsertReadings(ctx, rs, base); err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	db := openDB(t, path)
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatalf("ANALYZE: %v", err)
	}

	cursor := &store.Cursor{RecordedAt: base.Add(12 * time.Hour), ID: 123}
	for _, tc := range []struct {
		name  string
		q     store.Query
		index string
	}{
		{"one device", store.Query{DeviceID: "esp32-03", Limit: 100}, "device_measurements_device_rows"},
		{"one device, next page", store.Query{DeviceID: "esp32-03", Limit: 100, After: cursor}, "device_measurements_device_rows"},
		{"one device, a day", store.Query{DeviceID: "esp32-03", From: base, To: base.Add(24 * time.Hour), Limit: 500}, "device_measurements_device_rows"},
		{"all devices", store.Query{Limit: 100}, "device_measurements_recorded_at"},
		{"all devices, next page", store.Query{Limit: 100, After: cursor}, "device_measurements_recorded_at"},
	} {
		query, args := sqlite.ReadingsQuery(tc.q)
		plan := explain(t, db, query, args...)
		t.Logf("%s:\n%s", tc.name, plan)
		if !strings.Contains(plan, tc.index) || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan does not walk index %s:\n%s", tc.name, tc.index, plan)
		}
		// One device's page is read from the index alone, not the table.
		if tc.q.DeviceID != "" && !strings.Contains(plan, "COVERING INDEX") {
			t.Errorf("%s: plan reads the table:\n%s", tc.name, plan)
		}
	}

	// The chart reads only the covering index, in its order: no table
	// row (which would mean parsing each payload for pressure), no sort.
	// This also checks that Series spells pressure exactly as the index
	// does, since SQLite matches an indexed expression only to itself.
	plan := explain(t, db, sqlite.SeriesQuery, "esp32-03", base.UnixMicro(), base.Add(24*time.Hour).UnixMicro())
	t.Logf("series:\n%s", plan)
	if !strings.Contains(plan, "USING COVERING INDEX device_measurements_device_rows") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("series: plan does not read covering index device_measurements_device_rows alone:\n%s", plan)
	}
}

// explain returns the detail lines of EXPLAIN QUERY PLAN query.
func explain(t *testing.T, db *sql.DB, query string, args ...any) string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
