package postgres_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt/internal/reading"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// The dashboard pages through one device's readings of a table that grows
// by a reading per device every few minutes: those queries must walk an
// index, not scan and sort the table.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const devices, perDevice = 20, 500
	for d := range devices {
		rs := make([]reading.Reading, perDevice)
		for i := range rs {
			rs[i] = reading.Reading{DeviceID: fmt.Sprintf("esp32-%02d", d), RecordedAt: base.Add(time.Duration(i) * 5 * time.Minute)}
		}
		if _, err := s.InsertReadings(ctx, rs, base); err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ANALYZE device_measurements"); err != nil {
		t.Fatalf("ANALYZE: %v", err)
	}

	cursor := &store.Cursor{RecordedAt: base.Add(24 * time.Hour), ID: 1234}
	for _, tc := range []struct {
		name  string
		q     store.Query
		index string
	}{
		{"one device", store.Query{DeviceID: "esp32-07", Limit: 100}, "device_measurements_device_recorded"},
		{"one device, next page", store.Query{DeviceID: "esp32-07", Limit: 100, After: cursor}, "device_measurements_device_recorded"},
		{"one device, a day", store.Query{DeviceID: "esp32-07", From: base.Add(24 * time.Hour), To: base.Add(48 * time.Hour), Limit: 500}, "device_measurements_device_recorded"},
		{"all devices", store.Query{Limit: 100}, "device_measurements_recorded_at"},
		{"all devices, next page", store.Query{Limit: 100, After: cursor}, "device_measurements_recorded_at"},
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
		if !strings.Contains(plan, tc.index) || strings.Contains(plan, "Seq Scan") {
			t.Errorf("%s: plan does not use index %s:\n%s", tc.name, tc.index, plan)
		}
	}
}
