package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

// A device-day being written (a backfill's current day) is left by the
// compactor without taking the writer, which the group commits queue for:
// a pass that took it once per device written made a commit wait behind
// each. Here the writer is busy throughout: the pass must not wait for it.
func TestCompactionLeavesAWrittenDayWithoutTheWriter(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "thermowatt.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day := time.Now().UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	var rs []thermowatt.Reading
	for i := range 288 {
		v := 20.5
		rs = append(rs, thermowatt.Reading{DeviceID: "writing", RecordedAt: day.Add(time.Duration(i) * 5 * time.Minute), Temperature: &v})
	}
	if _, err := s.InsertReadings(ctx, rs, time.Now()); err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	writer, err := s.write.Conn(ctx) // the one connection: ingest's commits have it
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	// Not a timing: without the fix the pass waits until the writer is free.
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := s.CompactBefore(pctx, time.Now().AddDate(0, 0, -7), 100)
	if err != nil {
		t.Fatalf("CompactBefore while the writer is busy: %v", err)
	}
	if n != 0 {
		t.Errorf("%d device-days compacted, want 0: the day is being written", n)
	}
}
