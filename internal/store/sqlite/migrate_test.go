package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Migration 00003 upgrades a database that already holds readings: the
// readings stored before it are in its index, so a device's page and its
// chart (pressure included) read them as before.
func TestMigration00003KeepsExistingReadings(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	db, err := sql.Open("sqlite", dsn(path, false, Options{}))
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 2); err != nil {
		t.Fatalf("migrate to 00002: %v", err)
	}
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	if _, err := db.ExecContext(ctx, `INSERT INTO devices (id, created_at) VALUES ('d1', 0)`); err != nil {
		t.Fatal(err)
	}
	for i, payload := range []string{
		`{"sensor":{"bmp280":{"pressure_hpa":1012.5}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":1010}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":"high"}}}`,
	} {
		if _, err := db.ExecContext(ctx, `INSERT INTO device_measurements
			(device_id, recorded_at, received_at, temperature, payload) VALUES ('d1', ?, 0, ?, ?)`,
			micros(at.Add(time.Duration(i)*time.Minute)), 20+float64(i), payload); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open (migrates to 00003): %v", err)
	}
	defer s.Close()
	got, err := s.QueryReadings(ctx, store.Query{DeviceID: "d1", Limit: 10})
	if err != nil || len(got) != 3 || !got[0].RecordedAt.Equal(at.Add(2*time.Minute)) {
		t.Fatalf("QueryReadings after the upgrade = %d readings, %v; want the 3 stored before, newest first", len(got), err)
	}
	pts, err := s.Series(ctx, store.SeriesQuery{DeviceID: "d1", From: at, To: at.Add(time.Hour), Bucket: time.Hour})
	if err != nil || len(pts) != 1 {
		t.Fatalf("Series after the upgrade = %+v, %v; want one bucket", pts, err)
	}
	pr := pts[0].Stats[thermowatt.PressureHPa]
	if pts[0].Count != 3 || pr.Avg == nil || *pr.Avg != 1011.25 || *pr.Min != 1010 || *pr.Max != 1012.5 {
		t.Errorf("bucket after the upgrade: count %d, pressure %+v; want 3 readings, pressure avg 1011.25 min 1010 max 1012.5", pts[0].Count, pr)
	}
}

// Migration 00005 (the fleet) goes down and up again on a database that
// uses it: its tables go, update alerts with them, other alerts stay.
// (SQLite has no 00004: PostgreSQL's time partitions have no SQLite
// counterpart, and the numbers are kept the same on both.)
func TestMigration00005DownAndUp(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := s.CreateDevice(ctx, "d1", at); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{thermowatt.KindUpdate, thermowatt.KindSilent} {
		if _, err := s.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: "d1", Kind: kind, Message: "x", At: at}); err != nil {
			t.Fatal(err)
		}
	}
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, s.write, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatalf("down to 3: %v", err)
	}
	s.Close()
	s, err = Open(ctx, path) // up again
	if err != nil {
		t.Fatalf("up again: %v", err)
	}
	defer s.Close()
	as, err := s.ListAlerts(ctx, store.AlertQuery{Limit: 10})
	if err != nil || len(as) != 1 || as[0].Kind != thermowatt.KindSilent {
		t.Fatalf("alerts after down and up = %+v, %v; want the silent one only", as, err)
	}
	if _, err := s.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: "d1", Kind: thermowatt.KindUpdate, Message: "x", At: at}); err != nil {
		t.Fatalf("an update alert after up again: %v", err)
	}
}
