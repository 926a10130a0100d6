// Package rollup computes the hourly summaries both stores keep beside the
// raw readings: per device and UTC hour, how many readings there were, the
// mean, count, minimum and maximum of each metric, and the energy integrated
// from power. Charts of a month and energy over a year then read a few
// hundred summaries instead of a hundred thousand readings.
//
// Compute says what a device's hours hold, from its readings. The stores
// do not compute them while storing readings: an insert only marks the
// hours it changed as pending, a materializer recomputes those hours in
// the background, and reads compute the hours still pending from the
// readings, so every answer equals Compute over what is stored.
package rollup

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
)

// Metric names one summarised field of a reading: one of the quantities
// (thermowatt.Quantities), whose order is the stores' column order.
type Metric = thermowatt.Quantity

// NumMetrics is how many fields a roll-up summarises.
const NumMetrics = thermowatt.NumQuantities

// Names are the metrics' column prefixes in both stores: the quantities'
// names.
var Names = func() [NumMetrics]string {
	var names [NumMetrics]string
	for _, q := range thermowatt.Quantities {
		names[q] = q.Name()
	}
	return names
}()

// Columns are the value columns of the stores' hourly_rollups tables, in
// Row's order: readings, then mean, n, min and max of each metric, then
// energy_wh and covered_s.
var Columns = func() string {
	cols := []string{"readings"}
	for _, m := range Names {
		cols = append(cols, m+"_avg", m+"_n", m+"_min", m+"_max")
	}
	return strings.Join(append(cols, "energy_wh", "covered_s"), ", ")
}()

// Width is the width of one roll-up.
const Width = time.Hour

const widthMicros = int64(Width / time.Microsecond)

// Agg summarises one metric over the readings of an hour that have it.
// N == 0 means none has, and then Mean, Min and Max mean nothing.
//
// It keeps the mean rather than the sum: a sum of finite values can
// overflow (two readings of 1.7e308 make +Inf, which no JSON can carry and
// PostgreSQL refuses to store), whereas a mean lies between Min and Max
// and so is finite whenever they are. Values that are not finite (SQLite
// reads 1e400 in a payload as +Inf) are not counted: a summary is of
// numbers.
type Agg struct {
	Mean     float64
	N        int64
	Min, Max float64
}

// Add counts one value.
func (a *Agg) Add(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	a.Merge(Agg{Mean: v, N: 1, Min: v, Max: v})
}

// Merge adds what b summarises. The mean moves towards b's by b's share
// of the count (Welford's update, as exact as a sum for the values
// sensors send); when the two means are so far apart that their
// difference overflows, it is taken as the two means weighted, each term
// at most the larger magnitude. Either way it is held within [Min, Max],
// where rounding alone could otherwise push it.
func (a *Agg) Merge(b Agg) {
	if b.N == 0 {
		return
	}
	if a.N == 0 {
		*a = b
		return
	}
	n := a.N + b.N
	mean := a.Mean + (b.Mean-a.Mean)*float64(b.N)/float64(n)
	if math.IsInf(mean, 0) || math.IsNaN(mean) {
		mean = a.Mean*(float64(a.N)/float64(n)) + b.Mean*(float64(b.N)/float64(n))
	}
	a.Min, a.Max = min(a.Min, b.Min), max(a.Max, b.Max)
	a.Mean, a.N = min(max(mean, a.Min), a.Max), n
}

// Finite reports whether every figure of r is a finite number, as a
// stored hour must be.
func (r Row) Finite() bool {
	ok := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for _, a := range r.Metrics {
		if a.N > 0 && !(ok(a.Mean) && ok(a.Min) && ok(a.Max)) {
			return false
		}
	}
	return ok(r.EnergyWh) && ok(r.CoveredS)
}

// Row is one device's hour, as a store keeps it.
type Row struct {
	DeviceID string
	Hour     time.Time // start, UTC
	Count    int64     // readings
	Metrics  [NumMetrics]Agg
	// EnergyWh is the energy drawn in the hour, in watt-hours: the area
	// under power between consecutive readings with power (trapezoids),
	// never across a gap longer than the device's MaxGap.
	EnergyWh float64
	// CoveredS is how many seconds of the hour those trapezoids span: the
	// part of the hour whose energy is known.
	CoveredS float64
}

// Merge adds what o holds (same device and hour).
func (r *Row) Merge(o Row) {
	r.Count += o.Count
	for m := range r.Metrics {
		r.Metrics[m].Merge(o.Metrics[m])
	}
	r.EnergyWh += o.EnergyWh
	r.CoveredS += o.CoveredS
}

