package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The Series cases, registered in Run.

func series(t *testing.T, s store.Store, q store.SeriesQuery) []store.SeriesPoint {
	t.Helper()
	return must[[]store.SeriesPoint](t, "Series(%+v)", q)(s.Series(t.Context(), q))
}

func showStats(st store.Stats) string {
	p := func(v *float64) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("{avg %s min %s max %s}", p(st.Avg), p(st.Min), p(st.Max))
}

// wantStats compares with a tolerance: averages are computed in floating
// point by two different databases.
func wantStats(t *testing.T, what string, got store.Stats, avg, min, max float64) {
	t.Helper()
	near := func(v *float64, w float64) bool { return v != nil && math.Abs(*v-w) < 1e-9*math.Max(1, math.Abs(w)) }
	if !near(got.Avg, avg) || !near(got.Min, min) || !near(got.Max, max) {
		t.Errorf("%s = %s, want {avg %v min %v max %v}", what, showStats(got), avg, min, max)
	}
}

func wantNoStats(t *testing.T, what string, got store.Stats) {
	t.Helper()
	if got.Avg != nil || got.Min != nil || got.Max != nil {
		t.Errorf("%s = %s, want all nil (no reading has it)", what, showStats(got))
	}
}

// bucketStart is the 5-minute bucket holding base (12:00:00.123456).
var bucketStart = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

func testSeriesAggregates(t *testing.T, s store.Store) {
	var rs []thermowatt.Reading
	for i := range 10 { // minutes 0..9: two 5-minute buckets of five readings
		r := rd("d1", time.Duration(i)*time.Minute, float64(i))
		r.VoltageV, r.CurrentMA, r.PowerMW = f(5-float64(i)/10), f(100+float64(i)), f(float64(i)*-2)
		rs = append(rs, r)
	}
	rs = append(rs, rd("d2", 2*time.Minute, 1000)) // another device: not in d1's series
	insert(t, s, rs, base)

	got := series(t, s, store.SeriesQuery{DeviceID: "d1", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: 5 * time.Minute})
	if len(got) != 2 {
		t.Fatalf("got %d buckets, want 2: %+v", len(got), got)
	}
	for i, want := range []time.Time{bucketStart, bucketStart.Add(5 * time.Minute)} {
		if !got[i].Time.Equal(want) || got[i].Time.Location() != time.UTC {
			t.Errorf("bucket %d starts at %v, want %v (UTC, aligned to the epoch)", i, got[i].Time, want)
		}
		if got[i].Count != 5 {
			t.Errorf("bucket %d counts %d readings, want 5", i, got[i].Count)
		}
	}
	wantStats(t, "first bucket temperature", got[0].Stats[thermowatt.Temperature], 2, 0, 4)
	wantStats(t, "second bucket temperature", got[1].Stats[thermowatt.Temperature], 7, 5, 9)
	wantStats(t, "first bucket voltage_v", got[0].Stats[thermowatt.VoltageV], 4.8, 4.6, 5)
	wantStats(t, "second bucket current_ma", got[1].Stats[thermowatt.CurrentMA], 107, 105, 109)
	wantStats(t, "second bucket power_mw", got[1].Stats[thermowatt.PowerMW], -14, -18, -10)
	wantNoStats(t, "humidity (never sent)", got[0].Stats[thermowatt.Humidity])
	wantNoStats(t, "pressure (no payload)", got[0].Stats[thermowatt.PressureHPa])
}

