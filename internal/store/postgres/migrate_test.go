package postgres_test

import (
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// Migration 00003 (covering primary key, pressure column, no foreign key)
// upgrades a database that holds readings: they keep their ids, their
// pressure is read from their payloads, a repeat of one is still a
// duplicate, and new readings get larger ids.
func TestMigration3KeepsReadings(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	if err := postgres.MigrateTo(ctx, dbURL, 2); err != nil {
		t.Fatalf("migrate to 2: %v", err)
	}
	conn := connect(t, dbURL)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`INSERT INTO devices (id, created_at, reading_count) VALUES ('d1', $1, 4)`,
		`INSERT INTO device_measurements (id, device_id, recorded_at, received_at, temperature, payload) VALUES
			(10, 'd1', $1, $1, 20, '{"sensor":{"bmp280":{"pressure_hpa":1010}}}'),
			(11, 'd1', $1 + interval '1 minute', $1, 21, '{"sensor":{"bmp280":{"pressure_hpa":1012.5}}}'),
			(12, 'd1', $1 + interval '2 minutes', $1, 22, '{"sensor":{"bmp280":{"pressure_hpa":"high"}}}'),
			-- a number no double holds: the chart used to fail on it
			(13, 'd1', $1 + interval '3 minutes', $1, 23, '{"sensor":{"bmp280":{"pressure_hpa":1e400}}}')`,
		`SELECT setval('device_measurements_id_seq', 13) WHERE $1::timestamptz IS NOT NULL`,
	} {
		if _, err := conn.Exec(ctx, q, base); err != nil {
			t.Fatalf("fill version 2: %v", err)
		}
	}

	start := time.Now()
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("Open (migrates to 3): %v", err)
	}
	defer s.Close()
	t.Logf("migration took %v", time.Since(start))

	got, err := s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: 10})
	if err != nil {
		t.Fatalf("QueryReadings: %v", err)
	}
	if len(got) != 4 || got[0].ID != 13 || got[3].ID != 10 {
		t.Fatalf("after the migration: %+v, want ids 13..10", got)
	}
	ps, err := s.Series(ctx, store.SeriesQuery{DeviceID: "d1", From: base, To: base.Add(time.Hour), Bucket: time.Hour})
	if err != nil {
		t.Fatalf("Series: %v", err)
	}
	if len(ps) != 1 || ps[0].Count != 4 || ps[0].Stats[thermowatt.PressureHPa].Avg == nil || *ps[0].Stats[thermowatt.PressureHPa].Avg != 1011.25 {
		t.Fatalf("Series = %+v, want 4 readings with pressure avg 1011.25", ps)
	}

	res, err := s.InsertReadings(ctx, []thermowatt.Reading{
		{DeviceID: "d1", RecordedAt: base.Add(time.Minute)}, // stored before the migration
		{DeviceID: "d1", RecordedAt: base.Add(4 * time.Minute)},
	}, base)
	if err != nil || res.Accepted != 1 || res.Duplicates != 1 {
		t.Fatalf("InsertReadings = %+v, %v; want 1 accepted, 1 duplicate", res, err)
	}
	got, err = s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: 1})
	if err != nil || len(got) != 1 || got[0].ID <= 13 {
		t.Fatalf("newest reading = %+v, %v; want an id above 13", got, err)
	}
	if d, err := s.GetDevice(ctx, "d1"); err != nil || d.ReadingCount != 5 {
		t.Fatalf("GetDevice = %+v, %v; want 5 readings", d, err)
	}
}