// Sample is one stored reading as the roll-ups see it.
type Sample struct {
	At     int64 // recorded_at, unix microseconds
	Values [NumMetrics]*float64
}

// MaxGap is the longest span between two readings that energy is
// integrated across: twice the device's expected interval. A longer one is
// an outage, whose energy is unknown rather than a straight line.
func MaxGap(expectedIntervalS int) int64 {
	if expectedIntervalS < 1 {
		expectedIntervalS = 1
	}
	return 2 * int64(expectedIntervalS) * int64(time.Second/time.Microsecond)
}

// HourOf returns the start of the hour holding t (unix microseconds).
func HourOf(us int64) int64 {
	h := us - us%widthMicros
	if us%widthMicros < 0 {
		h -= widthMicros
	}
	return h
}

// Compute returns one device's hours in [from, to) (hour-aligned unix
// microseconds) from its readings. samples are every stored sample of the
// device in at least [from - maxGap, to + maxGap], sorted by time: a
// reading farther away joins no trapezoid with one inside. Hours with
// neither readings nor energy are absent.
func Compute(deviceID string, samples []Sample, maxGap, from, to int64) []Row {
	hours := map[int64]*Row{}
	row := func(h int64) *Row {
		r := hours[h]
		if r == nil {
			r = &Row{DeviceID: deviceID, Hour: time.UnixMicro(h).UTC()}
			hours[h] = r
		}
		return r
	}
	var prev *Sample // the last sample with power
	for i := range samples {
		s := &samples[i]
		r := row(HourOf(s.At))
		r.Count++
		for m, v := range s.Values {
			if v != nil {
				r.Metrics[m].Add(*v)
			}
		}
		if s.Values[thermowatt.PowerMW] == nil {
			continue
		}
		if prev != nil {
			trapezoid(row, prev, s, maxGap)
		}
		prev = s
	}
	var out []Row
	for _, r := range sorted(hours) {
		h := r.Hour.UnixMicro()
		if h >= from && h < to && (r.Count > 0 || r.CoveredS > 0) {
			out = append(out, r)
		}
	}
	return out
}

// trapezoid adds the energy between a and b (both with power) to the
// hours it spans, cut at each hour's edge with power interpolated linearly
// there.
func trapezoid(row func(int64) *Row, a, b *Sample, maxGap int64) {
	span := b.At - a.At
	if span <= 0 || span > maxGap {
		return
	}
	pa, pb := *a.Values[thermowatt.PowerMW], *b.Values[thermowatt.PowerMW]
	// Interpolated as a weighted mean, and averaged as halves, so that no
	// step overflows whatever the power: each hour's energy is then at
	// most the largest power over a thousand (mW × 3600 s / 3.6e6).
	power := func(t int64) float64 {
		f := float64(t-a.At) / float64(span)
		return pa*(1-f) + pb*f
	}
	for t0 := a.At; t0 < b.At; {
		h := HourOf(t0)
		t1 := min(b.At, h+widthMicros)
		p0, p1 := pa, pb
		if t0 != a.At {
			p0 = power(t0)
		}
		if t1 != b.At {
			p1 = power(t1)
		}
		seconds := float64(t1-t0) / 1e6
		r := row(h)
		// mW × s → Wh: / 1000 (W) / 3600 (h)
		r.EnergyWh += (p0/2 + p1/2) * (seconds / 3.6e6)
		r.CoveredS += seconds
		t0 = t1
	}
}

func sorted(hours map[int64]*Row) []Row {
	keys := make([]int64, 0, len(hours))
	for h := range hours {
		keys = append(keys, h)
	}
	slices.Sort(keys)
	out := make([]Row, len(keys))
	for i, h := range keys {
		out[i] = *hours[h]
	}
	return out
}

// NewByDevice returns the devices with readings stored (stored[i] for
// rs[i]) in order of first appearance, and each one's new times (unix
// microseconds) in the order of rs: ascending when rs is sorted by device
// and time, as store.Batch sorts it.
func NewByDevice(rs []thermowatt.Reading, stored []bool) ([]string, map[string][]int64) {
	news := map[string][]int64{}
	var ids []string
	for i, r := range rs {
		if !stored[i] {
			continue
		}
		if _, ok := news[r.DeviceID]; !ok {
			ids = append(ids, r.DeviceID)
		}
		news[r.DeviceID] = append(news[r.DeviceID], r.RecordedAt.UnixMicro())
	}
	return ids, news
}
