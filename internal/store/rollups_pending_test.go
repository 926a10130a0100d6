package store

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
)

// Storing a reading changes no hour but those MarkedHours names for it:
// every other hour computed before and after is the same. This is what
// lets ingest mark hours without reading a neighbour.
func TestMarkedHoursAreEveryHourAReadingChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	const second = int64(time.Second / time.Microsecond)
	for _, interval := range []int{60, 300, 1800, 7200} {
		gap := rollup.MaxGap(interval)
		for round := range 200 {
			var samples []rollup.Sample
			for at := int64(0); at < 3*86400*second; at += int64(rng.IntN(3*interval)+1) * second {
				p := rng.Float64() * 1000
				samples = append(samples, rollup.Sample{At: at, Values: [rollup.NumMetrics]*float64{thermowatt.PowerMW: &p}})
			}
			t0 := int64(rng.IntN(3*86400)) * second
			p := rng.Float64() * 1000
			with := append(slices.Clone(samples), rollup.Sample{At: t0, Values: [rollup.NumMetrics]*float64{thermowatt.PowerMW: &p}})
			slices.SortStableFunc(with, func(a, b rollup.Sample) int { return int(a.At - b.At) })
			before := rollup.Compute("d", samples, gap, -86400*second, 5*86400*second)
			after := rollup.Compute("d", with, gap, -86400*second, 5*86400*second)
			marked := MarkedHours([]int64{t0}, gap)
			index := func(rows []rollup.Row) map[int64]rollup.Row {
				m := map[int64]rollup.Row{}
				for _, r := range rows {
					m[r.Hour.UnixMicro()] = r
				}
				return m
			}
			b, a := index(before), index(after)
			for h := range merge(b, a) {
				if _, ok := slices.BinarySearch(marked, h); ok {
					continue
				}
				if b[h] != a[h] {
					t.Fatalf("interval %d s, round %d: a reading at %d changed the hour %d, which is not among those marked %v:\nbefore %+v\nafter  %+v",
						interval, round, t0, h, marked, b[h], a[h])
				}
			}
		}
	}
}

func merge(a, b map[int64]rollup.Row) map[int64]bool {
	out := map[int64]bool{}
	for h := range a {
		out[h] = true
	}
	for h := range b {
		out[h] = true
	}
	return out
}

// A pending hour's row replaces the stored one, a pending hour that holds
// nothing is dropped, and the devices keep the order asked for.
func TestReplacePending(t *testing.T) {
	h := func(n int64) time.Time { return time.UnixMicro(n * int64(time.Hour/time.Microsecond)).UTC() }
	hour := func(n int64) int64 { return h(n).UnixMicro() }
	stored := []rollup.Row{{DeviceID: "b", Hour: h(1), Count: 1}, {DeviceID: "b", Hour: h(2), Count: 2}, {DeviceID: "a", Hour: h(1), Count: 3}}
	pending := map[string][]int64{"b": {hour(2), hour(3)}, "a": {hour(1)}}
	computed := []rollup.Row{{DeviceID: "b", Hour: h(3), Count: 9}, {DeviceID: "b", Hour: h(4), Count: 7}}
	got := ReplacePending([]string{"b", "a"}, stored, pending, computed)
	want := []rollup.Row{{DeviceID: "b", Hour: h(1), Count: 1}, {DeviceID: "b", Hour: h(3), Count: 9}}
	if !slices.EqualFunc(got, want, func(x, y rollup.Row) bool {
		return x.DeviceID == y.DeviceID && x.Hour.Equal(y.Hour) && x.Count == y.Count
	}) {
		t.Errorf("ReplacePending = %+v, want %+v", got, want)
	}
}