// A pressure no double can hold neither fails the batch that carries it
// nor the chart: it is no pressure.
func TestPressureOutOfRange(t *testing.T) {
	ctx := t.Context()
	s, _ := openFresh(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var rs []thermowatt.Reading
	for i, p := range []string{"1e400", "-1e400", "1e-400", "0", "1e-310", "1013.25"} {
		rs = append(rs, thermowatt.Reading{DeviceID: "d1", RecordedAt: base.Add(time.Duration(i) * time.Minute),
			Payload: []byte(`{"sensor":{"bmp280":{"pressure_hpa":` + p + `}}}`)})
	}
	if res, err := s.InsertReadings(ctx, rs, base); err != nil || res.Accepted != len(rs) {
		t.Fatalf("InsertReadings = %+v, %v; want all %d stored", res, err, len(rs))
	}
	ps, err := s.Series(ctx, store.SeriesQuery{DeviceID: "d1", From: base, To: base.Add(time.Hour), Bucket: time.Minute})
	if err != nil || len(ps) != len(rs) {
		t.Fatalf("Series = %+v, %v; want %d buckets", ps, err, len(rs))
	}
	want := []*float64{nil, nil, nil, ptr(0), ptr(1e-310), ptr(1013.25)}
	for i, p := range ps {
		if got := p.Stats[thermowatt.PressureHPa].Avg; (got == nil) != (want[i] == nil) || got != nil && *got != *want[i] {
			t.Errorf("bucket %d (%s): pressure %v, want %v", i, rs[i].Payload, got, want[i])
		}
	}
}

// A batch holding a repeat is first tried as all new, which fails on the
// repeat and leaves nothing behind, then stored without it: the new
// readings are stored once, a device first seen in that batch is
// registered once, and the counts are exact.
func TestBatchWithRepeatStoresTheRestOnce(t *testing.T) {
	ctx := t.Context()
	s, _ := openFresh(t)
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if res, err := s.InsertReadings(ctx, []thermowatt.Reading{{DeviceID: "old", RecordedAt: t1}}, t1); err != nil || res.Accepted != 1 {
		t.Fatalf("first InsertReadings = %+v, %v", res, err)
	}
	t2 := t1.Add(time.Hour)
	res, err := s.InsertReadings(ctx, []thermowatt.Reading{
		{DeviceID: "new", RecordedAt: t1},
		{DeviceID: "old", RecordedAt: t1.Add(time.Minute)},
		{DeviceID: "old", RecordedAt: t1}, // the repeat, sorted after "new"
		{DeviceID: "zzz", RecordedAt: t1},
	}, t2)
	if err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	if res.Accepted != 3 || res.Duplicates != 1 || !res.Inserted[0] || !res.Inserted[1] || res.Inserted[2] || !res.Inserted[3] {
		t.Fatalf("InsertReadings = %+v; want the third reading alone a duplicate", res)
	}
	for id, want := range map[string]int64{"new": 1, "old": 2, "zzz": 1} {
		d, err := s.GetDevice(ctx, id)
		if err != nil || d.ReadingCount != want || d.LastSeenAt == nil || !d.LastSeenAt.Equal(t2) {
			t.Errorf("GetDevice(%s) = %+v, %v; want %d readings, last seen %v", id, d, err, want, t2)
		}
	}
	all, err := s.QueryReadings(ctx, store.Query{Limit: 10})
	if err != nil || len(all) != 4 {
		t.Fatalf("QueryReadings = %d readings, %v; want 4", len(all), err)
	}
}

// Migration 00005 (the fleet) goes down and up again on a database that
// uses it: its tables go, update alerts with them, other alerts stay.
func TestMigration5DownAndUp(t *testing.T) {
	ctx := t.Context()
	dbURL := freshDatabase(t, adminURL(t))
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.CreateDevice(ctx, "d1", at); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetFleetSettings(ctx, thermowatt.Settings{"led": true}, at); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{thermowatt.KindUpdate, thermowatt.KindSilent} {
		if _, err := s.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: "d1", Kind: kind, Message: "x", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if err := postgres.MigrateDownTo(ctx, dbURL, 4); err != nil {
		t.Fatalf("down to 4: %v", err)
	}
	s, err = postgres.Open(ctx, dbURL) // up again
	if err != nil {
		t.Fatalf("up again: %v", err)
	}
	defer s.Close()
	as, err := s.ListAlerts(ctx, store.AlertQuery{Limit: 10})
	if err != nil || len(as) != 1 || as[0].Kind != thermowatt.KindSilent {
		t.Fatalf("alerts after down and up = %+v, %v; want the silent one only", as, err)
	}
	if f, err := s.FleetSettings(ctx); err != nil || f.Rev != 0 {
		t.Fatalf("fleet settings after down and up = %+v, %v; want fresh", f, err)
	}
}
