package rollup

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

func power(mw float64) [NumMetrics]*float64 {
	var v [NumMetrics]*float64
	v[thermowatt.PowerMW] = &mw
	return v
}

const second = int64(time.Second / time.Microsecond)

// A constant 1 W for a whole hour is 1 Wh, cut exactly at the hour's edges.
func TestTrapezoidsSplitAtTheHour(t *testing.T) {
	h := int64(1_800_000_000) * second / 3600 * 3600 // an hour boundary
	var samples []Sample
	for at := h - 30*60*second; at <= h+90*60*second; at += 300 * second {
		samples = append(samples, Sample{At: at, Values: power(1000)})
	}
	rows := Compute("d", samples, MaxGap(300), h, h+3600*second)
	if len(rows) != 1 {
		t.Fatalf("got %d rows, want 1", len(rows))
	}
	if r := rows[0]; math.Abs(r.EnergyWh-1) > 1e-12 || r.CoveredS != 3600 || r.Count != 12 {
		t.Fatalf("got %+v, want 1 Wh over 3600 s from 12 readings", r)
	}
}

// A power ramp from 0 to 2 W across an hour's edge is split where the line
// crosses it: a quarter of the energy before, three quarters after.
func TestTrapezoidInterpolatesAtTheEdge(t *testing.T) {
	h := int64(1_800_000_000) * second / 3600 * 3600
	a, b := Sample{At: h - 300*second, Values: power(0)}, Sample{At: h + 300*second, Values: power(2000)}
	rows := Compute("d", []Sample{a, b}, MaxGap(300), h-3600*second, h+3600*second)
	total := 1000.0 * 600 / 3.6e6 // average 1 W over 600 s
	if len(rows) != 2 || math.Abs(rows[0].EnergyWh-total/4) > 1e-12 || math.Abs(rows[1].EnergyWh-3*total/4) > 1e-12 {
		t.Fatalf("got %+v, want %.6f then %.6f Wh", rows, total/4, 3*total/4)
	}
}

// No energy is integrated across a gap longer than twice the expected
// interval, and readings without power neither add energy nor break it.
func TestGapsAndReadingsWithoutPower(t *testing.T) {
	var none [NumMetrics]*float64
	samples := []Sample{
		{At: 0, Values: power(1000)},
		{At: 100 * second, Values: none},
		{At: 600 * second, Values: power(1000)},  // 600 s: within 2 × 300 s
		{At: 1201 * second, Values: power(1000)}, // 601 s: an outage
	}
	rows := Compute("d", samples, MaxGap(300), 0, 3600*second)
	if len(rows) != 1 || rows[0].CoveredS != 600 || rows[0].Count != 4 || rows[0].Metrics[thermowatt.PowerMW].N != 3 {
		t.Fatalf("got %+v, want 600 s covered by 4 readings, 3 with power", rows)
	}
}

// An hour computed from the readings within one maximal gap around it
// (what the materializer and the reads of pending hours read) is the hour
// computed from every reading.
func TestAnHourNeedsOnlyItsWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	maxGap := MaxGap(300)
	for round := range 60 {
		// Readings every ~5 minutes over a day with gaps, some without power.
		var all []Sample
		for at := int64(0); at < 86400*second; at += int64(rng.IntN(700)+1) * second {
			v := power(rng.Float64() * 5000)
			if rng.IntN(5) == 0 {
				v[thermowatt.PowerMW] = nil
			}
			t := rng.Float64() * 30
			v[thermowatt.Temperature] = &t
			all = append(all, Sample{At: at, Values: v})
		}
		whole := Compute("d", all, maxGap, -3600*second, 90000*second)
		for _, w := range whole {
			h := w.Hour.UnixMicro()
			var window []Sample
			for _, s := range all {
				if s.At >= h-maxGap && s.At <= h+widthMicros+maxGap {
					window = append(window, s)
				}
			}
			got := Compute("d", window, maxGap, h, h+widthMicros)
			if len(got) != 1 || got[0].Count != w.Count || got[0].Metrics[thermowatt.PowerMW] != w.Metrics[thermowatt.PowerMW] ||
				got[0].Metrics[thermowatt.Temperature] != w.Metrics[thermowatt.Temperature] ||
				math.Abs(got[0].EnergyWh-w.EnergyWh) > 1e-9 || math.Abs(got[0].CoveredS-w.CoveredS) > 1e-6 {
				t.Fatalf("round %d, hour %v: from its window %+v, from every reading %+v", round, w.Hour, got, w)
			}
		}
	}
}

// Readings at the edge of float64 (1.7e308 twice in an hour, power
// swinging between the extremes) and values that are not numbers at all
// (+Inf, as SQLite reads 1e400 from a payload) make an hour whose every
// figure is finite, with the mean of the finite values.
func TestExtremeValuesMakeFiniteHours(t *testing.T) {
	big := 1.7e308
	inf := math.Inf(1)
	v := func(x float64) *float64 { return &x }
	samples := []Sample{
		{At: 0, Values: [NumMetrics]*float64{thermowatt.PressureHPa: v(big), thermowatt.PowerMW: v(big), thermowatt.Temperature: v(-big)}},
		{At: 60e6, Values: [NumMetrics]*float64{thermowatt.PressureHPa: v(big), thermowatt.PowerMW: v(-big), thermowatt.Temperature: v(-big)}},
		{At: 120e6, Values: [NumMetrics]*float64{thermowatt.PressureHPa: v(inf), thermowatt.PowerMW: v(big), thermowatt.Temperature: v(big)}},
		{At: 180e6, Values: [NumMetrics]*float64{thermowatt.PressureHPa: v(-inf), thermowatt.PowerMW: v(math.MaxFloat64)}},
	}
	rows := Compute("x", samples, MaxGap(300), 0, widthMicros)
	if len(rows) != 1 {
		t.Fatalf("Compute = %d hours, want 1", len(rows))
	}
	r := rows[0]
	if !r.Finite() {
		t.Fatalf("hour holds a non-finite figure: %+v", r)
	}
	if p := r.Metrics[thermowatt.PressureHPa]; p.N != 2 || p.Mean != big || p.Min != big || p.Max != big {
		t.Errorf("pressure = %+v, want the two finite values: n 2, mean/min/max 1.7e308", p)
	}
	if tm := r.Metrics[thermowatt.Temperature]; tm.N != 3 || math.Abs(tm.Mean-(-big/3)) > 1e295 {
		t.Errorf("temperature = %+v, want n 3, mean -1.7e308/3", tm)
	}
}
