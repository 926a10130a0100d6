package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"time"

	"path/filepath"
	"testing"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
)

// open opens a store on the database at path; the caller closes it.
func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// openFile opens a store on the database at path, closed when t ends.
func openFile(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s := open(t, path)
	t.Cleanup(func() { s.Close() })
	return s
}

// openDB opens a connection of its own to the database at path, for a
// test that looks at it with SQL, closed when t ends.
func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "thermowatt.db")) })
}

// The suite again with every day compacted after every insert.
func TestConformanceCompacted(t *testing.T) {
	storetest.RunCompacted(t, func(t *testing.T) store.Store { return open(t, filepath.Join(t.TempDir(), "thermowatt.db")) })
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, ":memory:") })
}

// Opening creates the file's directory, and reopening an existing
// database keeps its data (migrations are applied once).
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "nested", "dir", "thermowatt.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.CreateDevice(ctx, "d1", storetestTime); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer s.Close()
	if _, err := s.GetDevice(ctx, "d1"); err != nil {
		t.Fatalf("GetDevice after reopening: %v", err)
	}
}

// Two stores on one file, as when an old and a new process overlap during
// a restart: their writes wait for each other instead of failing.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	a := openFile(t, path)
	b := openFile(t, path)

	errs := make(chan error, 2)
	total := make(chan int, 2)
	for _, s := range []store.Store{a, b} {
		go func() {
			n := 0
			for i := range 50 {
				res, err := s.InsertReadings(ctx, []thermowatt.Reading{
					{DeviceID: "d1", RecordedAt: storetestTime.Add(time.Duration(i) * time.Second)},
				}, storetestTime)
				if err != nil {
					errs <- err
					return
				}
				n += res.Accepted
			}
			errs <- nil
			total <- n
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	if n := <-total + <-total; n != 50 {
		t.Errorf("accepted %d readings in total, want 50", n)
	}
}

var storetestTime = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(tb testing.TB) store.Store { return open(tb, filepath.Join(tb.TempDir(), "thermowatt.db")) })
}

// A day a device is still writing is left in rows until it moves past
// it (storetest.WrittenDayWaits).
func TestWrittenDayWaits(t *testing.T) {
	s := openFile(t, filepath.Join(t.TempDir(), "thermowatt.db"))
	storetest.WrittenDayWaits(t, s)
}

// The roll-ups of compacted days are computed from the blocks, not
// stored (storetest.CompactedRollups).
func TestCompactedDaysKeepNoRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	s := openFile(t, path)
	db := openDB(t, path)
	storetest.CompactedRollups(t, s, func(ctx context.Context, query string) (n int, err error) {
		err = db.QueryRowContext(ctx, query).Scan(&n)
		return n, err
	})
}

// Compaction gives the file's pages back: the rows of old days become
// blocks, and the pages they took leave the file (auto_vacuum =
// INCREMENTAL, incremental_vacuum after the pass), not only the WAL.
func TestCompactionShrinksTheFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	s := openFile(t, path)
	db := openDB(t, path)
	var mode int
	if err := db.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 2 {
		t.Fatalf("a new database's auto_vacuum = %d, %v; want 2 (INCREMENTAL)", mode, err)
	}
	size := func() int64 {
		t.Helper()
		if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	day0 := time.Now().UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	for d := range 4 {
		var rs []thermowatt.Reading
		for i := range 7 * 288 {
			v := 20 + float64(i%50)/10
			rs = append(rs, thermowatt.Reading{DeviceID: fmt.Sprintf("d%d", d), RecordedAt: day0.Add(time.Duration(i) * 5 * time.Minute),
				Temperature: &v, Payload: []byte(fmt.Sprintf(`{"sensor":{"bmp280":{"temperature_c":%v,"pressure_hpa":1012.5}}}`, v))})
		}
		// Received an hour ago: the device is quiet, so its newest day is not
		// being written (store.WrittenSince) and compacts.
		if _, err := s.InsertReadings(ctx, rs, time.Now().Add(-time.Hour)); err != nil {
			t.Fatalf("InsertReadings: %v", err)
		}
	}
	before := size()
	if err := store.CompactPass(ctx, s, time.Now(), 16); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	after := size()
	t.Logf("thermowatt.db: %d kB before compaction, %d kB after", before/1024, after/1024)
	if after > before/2 {
		t.Errorf("after compaction the file keeps %d of its %d bytes", after, before)
	}
}

// A database created before auto_vacuum was turned on is switched to it
// when opened (one VACUUM, while it is small), its data kept.
func TestOpenSwitchesOldDatabaseToAutoVacuum(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	old, err := sql.Open("sqlite", path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `CREATE TABLE before_upgrade (x INTEGER); INSERT INTO before_upgrade VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := old.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil || mode != 0 {
		t.Fatalf("the old database's auto_vacuum = %d, %v; want 0", mode, err)
	}
	old.Close()
	openFile(t, path) // switches it
	db := openDB(t, path)
	var x int
	if err := db.QueryRowContext(ctx, `SELECT (SELECT x FROM before_upgrade), (SELECT auto_vacuum FROM pragma_auto_vacuum)`).Scan(&x, &mode); err != nil {
		t.Fatal(err)
	}
	if x != 42 || mode != 2 {
		t.Errorf("after Open: data %d, auto_vacuum %d; want 42 and 2 (INCREMENTAL)", x, mode)
	}
}
