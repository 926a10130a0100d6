package sqlite_test

import (
	"database/sql"
	"time"

	"path/filepath"
	"testing"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "thermowatt.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

// The suite again with every day compacted after every insert.
func TestConformanceCompacted(t *testing.T) {
	storetest.RunCompacted(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "thermowatt.db"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestConformanceInMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := sqlite.Open(t.Context(), ":memory:")
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
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
	a, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer a.Close()
	b, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatalf("Open second: %v", err)
	}
	defer b.Close()

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
	storetest.Bench(b, func(tb testing.TB) store.Store {
		s, err := sqlite.Open(tb.Context(), filepath.Join(tb.TempDir(), "thermowatt.db"))
		if err != nil {
			tb.Fatalf("Open: %v", err)
		}
		return s
	})
}

// The roll-ups of compacted days are computed from the blocks, not
// stored (storetest.CompactedRollups).
func TestCompactedDaysKeepNoRollups(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thermowatt.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	storetest.CompactedRollups(t, s, func(t *testing.T) (n int) {
		t.Helper()
		if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM hourly_rollups`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	})
}

