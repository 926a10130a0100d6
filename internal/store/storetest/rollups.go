package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// rollupTests check the hourly roll-ups against an aggregation of the
// readings stored, computed from scratch by rollup.Compute. Part of Run.
var rollupTests = []storeTest{
	{"RollupsMatchReadings", func(t *testing.T, s store.Store) { testRollupsMatchReadings(t, s, materializerPaused) }},
	{"RollupsMatchReadingsMaterialized", func(t *testing.T, s store.Store) { testRollupsMatchReadings(t, s, materializerCaughtUp) }},
	{"RollupsMatchReadingsRacingMaterializer", func(t *testing.T, s store.Store) { testRollupsMatchReadings(t, s, materializerRacing) }},
	{"ExtremeValuesAnswerFiniteFigures", testExtremeValuesAnswerFiniteFigures},
	{"EnergyOfAConstantLoad", testEnergyOfAConstantLoad},
	{"IntervalChangeLeavesHoursToTheMaterializer", testIntervalChangeLeavesHoursToTheMaterializer},
}

// RunRollups runs Run's roll-up tests alone, on stores from open: for a
// store set to work in smaller steps than its defaults.
func RunRollups(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range rollupTests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// materializerMode is how the materializer runs beside the writes of
// testRollupsMatchReadings: the answers are the same in every mode.
type materializerMode int

const (
	// materializerPaused never runs: every hour written is pending, and
	// reads compute it from the readings.
	materializerPaused materializerMode = iota
	// materializerCaughtUp runs to the end before every comparison: reads
	// answer from the materialized hours alone.
	materializerCaughtUp
	// materializerRacing runs all along, in small batches, while batches
	// are stored and while the answers are read.
	materializerRacing
)

// catchUp materializes every pending hour and checks that none is left.
// A pass skips the hours another materializer holds (SKIP LOCKED): one
// stopped a moment ago may still hold some until the server has rolled
// its transaction back, so a pass that leaves hours is tried again, a
// bounded number of times.
func catchUp(t *testing.T, s store.Store) {
	t.Helper()
	var lag store.RollupLag
	for range 50 {
		if err := store.MaterializePass(t.Context(), s, 7, time.Now().Add(time.Hour)); err != nil {
			t.Fatalf("MaterializePass: %v", err)
		}
		var err error
		if lag, err = s.RollupLag(t.Context()); err != nil {
			t.Fatal(err)
		}
		if lag.Pending == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("after 50 full passes %d hours are pending", lag.Pending)
}

// rollupModel is what the roll-ups must equal: every reading stored, by
// device, and each device's expected interval.
type rollupModel struct {
	mu       sync.Mutex
	stored   map[string]map[int64]thermowatt.Reading
	interval map[string]int
}

func (m *rollupModel) add(rs []thermowatt.Reading, res store.InsertResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, r := range rs {
		if res.Inserted[i] {
			m.stored[r.DeviceID][r.RecordedAt.UnixMicro()] = r
		}
	}
}

// hours is rollup.Compute over the device's readings.
func (m *rollupModel) hours(device string) []rollup.Row {
	var samples []rollup.Sample
	for at, r := range m.stored[device] {
		samples = append(samples, rollup.Sample{At: at, Values: [rollup.NumMetrics]*float64{
			r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW, modelPressure(r.Payload)}})
	}
	slices.SortFunc(samples, func(a, b rollup.Sample) int { return int(a.At - b.At) })
	return rollup.Compute(device, samples, rollup.MaxGap(m.interval[device]), math.MinInt64/2, math.MaxInt64/2)
}

// compareRollups checks a store's hours of every device with the model's.
func compareRollups(t *testing.T, s store.Store, m *rollupModel, when string) {
	t.Helper()
	for device := range m.stored {
		got, err := s.RollupHours(t.Context(), store.RollupQuery{DeviceIDs: []string{device},
			From: base.Add(-30 * 24 * time.Hour), To: base.Add(30 * 24 * time.Hour)})
		if err != nil {
			t.Fatalf("%s: RollupHours(%s): %v", when, device, err)
		}
		// What an addition and its later removal leave is rounding, not an hour.
		got = slices.DeleteFunc(got, func(r rollup.Row) bool {
			return r.Count == 0 && math.Abs(r.CoveredS) < 1e-6 && math.Abs(r.EnergyWh) < 1e-9
		})
		// EnergyHours is RollupHours' energy columns.
		energy, err := s.EnergyHours(t.Context(), device, base.Add(-30*24*time.Hour), base.Add(30*24*time.Hour))
		if err != nil {
			t.Fatalf("%s: EnergyHours(%s): %v", when, device, err)
		}
		energy = slices.DeleteFunc(energy, func(h store.HourEnergy) bool {
			return math.Abs(h.CoveredS) < 1e-6 && math.Abs(h.Wh) < 1e-9
		})
		withEnergy := slices.DeleteFunc(slices.Clone(got), func(r rollup.Row) bool {
			return math.Abs(r.CoveredS) < 1e-6 && math.Abs(r.EnergyWh) < 1e-9
		})
		if len(energy) != len(withEnergy) {
			t.Fatalf("%s: %s: EnergyHours has %d hours with energy, RollupHours %d", when, device, len(energy), len(withEnergy))
		}
		for i, h := range energy {
			if r := withEnergy[i]; !h.Hour.Equal(r.Hour) || h.Wh != r.EnergyWh || h.CoveredS != r.CoveredS {
				t.Fatalf("%s: %s: EnergyHours %+v, RollupHours %v %v Wh %v s", when, device, h, r.Hour, r.EnergyWh, r.CoveredS)
			}
		}
		want := m.hours(device)
		if len(got) != len(want) {
			t.Fatalf("%s: %s has %d hours, want %d", when, device, len(got), len(want))
		}
		near := func(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }
		for i, w := range want {
			g := got[i]
			ok := g.Hour.Equal(w.Hour) && g.Count == w.Count &&
				near(g.EnergyWh, w.EnergyWh, 1e-9) && near(g.CoveredS, w.CoveredS, 1e-9)
			for k := range w.Metrics {
				a, b := g.Metrics[k], w.Metrics[k]
				ok = ok && a.N == b.N && near(a.Mean, b.Mean, 1e-9) && (b.N == 0 || a.Min == b.Min && a.Max == b.Max)
			}
			if !ok {
				t.Fatalf("%s: %s hour %v:\n got %+v\nwant %+v", when, device, w.Hour, g, w)
			}
		}
		compareAnswers(t, s, device, want, when)
	}
}

// compareAnswers checks what Series (hourly and daily buckets, which read
// the roll-ups) and Energy (daily) answer for device against the model's
// hours, want.
func compareAnswers(t *testing.T, s store.Store, device string, want []rollup.Row, when string) {
	t.Helper()
	from, to := base.Add(-30*24*time.Hour).Truncate(24*time.Hour), base.Add(30*24*time.Hour).Truncate(24*time.Hour)
	for _, bucket := range []time.Duration{time.Hour, 24 * time.Hour} {
		buckets := map[int64]*rollup.Row{}
		var order []int64
		for _, h := range want {
			if h.Count == 0 {
				continue
			}
			k := store.BucketStart(h.Hour, bucket).UnixMicro()
			if buckets[k] == nil {
				buckets[k] = &rollup.Row{Hour: store.BucketStart(h.Hour, bucket)}
				order = append(order, k)
			}
			buckets[k].Merge(h)
		}
		got := series(t, s, store.SeriesQuery{DeviceID: device, From: from, To: to, Bucket: bucket})
		if len(got) != len(order) {
			t.Fatalf("%s: %s series by %v: %d buckets, want %d", when, device, bucket, len(got), len(order))
		}
		for i, p := range got {
			w := buckets[order[i]]
			if !p.Time.Equal(w.Hour) || p.Count != w.Count {
				t.Fatalf("%s: %s series by %v: bucket %v with %d readings, want %v with %d", when, device, bucket, p.Time, p.Count, w.Hour, w.Count)
			}
			for m, st := range stats(p) {
				what := fmt.Sprintf("%s: %s series by %v at %v %s", when, device, bucket, p.Time, seriesFields[m])
				if a := w.Metrics[m]; a.N == 0 {
					wantNoStats(t, what, st)
				} else {
					wantStats(t, what, st, a.Mean, a.Min, a.Max)
				}
			}
		}
	}
	energy, err := store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: device, From: from, To: to, Bucket: store.EnergyDay})
	if err != nil {
		t.Fatalf("%s: Energy(%s): %v", when, device, err)
	}
	wantWh := map[int64]float64{}
	for _, h := range want {
		wantWh[h.Hour.Truncate(24*time.Hour).UnixMicro()] += h.EnergyWh
	}
	for _, e := range energy {
		if w := wantWh[e.Start.UnixMicro()]; math.Abs(e.Wh-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Fatalf("%s: %s energy of the day %v = %v Wh, want %v", when, device, e.Start, e.Wh, w)
		}
	}
}

