package storetest

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
	"github.com/thermowatt/thermowatt/internal/store"
)

// SeriesMatchesReadings checks Series against buckets computed here from
// the readings themselves, over many buckets of three interleaved devices
// with fields missing now and then and pressure a real, an integer, a
// string or absent. It guards a backend that computes buckets its own way
// (SQLite folds them in Go) rather than with the SQL the small cases were
// written against. Backends call it from their own tests.
func SeriesMatchesReadings(t *testing.T, s store.Store) {
	const (
		devices = 3
		n       = 600 // readings per device, one a minute: 10 hours
		bucket  = 7 * time.Minute
	)
	var rs []reading.Reading
	for i := range n { // interleaved, as a fleet's readings arrive
		for d := range devices {
			r := reading.Reading{DeviceID: fmt.Sprintf("sb-%d", d), RecordedAt: base.Add(time.Duration(i) * time.Minute)}
			v := float64((i*37+d*11)%101) / 4
			if i%5 != 1 {
				r.Temperature = f(v)
			}
			if i%7 != 2 {
				r.Humidity = f(100 - v)
			}
			r.VoltageV, r.CurrentMA, r.PowerMW = f(3+v/100), f(-v), f(v*v)
			var pressure any
			switch i % 4 {
			case 0:
				pressure = 1000 + v
			case 1:
				pressure = 990 + i%13 // a JSON integer
			case 2:
				pressure = "high" // not a number: not charted
			}
			if pressure != nil {
				r.Payload, _ = json.Marshal(map[string]any{"sensor": map[string]any{"bmp280": map[string]any{"pressure_hpa": pressure}}})
			}
			rs = append(rs, r)
		}
	}
	insert(t, s, rs, base)

	from, to := base.Add(33*time.Minute), base.Add(time.Duration(n-41)*time.Minute)
	want := seriesOf(rs, "sb-1", from, to, bucket)
	got := series(t, s, store.SeriesQuery{DeviceID: "sb-1", From: from, To: to, Bucket: bucket})
	if len(got) != len(want) {
		t.Fatalf("got %d buckets, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if !g.Time.Equal(w.Time) || g.Count != w.Count {
			t.Fatalf("bucket %d: %v with %d readings, want %v with %d", i, g.Time, g.Count, w.Time, w.Count)
		}
		for _, c := range []struct {
			name      string
			got, want store.Stats
		}{
			{"temperature", g.Temperature, w.Temperature}, {"humidity", g.Humidity, w.Humidity},
			{"voltage_v", g.VoltageV, w.VoltageV}, {"current_ma", g.CurrentMA, w.CurrentMA},
			{"power_mw", g.PowerMW, w.PowerMW}, {"pressure_hpa", g.PressureHPa, w.PressureHPa},
		} {
			what := fmt.Sprintf("bucket %d (%v) %s", i, w.Time, c.name)
			if c.want.Avg == nil {
				wantNoStats(t, what, c.got)
			} else {
				wantStats(t, what, c.got, *c.want.Avg, *c.want.Min, *c.want.Max)
			}
		}
	}
}

// seriesOf is Series computed from rs: the reference for
// SeriesMatchesReadings.
func seriesOf(rs []reading.Reading, device string, from, to time.Time, bucket time.Duration) []store.SeriesPoint {
	type acc struct {
		n             int
		sum, min, max float64
	}
	add := func(a *acc, v *float64) {
		if v == nil {
			return
		}
		if a.n == 0 || *v < a.min {
			a.min = *v
		}
		if a.n == 0 || *v > a.max {
			a.max = *v
		}
		a.sum += *v
		a.n++
	}
	stats := func(a acc) store.Stats {
		if a.n == 0 {
			return store.Stats{}
		}
		return store.Stats{Avg: f(a.sum / float64(a.n)), Min: f(a.min), Max: f(a.max)}
	}
	var (
		out  []store.SeriesPoint
		accs [6]acc
	)
	flush := func() {
		if len(out) == 0 {
			return
		}
		p := &out[len(out)-1]
		p.Temperature, p.Humidity, p.VoltageV = stats(accs[0]), stats(accs[1]), stats(accs[2])
		p.CurrentMA, p.PowerMW, p.PressureHPa = stats(accs[3]), stats(accs[4]), stats(accs[5])
		accs = [6]acc{}
	}
	for _, r := range rs { // rs is in time order per device
		if r.DeviceID != device || r.RecordedAt.Before(from) || !r.RecordedAt.Before(to) {
			continue
		}
		start := store.BucketStart(r.RecordedAt, bucket)
		if len(out) == 0 || !out[len(out)-1].Time.Equal(start) {
			flush()
			out = append(out, store.SeriesPoint{Time: start})
		}
		out[len(out)-1].Count++
		var p struct {
			Sensor struct {
				BMP280 struct {
					PressureHPa any `json:"pressure_hpa"`
				} `json:"bmp280"`
			} `json:"sensor"`
		}
		var pressure *float64
		if json.Unmarshal(r.Payload, &p) == nil {
			if v, ok := p.Sensor.BMP280.PressureHPa.(float64); ok {
				pressure = &v
			}
		}
		for i, v := range []*float64{r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW, pressure} {
			add(&accs[i], v)
		}
	}
	flush()
	return out
}
