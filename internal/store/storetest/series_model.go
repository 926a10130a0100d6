package storetest

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// seriesModelTests check Series against a model: the same buckets
// computed in Go from the readings that were stored. A backend may answer
// Series from something other than the rows themselves (PostgreSQL reads
// a covering key and a pressure column filled at insert; SQLite an index
// and buckets folded in Go), so these keep the answer equal to the
// readings, whatever the payloads. Part of Run.
var seriesModelTests = []storeTest{
	{"SeriesMatchesReadings", testSeriesMatchesReadings},
	{"SeriesKeepsFirstOfDuplicates", testSeriesKeepsFirstOfDuplicates},
}

// pressurePayloads are payloads of every shape the pressure may take, with
// the pressure Series must read from each (nil: none).
var pressurePayloads = []struct {
	payload  string
	pressure *float64
}{
	{`{"sensor":{"bmp280":{"temperature_c":20.5,"pressure_hpa":1013.25}}}`, f(1013.25)},
	{`{"sensor":{"bmp280":{"pressure_hpa":998}}}`, f(998)},
	{`{"sensor":{"bmp280":{"pressure_hpa":-0.5e1}},"device":{"fw":"1.2"}}`, f(-5)},
	{`{"sensor":{"bmp280":{"pressure_hpa":"1013"}}}`, nil},
	{`{"sensor":{"bmp280":{"pressure_hpa":null}}}`, nil},
	{`{"sensor":{"bmp280":{"pressure_hpa":[1013]}}}`, nil},
	{`{"sensor":{"bmp280":{"pressure_hpa":{"v":1013}}}}`, nil},
	{`{"sensor":{"bmp280":1013}}`, nil},
	{`{"sensor":"bmp280"}`, nil},
	{`{"voltage_v":5.02,"current_ma":100.0,"power_mw":500.0}`, nil},
}

// modelPressure is payload.sensor.bmp280.pressure_hpa when it is a
// number.
func modelPressure(payload json.RawMessage) *float64 {
	var p struct {
		Sensor struct {
			BMP280 struct {
				PressureHPa json.RawMessage `json:"pressure_hpa"`
			} `json:"bmp280"`
		} `json:"sensor"`
	}
	if payload == nil || json.Unmarshal(payload, &p) != nil {
		return nil
	}
	var v float64
	if raw := p.Sensor.BMP280.PressureHPa; raw == nil || string(raw) == "null" || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return &v
}

// modelBucket accumulates one bucket the way Series defines it.
type modelBucket struct {
	count int64
	sum   [6]float64
	n     [6]int
	min   [6]float64
	max   [6]float64
}

func (b *modelBucket) add(vs [6]*float64) {
	b.count++
	for i, v := range vs {
		if v == nil {
			continue
		}
		if b.n[i] == 0 || *v < b.min[i] {
			b.min[i] = *v
		}
		if b.n[i] == 0 || *v > b.max[i] {
			b.max[i] = *v
		}
		b.sum[i] += *v
		b.n[i]++
	}
}

func stats(p store.SeriesPoint) [thermowatt.NumQuantities]store.Stats {
	return p.Stats
}

var seriesFields = [6]string{"temperature", "humidity", "voltage_v", "current_ma", "power_mw", "pressure_hpa"}

// modelSeries computes what Series must answer for q from the readings
// stored (rs: the first of each identity), with pressure read by pressure.
func modelSeries(rs []thermowatt.Reading, pressure map[string]*float64, q store.SeriesQuery) (map[time.Time]*modelBucket, []time.Time) {
	buckets := map[time.Time]*modelBucket{}
	var order []time.Time
	for _, r := range rs {
		if r.DeviceID != q.DeviceID || r.RecordedAt.Before(q.From) || !r.RecordedAt.Before(q.To) {
			continue
		}
		at := store.BucketStart(r.RecordedAt, q.Bucket)
		b := buckets[at]
		if b == nil {
			b = &modelBucket{}
			buckets[at] = b
			order = append(order, at)
		}
		b.add([6]*float64{r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW, pressure[key(r)]})
	}
	return buckets, order
}

func compareSeries(t *testing.T, s store.Store, rs []thermowatt.Reading, pressure map[string]*float64, q store.SeriesQuery) {
	t.Helper()
	want, order := modelSeries(rs, pressure, q)
	got := series(t, s, q)
	if len(got) != len(order) {
		t.Fatalf("%s %v buckets: got %d buckets, want %d", q.DeviceID, q.Bucket, len(got), len(order))
	}
	for _, p := range got {
		b := want[p.Time]
		if b == nil {
			t.Fatalf("%s %v: bucket at %v, which holds no reading", q.DeviceID, q.Bucket, p.Time)
		}
		if p.Count != b.count {
			t.Errorf("%s %v bucket %v: count %d, want %d", q.DeviceID, q.Bucket, p.Time, p.Count, b.count)
		}
		for i, st := range stats(p) {
			what := fmt.Sprintf("%s %v bucket %v %s", q.DeviceID, q.Bucket, p.Time, seriesFields[i])
			if b.n[i] == 0 {
				wantNoStats(t, what, st)
				continue
			}
			wantStats(t, what, st, b.sum[i]/float64(b.n[i]), b.min[i], b.max[i])
		}
	}
}