// Readings of three devices arrive as devices and backfills send them:
// single readings, batches large enough for PostgreSQL's COPY, out of
// order, repeated within and across batches, several batches of one
// device at once; then a device's expected interval changes and
// retention cuts through an hour. After each step the roll-ups equal an
// aggregation of the readings stored.
//
// The materializer is paused, caught up before every comparison, or
// racing the writes and the reads (mode): the answers are the same.
func testRollupsMatchReadings(t *testing.T, s store.Store, mode materializerMode) {
	rng := rand.New(rand.NewPCG(3, 5))
	m := &rollupModel{stored: map[string]map[int64]thermowatt.Reading{}, interval: map[string]int{}}
	check := func(when string) {
		t.Helper()
		if mode == materializerCaughtUp {
			catchUp(t, s)
		}
		compareRollups(t, s, m, when)
	}
	stopRacing := func() {}
	if mode == materializerRacing {
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			defer close(done)
			store.RunMaterializer(ctx, s, store.MaterializerOptions{Interval: time.Millisecond, Batch: 3}, slog.New(slog.DiscardHandler))
		}()
		stopRacing = func() { stop(); <-done }
		t.Cleanup(stopRacing)
	}
	devices := []string{"e1", "e2", "e3"}
	var pool []thermowatt.Reading
	for _, d := range devices {
		if _, err := s.CreateDevice(t.Context(), d, base); err != nil {
			t.Fatal(err)
		}
		m.stored[d], m.interval[d] = map[int64]thermowatt.Reading{}, 300
		// Two days at irregular intervals, with gaps longer than twice
		// the expected interval; some readings without power.
		for at := time.Duration(0); at < 48*time.Hour; at += time.Duration(30+rng.IntN(800)) * time.Second {
			r := thermowatt.Reading{DeviceID: d, RecordedAt: base.Add(at).Truncate(time.Microsecond),
				Temperature: f(math.Round(rng.Float64()*3000) / 100)}
			if rng.IntN(6) > 0 {
				r.PowerMW = f(math.Round(rng.Float64()*500000) / 100)
			}
			if rng.IntN(3) == 0 {
				r.Payload = json.RawMessage(pressurePayloads[rng.IntN(len(pressurePayloads))].payload)
			}
			pool = append(pool, r)
		}
	}
	pick := func(n int) []thermowatt.Reading {
		out := make([]thermowatt.Reading, n)
		for i := range out {
			out[i] = pool[rng.IntN(len(pool))]
		}
		return out
	}
	store1 := func(rs []thermowatt.Reading) {
		m.add(rs, insert(t, s, rs, base))
	}
	for round := range 40 {
		switch round % 4 {
		case 0, 1: // a device's single reading, or a few
			store1(pick(1 + rng.IntN(3)))
		case 2: // a backfill: large, out of order, with repeats
			store1(pick(150 + rng.IntN(100)))
		case 3: // several batches at once, all of one device
			var wg sync.WaitGroup
			for range 4 {
				var rs []thermowatt.Reading
				for _, r := range pick(60) {
					r.DeviceID = "e1"
					rs = append(rs, r)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					res, err := s.InsertReadings(t.Context(), rs, base)
					if err != nil {
						t.Errorf("InsertReadings: %v", err)
						return
					}
					m.add(rs, res)
				}()
			}
			wg.Wait()
		}
		if round%10 == 9 {
			check(fmt.Sprintf("after round %d", round))
		}
	}
	if err := s.SetExpectedInterval(t.Context(), "e2", 120); err != nil {
		t.Fatal(err)
	}
	m.interval["e2"] = 120
	check("after e2's interval became 120 s")

	// Everything, so that the hours are dense: e2's readings now joined
	// only across gaps of up to 240 s.
	for start := 0; start < len(pool); start += 200 {
		store1(pool[start:min(start+200, len(pool))])
	}
	for _, r := range pool { // and one at a time, the path of single readings
		if r.DeviceID == "e2" && rng.IntN(4) == 0 {
			store1([]thermowatt.Reading{r})
		}
	}
	check("after every reading")

	cutoff := base.Add(17*time.Hour + 23*time.Minute + 7*time.Second)
	for {
		n, err := s.DeleteReadingsBefore(t.Context(), cutoff, 50)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	for _, d := range devices {
		for at := range m.stored[d] {
			if at < cutoff.UnixMicro() {
				delete(m.stored[d], at)
			}
		}
	}
	check("after retention")
	if mode != materializerPaused {
		// The racing materializer stopped first: hours it holds claimed
		// (SKIP LOCKED) would be skipped by the pass and still count as
		// pending until its transaction ends.
		stopRacing()
		catchUp(t, s)
		compareRollups(t, s, m, "after the materializer caught up")
	}
}

