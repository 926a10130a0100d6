package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// RunCompacted runs the conformance suite with compaction forced on: after
// every InsertReadings, every day holding readings is compacted
// (store.Compactor, with a cutoff far ahead: the current day too), so
// that every answer of the suite, pages, series, roll-ups, duplicates and
// retention included, is given from blocks (and the rows a backfill adds
// to a compacted day before it is compacted again), and must equal what
// the same suite wants of the store uncompacted.
func RunCompacted(t *testing.T, open func(t *testing.T) store.Store) {
	run(t, func(t *testing.T) store.Store {
		s := open(t)
		c, ok := s.(store.Compactor)
		if !ok {
			t.Fatalf("%T does not compact (store.Compactor)", s)
		}
		return compacting{Store: s, c: c}
	}, compactionGaps)
}

// compactionGaps are the tests of what compaction does not cover yet,
// with why: none.
var compactionGaps = map[string]string{}

// compactEverything is the cutoff RunCompacted compacts before.
var compactEverything = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)

// compacting is a store that compacts everything after every insert.
type compacting struct {
	store.Store
	c store.Compactor
}

func (s compacting) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	res, err := s.Store.InsertReadings(ctx, rs, receivedAt)
	if err != nil {
		return res, err
	}
	return res, store.CompactPass(ctx, s.c, compactEverything, 1000)
}

// CompactedRollups checks what compaction does to the roll-ups of the
// days it compacts, on a store s that compacts: their materialized hours
// are deleted (rows of hourly_rollups, counted by queryInt, which runs
// a query of one integer on s's database; a day's 24
// rows took three times the bytes of its block), and the roll-ups, the
// hourly and daily series and the energy answer exactly as before,
// computed from the blocks; a reading backfilled into a compacted day
// joins them at once, and neither the materializer nor the next
// compaction stores an hour of the day again.
func CompactedRollups(t *testing.T, s store.Store, queryInt func(ctx context.Context, query string) (int, error)) {
	storedHours := func(t *testing.T) int {
		t.Helper()
		return must[int](t, "stored hours")(queryInt(t.Context(), `SELECT count(*) FROM hourly_rollups`))
	}
	ctx := t.Context()
	c, ok := s.(store.Compactor)
	if !ok {
		t.Fatalf("%T does not compact (store.Compactor)", s)
	}
	day0 := time.Now().UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	if _, err := s.CreateDevice(ctx, "cr1", day0); err != nil {
		t.Fatal(err)
	}
	var rs []thermowatt.Reading
	for i := range 3 * 288 { // three days at 5 minutes
		rs = append(rs, thermowatt.Reading{DeviceID: "cr1", RecordedAt: day0.Add(time.Duration(i) * 5 * time.Minute),
			Temperature: f(20 + float64(i%37)/10), PowerMW: f(float64(100 + i%200)),
			Payload: []byte(fmt.Sprintf(`{"sensor":{"bmp280":{"pressure_hpa":%v}}}`, 1000+float64(i%13)/4))})
	}
	insert(t, s, rs, day0)
	catchUp(t, s)
	if n := storedHours(t); n != 72 {
		t.Fatalf("before compaction %d hours are stored, want 72", n)
	}
	from, to := day0.Add(-time.Hour), day0.Add(73*time.Hour)
	type answers struct {
		Hours         []rollup.Row
		Hourly, Daily []store.SeriesPoint
		Energy        []store.EnergyPoint
	}
	read := func() answers {
		t.Helper()
		var a answers
		var err error
		if a.Hours, err = s.RollupHours(ctx, store.RollupQuery{DeviceIDs: []string{"cr1"}, From: from, To: to}); err != nil {
			t.Fatalf("RollupHours: %v", err)
		}
		a.Hourly = series(t, s, store.SeriesQuery{DeviceID: "cr1", From: from, To: to, Bucket: time.Hour})
		a.Daily = series(t, s, store.SeriesQuery{DeviceID: "cr1", From: day0, To: day0.Add(72 * time.Hour), Bucket: 24 * time.Hour})
		if a.Energy, err = store.Energy(ctx, s, store.EnergyQuery{DeviceID: "cr1", From: day0, To: day0.Add(72 * time.Hour), Bucket: store.EnergyDay}); err != nil {
			t.Fatalf("Energy: %v", err)
		}
		return a
	}
	before := read()
	if err := store.CompactPass(ctx, c, time.Now().AddDate(0, 0, -7), 100); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	if n := storedHours(t); n != 0 {
		t.Errorf("after compaction %d hours of the compacted days are stored, want none", n)
	}
	SameAnswers(t, "after compaction", read(), before)

	// A reading backfilled into the second day: counted at once, and the
	// hours stay unstored through the materializer and the next pass.
	late := thermowatt.Reading{DeviceID: "cr1", RecordedAt: day0.Add(30*time.Hour + 150*time.Second), Temperature: f(99), PowerMW: f(5000)}
	if res := insert(t, s, []thermowatt.Reading{late}, time.Now()); res.Duplicates != 0 {
		t.Fatalf("the late reading was taken for a duplicate")
	}
	withLate := read()
	if len(withLate.Hours) != 72 {
		t.Fatalf("with the backfilled reading %d hours, want 72", len(withLate.Hours))
	}
	if got, want := withLate.Hours[30].Count, before.Hours[30].Count+1; got != want {
		t.Fatalf("the hour of the backfilled reading counts %d readings, want %d", got, want)
	}
	catchUp(t, s)
	SameAnswers(t, "after the materializer's pass", read(), withLate)
	if n := storedHours(t); n != 0 {
		t.Errorf("after the materializer's pass %d hours of the compacted days are stored, want none", n)
	}
	if err := store.CompactPass(ctx, c, time.Now().AddDate(0, 0, -7), 100); err != nil {
		t.Fatalf("CompactPass: %v", err)
	}
	SameAnswers(t, "after compacting the backfill", read(), withLate)
	if n := storedHours(t); n != 0 {
		t.Errorf("after compacting the backfill %d hours are stored, want none", n)
	}
}