// Many readings of several devices, each field sometimes missing and the
// pressure in every shape a payload may hold it, stored over several
// batches with repeats: every bucket of every bucket size equals the
// model's.
func testSeriesMatchesReadings(t *testing.T, s store.Store) {
	rng := rand.New(rand.NewPCG(7, 11))
	maybe := func(v float64) *float64 {
		if rng.IntN(8) == 0 {
			return nil
		}
		return f(math.Round(v*100) / 100)
	}
	for _, pp := range pressurePayloads { // the model reads the table's pressures
		if got := modelPressure(json.RawMessage(pp.payload)); (got == nil) != (pp.pressure == nil) || got != nil && *got != *pp.pressure {
			t.Fatalf("model reads pressure %v from %s, want %v", got, pp.payload, pp.pressure)
		}
	}
	var stored []thermowatt.Reading
	pressure := map[string]*float64{}
	for batch := range 6 {
		var rs []thermowatt.Reading
		for i := range 300 {
			dev := fmt.Sprintf("m%d", (batch+i)%3)
			// 37 s apart, so buckets cut through readings unevenly; every
			// other batch repeats part of the previous one.
			at := time.Duration(batch*250+i) * 37 * time.Second
			r := thermowatt.Reading{DeviceID: dev, RecordedAt: base.Add(at),
				Temperature: maybe(rng.Float64()*60 - 20), Humidity: maybe(rng.Float64() * 100),
				VoltageV: maybe(3 + rng.Float64()*2), CurrentMA: maybe(rng.Float64() * 500), PowerMW: maybe(rng.Float64() * 2500)}
			pp := pressurePayloads[rng.IntN(len(pressurePayloads)+1)%len(pressurePayloads)]
			if rng.IntN(10) > 0 {
				r.Payload = json.RawMessage(pp.payload)
			}
			rs = append(rs, r)
		}
		res := insert(t, s, rs, base)
		for i, r := range rs {
			if !res.Inserted[i] {
				continue
			}
			stored = append(stored, r)
			if v := modelPressure(r.Payload); v != nil {
				pressure[key(r)] = v
			}
		}
	}
	if len(pressure) == 0 || len(pressure) == len(stored) {
		t.Fatalf("%d of %d readings carry a pressure: the test needs both kinds", len(pressure), len(stored))
	}

	for _, dev := range []string{"m0", "m1", "m2"} {
		for _, b := range []time.Duration{time.Minute, 7 * time.Minute, time.Hour, 24 * time.Hour} {
			compareSeries(t, s, stored, pressure, store.SeriesQuery{DeviceID: dev, From: base.Add(-time.Hour), To: base.Add(24 * time.Hour), Bucket: b})
		}
		// bounds inside the data, off bucket boundaries
		compareSeries(t, s, stored, pressure, store.SeriesQuery{DeviceID: dev, From: base.Add(3*time.Hour + 17*time.Second), To: base.Add(9*time.Hour + 5*time.Minute), Bucket: time.Hour})
	}
}

// A repeat of a stored reading with other values changes nothing: the
// series shows the values first stored, pressure included.
func testSeriesKeepsFirstOfDuplicates(t *testing.T, s store.Store) {
	first := rd("d1", 0, 20)
	first.Payload = json.RawMessage(`{"sensor":{"bmp280":{"pressure_hpa":1000}}}`)
	insert(t, s, []thermowatt.Reading{first}, base)
	again := rd("d1", 0, 30)
	again.Payload = json.RawMessage(`{"sensor":{"bmp280":{"pressure_hpa":1020}}}`)
	res := insert(t, s, []thermowatt.Reading{again, rd("d1", time.Minute, 40)}, base)
	wantResult(t, res, 1, 1)

	got := series(t, s, store.SeriesQuery{DeviceID: "d1", From: base.Add(-time.Hour), To: base.Add(time.Hour), Bucket: time.Hour})
	if len(got) != 1 || got[0].Count != 2 {
		t.Fatalf("got %+v, want one bucket of 2 readings", got)
	}
	wantStats(t, "temperature", got[0].Stats[thermowatt.Temperature], 30, 20, 40)
	wantStats(t, "pressure_hpa (the first stored)", got[0].Stats[thermowatt.PressureHPa], 1000, 1000, 1000)
}