// A change of a device's interval does not recompute its roll-ups in the
// call: it marks every hour of its readings pending, so that energy
// answers at once with the new interval's gaps (computed from the
// readings), and the materializer's pass leaves the same answer.
// Readings 10 minutes apart: joined at an interval of 300 s (gaps up to
// 600 s), not at 120 s (up to 240 s).
func testIntervalChangeLeavesHoursToTheMaterializer(t *testing.T, s store.Store) {
	day := time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)
	var rs []thermowatt.Reading
	for at := time.Duration(0); at <= 3*time.Hour; at += 10 * time.Minute {
		rs = append(rs, thermowatt.Reading{DeviceID: "iv1", RecordedAt: day.Add(at), PowerMW: f(1000)})
	}
	insert(t, s, rs, day)
	if err := s.SetExpectedInterval(t.Context(), "iv1", 300); err != nil {
		t.Fatal(err)
	}
	catchUp(t, s)
	energy := func(when string, want float64) {
		t.Helper()
		got, err := store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: "iv1", From: day, To: day.Add(3 * time.Hour), Bucket: store.EnergyDay})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || math.Abs(got[0].Wh-want) > 1e-9 {
			t.Errorf("%s: Energy = %+v, want %v Wh", when, got, want)
		}
	}
	energy("interval 300 s, materialized", 3)
	if err := s.SetExpectedInterval(t.Context(), "iv1", 120); err != nil {
		t.Fatal(err)
	}
	lag, err := s.RollupLag(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if lag.Pending < 4 {
		t.Errorf("after the interval changed %d hours are pending, want the device's 4 (the call computes none)", lag.Pending)
	}
	energy("interval 120 s, hours pending", 0)
	catchUp(t, s)
	energy("interval 120 s, materialized", 0)
}

