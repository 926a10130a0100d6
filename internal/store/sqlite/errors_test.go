package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// A full disk is "unavailable" (503 + Retry-After: the device keeps the
// readings and resends), not a failure of the readings themselves, and a
// batch that did not fit leaves nothing behind.
func TestDiskFullIsUnavailable(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "thermowatt.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	// The write pool has one connection, so this caps the file's size for
	// every write, as a full disk would.
	var pages int
	if err := s.write.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages+8)); err != nil {
		t.Fatal(err)
	}

	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	payload := []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", 2000)))
	var full error
	stored := 0
	for i := 0; i < 100 && full == nil; i++ {
		rs := make([]thermowatt.Reading, 10)
		for j := range rs {
			rs[j] = thermowatt.Reading{DeviceID: "d1", RecordedAt: base.Add(time.Duration(i*10+j) * time.Second), Payload: payload}
		}
		res, err := s.InsertReadings(ctx, rs, base)
		if err != nil {
			full = err
			break
		}
		stored += res.Accepted
	}
	if !errors.Is(full, thermowatt.ErrUnavailable) {
		t.Fatalf("InsertReadings into a full database: err = %v, want an error wrapping ErrUnavailable", full)
	}
	got, err := s.QueryReadings(ctx, store.Query{Limit: 10000})
	if err != nil {
		t.Fatalf("QueryReadings: %v", err)
	}
	if len(got) != stored {
		t.Errorf("%d readings stored, want %d (the batch that did not fit must leave nothing)", len(got), stored)
	}
}
