package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/store/storetest"
)

// The roll-ups stay exact when the materializer's transactions read one
// hour each (the budget of readings per transaction cut at the first):
// the hours left over are taken by the next transaction of the same call,
// whose count says how many it did in all.
func TestRollupsWithOneHourPerTransaction(t *testing.T) {
	storetest.RunRollups(t, func(t *testing.T) store.Store {
		s, _ := openFresh(t)
		postgres.SetMaterializeReadings(s, 1)
		return s
	})
}

// A device-day being written (a backfill's current day) is left by the
// compactor without its device's lock, which the backfill's commits hold
// in turn: a pass that waited for it once per device made the next commit
// of each wait behind it. Here the lock is held throughout: the pass must
// not wait for it.
func TestCompactionLeavesAWrittenDayWithoutWaitingForItsLock(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	day := time.Now().UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	var rs []thermowatt.Reading
	for i := range 288 {
		v := 20.5
		rs = append(rs, thermowatt.Reading{DeviceID: "writing", RecordedAt: day.Add(time.Duration(i) * 5 * time.Minute), Temperature: &v})
	}
	if _, err := s.InsertReadings(ctx, rs, time.Now()); err != nil {
		t.Fatalf("InsertReadings: %v", err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	// The lock an ingest transaction of the device's old days holds
	// (compaction.go's deviceLock: class "twcp").
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, hashtext($2))`, 0x74776370, "writing"); err != nil {
		t.Fatal(err)
	}
	// Not a timing: without the fix the pass waits until this ends.
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := s.CompactBefore(pctx, time.Now().AddDate(0, 0, -7), 100)
	if err != nil {
		t.Fatalf("CompactBefore while a commit of the device holds its lock: %v", err)
	}
	if n != 0 {
		t.Errorf("%d device-days compacted, want 0: the day is being written", n)
	}
}