// A device drawing a steady 1 W, reading every 5 minutes for two days
// with a 20-minute outage: 24 Wh on the first day, the outage's missing
// share off the second, in every zone's buckets.
func testEnergyOfAConstantLoad(t *testing.T, s store.Store) {
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var rs []thermowatt.Reading
	for at := time.Duration(0); at <= 48*time.Hour; at += 5 * time.Minute {
		if at > 30*time.Hour && at < 30*time.Hour+20*time.Minute {
			continue // readings at 30:00 and 30:20, 20 minutes apart: not joined
		}
		rs = append(rs, thermowatt.Reading{DeviceID: "w1", RecordedAt: day.Add(at), PowerMW: f(1000)})
	}
	insert(t, s, rs, day)
	got, err := store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: "w1", From: day, To: day.Add(48 * time.Hour), Bucket: store.EnergyDay})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.EnergyPoint{{Start: day, Wh: 24, Coverage: 1}, {Start: day.Add(24 * time.Hour), Wh: 24 - 20.0/60, Coverage: 1 - 20.0/60/24}}
	if len(got) != 2 {
		t.Fatalf("Energy = %+v, want %+v", got, want)
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || math.Abs(got[i].Wh-want[i].Wh) > 1e-9 || math.Abs(got[i].Coverage-want[i].Coverage) > 1e-12 {
			t.Errorf("Energy[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	got, err = store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: "w1", From: day, To: day.Add(time.Hour), Bucket: store.EnergyDay, Location: tokyo})
	if err != nil {
		t.Fatal(err)
	}
	// Tokyo's 20 November runs from 19 November 15:00 UTC, and the
	// readings start 9 hours into it: 15 of its hours are known.
	if len(got) != 1 || !got[0].Start.Equal(day.Add(-9*time.Hour)) || math.Abs(got[0].Wh-15) > 1e-9 || math.Abs(got[0].Coverage-15.0/24) > 1e-12 {
		t.Errorf("Energy in Tokyo = %+v, want one day from %v with 15 Wh, coverage 15/24", got, day.Add(-9*time.Hour))
	}
	if _, err := store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: "w1", From: day, To: day.Add(time.Hour), Bucket: "week"}); err == nil {
		t.Error("Energy with bucket week: no error")
	}
	kolkata, _ := time.LoadLocation("Asia/Kolkata")
	if _, err := store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: "w1", From: day, To: day.Add(time.Hour), Bucket: store.EnergyDay, Location: kolkata}); err == nil {
		t.Error("Energy per day in Asia/Kolkata (UTC+5:30): no error")
	}
}