// WrittenDayWaits checks that the compactor leaves a day a device is
// still writing (a backfill's current day: its newest, heard from within
// store.WrittenSince) in rows, compacts it once the device has moved past
// it, compacts a quiet device's newest day at once, and that the
// readings answered stay the same throughout.
func WrittenDayWaits(t *testing.T, s store.Store) {
	ctx := t.Context()
	c, ok := s.(store.Compactor)
	if !ok {
		t.Fatalf("%T does not compact (store.Compactor)", s)
	}
	day0 := time.Now().UTC().AddDate(0, 0, -30).Truncate(24 * time.Hour)
	cutoff := time.Now().AddDate(0, 0, -7)
	day := func(device string, d time.Time) []thermowatt.Reading {
		var rs []thermowatt.Reading
		for i := range 288 {
			rs = append(rs, thermowatt.Reading{DeviceID: device, RecordedAt: d.Add(time.Duration(i) * 5 * time.Minute), Temperature: f(20 + float64(i%7))})
		}
		return rs
	}
	compact := func(when string, want int) {
		t.Helper()
		n, err := c.CompactBefore(ctx, cutoff, 100)
		if err != nil {
			t.Fatalf("%s: CompactBefore: %v", when, err)
		}
		if n != want {
			t.Errorf("%s: %d device-days compacted, want %d", when, n, want)
		}
	}
	count := func(when, device string, want int) {
		t.Helper()
		rs, err := s.QueryReadings(ctx, store.Query{DeviceID: device, Limit: 1000})
		if err != nil {
			t.Fatalf("%s: QueryReadings: %v", when, err)
		}
		if len(rs) != want {
			t.Errorf("%s: %d readings of %s, want %d", when, len(rs), device, want)
		}
	}
	insert(t, s, day("writing", day0), time.Now())
	compact("a day being written", 0)
	count("a day being written", "writing", 288)

	insert(t, s, day("writing", day0.Add(24*time.Hour)), time.Now())
	compact("the device moved on to the next day", 1)
	count("the device moved on to the next day", "writing", 576)
	insert(t, s, day("writing", day0), time.Now()) // resent into the compacted day: duplicates
	count("the first day resent", "writing", 576)

	insert(t, s, day("quiet", day0), time.Now().Add(-time.Hour))
	compact("a quiet device's newest day", 1)
	count("a quiet device's newest day", "quiet", 288)

	// Two devices writing the same day, their rows interleaved, and a
	// quiet device's day after it: the look for the oldest day skips both
	// (looking on from the row of the last one skipped: store.Skipped)
	// and compacts the third's.
	interleaved := day("writing2", day0.Add(24*time.Hour))
	for i := range interleaved {
		interleaved[i].RecordedAt = interleaved[i].RecordedAt.Add(time.Minute)
	}
	insert(t, s, interleaved, time.Now())
	insert(t, s, day("quiet2", day0.Add(48*time.Hour)), time.Now().Add(-time.Hour))
	compact("past two devices writing", 1)
	count("past two devices writing", "writing", 576)
	count("past two devices writing", "writing2", 288)
	count("past two devices writing", "quiet2", 288)
	compact("nothing left but days being written", 0)
}

// SameAnswers fails t when got and want, a store's answers read before and
// after some work that must not change them (compaction, say), differ as
// JSON; when says after what.
func SameAnswers(t *testing.T, when string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Fatalf("%s: the answers changed:\n got %.2000s\nwant %.2000s", when, g, w)
	}
}