func testSeriesGapsAndBounds(t *testing.T, s store.Store) {
	var rs []thermowatt.Reading
	for _, m := range []int{0, 1, 2, 20, 21, 22} { // an outage from minute 3 to 19
		rs = append(rs, rd("d1", time.Duration(m)*time.Minute, float64(m)))
	}
	insert(t, s, rs, base)

	got := series(t, s, store.SeriesQuery{DeviceID: "d1", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Minute})
	var minutes []int
	for _, p := range got {
		minutes = append(minutes, int(p.Time.Sub(bucketStart)/time.Minute))
	}
	if fmt.Sprint(minutes) != "[0 1 2 20 21 22]" {
		t.Errorf("1-minute buckets at minutes %v, want [0 1 2 20 21 22]: empty buckets are absent", minutes)
	}

	// From is inclusive and To exclusive on the readings' own times, not on
	// bucket starts: a bucket cut by a bound holds only the readings inside.
	got = series(t, s, store.SeriesQuery{DeviceID: "d1", From: base.Add(time.Minute), To: base.Add(21 * time.Minute), Bucket: time.Hour})
	if len(got) != 1 || got[0].Count != 3 {
		t.Fatalf("[minute 1, minute 21) in one bucket: %+v, want one bucket of 3 readings (1, 2, 20)", got)
	}
	wantStats(t, "temperature of minutes 1, 2, 20", got[0].Stats[thermowatt.Temperature], 23.0/3, 1, 20)

	if got := series(t, s, store.SeriesQuery{DeviceID: "d1", From: base.Add(3 * time.Minute), To: base.Add(20 * time.Minute), Bucket: time.Minute}); len(got) != 0 {
		t.Errorf("inside the outage: %d buckets, want none", len(got))
	}
	if got := series(t, s, store.SeriesQuery{DeviceID: "nobody", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Minute}); len(got) != 0 {
		t.Errorf("unknown device: %d buckets, want none", len(got))
	}
}

func testSeriesEpochAlignment(t *testing.T, s store.Store) {
	var rs []thermowatt.Reading
	for i := range 30 {
		rs = append(rs, rd("d1", time.Duration(i)*time.Minute, float64(i)))
	}
	insert(t, s, rs, base)
	// 7 minutes does not divide an hour: buckets still start at multiples
	// of 7 minutes since 1970, wherever From is.
	const bucket = 7 * time.Minute
	for _, from := range []time.Time{base.Add(-time.Hour), base.Add(-time.Hour + 3*time.Minute)} {
		got := series(t, s, store.SeriesQuery{DeviceID: "d1", From: from, To: base.Add(time.Hour), Bucket: bucket})
		var total int64
		for i, p := range got {
			total += p.Count
			if p.Time.UnixMicro()%bucket.Microseconds() != 0 {
				t.Errorf("bucket %d starts at %v, not a multiple of %v since the epoch", i, p.Time, bucket)
			}
			if i > 0 && !p.Time.After(got[i-1].Time) {
				t.Errorf("buckets out of order: %v then %v", got[i-1].Time, p.Time)
			}
		}
		if total != 30 {
			t.Errorf("buckets count %d readings, want 30", total)
		}
		if len(got) > 0 {
			if want := store.BucketStart(rs[0].RecordedAt, bucket); !got[0].Time.Equal(want) {
				t.Errorf("first bucket starts at %v, want store.BucketStart = %v", got[0].Time, want)
			}
		}
	}
}

func testSeriesPressureFromPayload(t *testing.T, s store.Store) {
	withPressure := func(offset time.Duration, v any) thermowatt.Reading {
		r := rd("d1", offset, 20)
		p, err := json.Marshal(map[string]any{"sensor": map[string]any{"bmp280": map[string]any{"temperature_c": 20, "pressure_hpa": v}}})
		if err != nil {
			t.Fatal(err)
		}
		r.Payload = p
		return r
	}
	rs := []thermowatt.Reading{
		withPressure(0, 1012.5),
		withPressure(time.Minute, 1010), // a JSON integer
		withPressure(2*time.Minute, "high"),
		withPressure(3*time.Minute, nil),
		rd("d1", 4*time.Minute, 20), // no payload at all
	}
	rs = append(rs, thermowatt.Reading{DeviceID: "d1", RecordedAt: base.Add(5 * time.Minute), Payload: json.RawMessage(`{"sensor":"bmp280"}`)})
	insert(t, s, rs, base)
	got := series(t, s, store.SeriesQuery{DeviceID: "d1", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Hour})
	if len(got) != 1 || got[0].Count != 6 {
		t.Fatalf("got %+v, want one bucket of 6 readings", got)
	}
	wantStats(t, "pressure_hpa (numbers only)", got[0].Stats[thermowatt.PressureHPa], 1011.25, 1010, 1012.5)
	wantStats(t, "temperature", got[0].Stats[thermowatt.Temperature], 20, 20, 20)
}

func testSeriesRejectsBadBucket(t *testing.T, s store.Store) {
	for _, b := range []time.Duration{0, -time.Minute, time.Nanosecond} {
		if _, err := s.Series(t.Context(), store.SeriesQuery{DeviceID: "d1", From: base, To: base.Add(time.Hour), Bucket: b}); err == nil {
			t.Errorf("Series with bucket %v: no error, want one", b)
		}
	}
}