// Readings at the edge of float64 stored in one hour (pressure 1.7e308
// twice, the other metrics at both extremes, and 1e400 and -1e400 in a
// payload, which SQLite reads as infinities) are stored, and every answer
// of Series (raw and from the roll-ups) and Energy holds finite figures
// that encode as JSON, before and after the materializer.
func testExtremeValuesAnswerFiniteFigures(t *testing.T, s store.Store) {
	const big = 1.7e308
	hour := base.Truncate(time.Hour)
	var rs []thermowatt.Reading
	for i, p := range []string{
		`{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":1e400}}}`,
		`{"sensor":{"bmp280":{"pressure_hpa":-1e400}}}`,
	} {
		sign := float64(1 - 2*(i%2))
		rs = append(rs, thermowatt.Reading{DeviceID: "x1", RecordedAt: hour.Add(time.Duration(i) * time.Minute),
			Temperature: f(sign * big), Humidity: f(big), VoltageV: f(math.MaxFloat64), CurrentMA: f(-math.MaxFloat64),
			PowerMW: f(sign * math.MaxFloat64), Payload: json.RawMessage(p)})
	}
	res := insert(t, s, rs, base)
	for i, ok := range res.Inserted {
		if !ok {
			t.Fatalf("reading %d not stored", i)
		}
	}
	finite := func(v *float64) bool { return v == nil || !math.IsNaN(*v) && !math.IsInf(*v, 0) }
	answers := func(when string) {
		t.Helper()
		for _, bucket := range []time.Duration{time.Minute, 5 * time.Minute, time.Hour, 24 * time.Hour} {
			pts := series(t, s, store.SeriesQuery{DeviceID: "x1", From: hour.Add(-24 * time.Hour), To: hour.Add(24 * time.Hour), Bucket: bucket})
			if len(pts) == 0 {
				t.Fatalf("%s: series by %v: no bucket", when, bucket)
			}
			for _, p := range pts {
				for m, st := range stats(p) {
					if !finite(st.Avg) || !finite(st.Min) || !finite(st.Max) {
						t.Errorf("%s: series by %v at %v: %s = %s, not finite", when, bucket, p.Time, seriesFields[m], showStats(st))
					}
				}
				if _, err := json.Marshal(p); err != nil {
					t.Errorf("%s: series by %v: %v", when, bucket, err)
				}
			}
			if bucket == time.Hour {
				if pr := pts[0].Stats[thermowatt.PressureHPa]; pr.N != 2 || *pr.Avg != big {
					t.Errorf("%s: pressure of the hour = %s over %d readings, want avg 1.7e308 over the 2 finite ones", when, showStats(pr), pr.N)
				}
			}
		}
		energy, err := store.Energy(t.Context(), s, store.EnergyQuery{DeviceID: "x1", From: hour.Add(-24 * time.Hour), To: hour.Add(24 * time.Hour), Bucket: store.EnergyDay})
		if err != nil {
			t.Fatalf("%s: Energy: %v", when, err)
		}
		for _, e := range energy {
			if math.IsNaN(e.Wh) || math.IsInf(e.Wh, 0) || math.IsNaN(e.Coverage) || math.IsInf(e.Coverage, 0) {
				t.Errorf("%s: energy %+v, not finite", when, e)
			}
			if _, err := json.Marshal(e); err != nil {
				t.Errorf("%s: energy: %v", when, err)
			}
		}
	}
	answers("pending")
	catchUp(t, s)
	answers("materialized")
}
