package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// encodeLikeWriteJSON is what writeJSON sends as a body.
func encodeLikeWriteJSON(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func f64(x float64) *float64 { return &x }

// measurementJSON is one reading as the API returned it through
// encoding/json before appendMeasurement: the reference it matches, spelled
// out field by field so that a change of thermowatt.Quantities cannot
// change the wire format unnoticed.
type measurementJSON struct {
	ID               int64           `json:"id"`
	DeviceID         string          `json:"deviceId"`
	RecordedAt       time.Time       `json:"recordedAt"`
	ReceivedAt       time.Time       `json:"receivedAt"`
	RecordedAtSource string          `json:"recordedAtSource"`
	Temperature      *float64        `json:"temperature"`
	Humidity         *float64        `json:"humidity"`
	VoltageV         *float64        `json:"voltage_v"`
	CurrentMA        *float64        `json:"current_ma"`
	PowerMW          *float64        `json:"power_mw"`
	Payload          json.RawMessage `json:"payload"`
}

func toJSON(s thermowatt.Stored) measurementJSON {
	m := measurementJSON{
		ID: s.ID, DeviceID: s.DeviceID, RecordedAt: s.RecordedAt.UTC(), ReceivedAt: s.ReceivedAt.UTC(),
		RecordedAtSource: "device", Temperature: s.Temperature, Humidity: s.Humidity,
		VoltageV: s.VoltageV, CurrentMA: s.CurrentMA, PowerMW: s.PowerMW, Payload: s.Payload,
	}
	if s.ServerTime {
		m.RecordedAtSource = "server"
	}
	if len(m.Payload) == 0 {
		m.Payload = json.RawMessage("null")
	}
	return m
}

func TestAppendersMatchEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 123456000, time.UTC)
	rows := []thermowatt.Stored{
		{ID: 1, Reading: thermowatt.Reading{DeviceID: "esp32-node-01", RecordedAt: at, ReceivedAt: at.Add(time.Second)}},
		{ID: 2, Reading: thermowatt.Reading{DeviceID: "n.2_x-y", RecordedAt: at.In(time.FixedZone("JST", 9*3600)), ServerTime: true,
			Temperature: f64(24.3), Humidity: f64(0), VoltageV: f64(-0.0), CurrentMA: f64(1e21), PowerMW: f64(1e-7),
			Payload:    json.RawMessage(`{"voltage_v":4.98,"sensor":{"bmp280":{"pressure_hpa":1013.25}}}`),
			ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{ID: 3, Reading: thermowatt.Reading{DeviceID: "a", RecordedAt: at, Temperature: f64(-1e-6), Humidity: f64(99.99999999),
			VoltageV: f64(123456789012345678), CurrentMA: f64(9.999999e20), PowerMW: f64(math.SmallestNonzeroFloat64),
			// As PostgreSQL's jsonb gives it back: spaces after : and ,.
			Payload:    json.RawMessage(`{"note": "a <b> & \"c\" \\ d\u2028e\u2029 €", "list": [1, 2, {"x": null}], "t": true}`),
			ReceivedAt: at}},
		{ID: 4, Reading: thermowatt.Reading{DeviceID: "b", RecordedAt: at, Temperature: f64(1e-300), Humidity: f64(5e-324),
			Payload: json.RawMessage("{\n\t\"a\" : \"\\u003c\\n\" ,\r\n \"b\":[ ] }"), ReceivedAt: at}},
	}
	next := "MTc2NDIxMjY0NTEyMzQ1Ni4x"
	for _, page := range [][]thermowatt.Stored{nil, rows[:1], rows} {
		for _, n := range []*string{nil, &next} {
			items := make([]measurementJSON, len(page))
			for i, s := range page {
				items[i] = toJSON(s)
			}
			want := encodeLikeWriteJSON(t, map[string]any{"items": items, "nextCursor": n})
			if got := appendMeasurements(nil, page, n); !bytes.Equal(got, want) {
				t.Errorf("appendMeasurements:\n got %s\nwant %s", got, want)
			}
		}
	}

	for _, res := range []wire.Result{
		{Accepted: 1, Rejected: []wire.Rejection{}},
		{Accepted: 98, Duplicates: 2, Rejected: nil},
		{Accepted: 0, Rejected: []wire.Rejection{{Index: 3, Field: "deviceId", Message: `unknown field "<x>": put extra data inside payload`}}},
	} {
		if got, want := appendResult(nil, res), encodeLikeWriteJSON(t, res); !bytes.Equal(got, want) {
			t.Errorf("appendResult:\n got %s\nwant %s", got, want)
		}
	}
}

// statsJSON and pointJSON are the series answer's points as handleSeries
// encoded them through encoding/json: the reference appendSeries matches.
type statsJSON struct {
	Avg *float64 `json:"avg"`
	Min *float64 `json:"min"`
	Max *float64 `json:"max"`
}

func stats(s store.Stats) *statsJSON {
	if s.Avg == nil && s.Min == nil && s.Max == nil {
		return nil // omitted: no reading in the bucket has the field
	}
	return &statsJSON{Avg: s.Avg, Min: s.Min, Max: s.Max}
}

type pointJSON struct {
	Time        time.Time  `json:"time"`
	Count       int64      `json:"count"`
	Temperature *statsJSON `json:"temperature,omitempty"`
	Humidity    *statsJSON `json:"humidity,omitempty"`
	VoltageV    *statsJSON `json:"voltage_v,omitempty"`
	CurrentMA   *statsJSON `json:"current_ma,omitempty"`
	PowerMW     *statsJSON `json:"power_mw,omitempty"`
	PressureHPa *statsJSON `json:"pressure_hpa,omitempty"`
}

// The series answer as handleSeries encoded it through encoding/json.
func TestAppendSeriesMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	q := store.SeriesQuery{DeviceID: "esp32-node-01", From: at.Add(-30 * 24 * time.Hour).In(time.FixedZone("JST", 9*3600)),
		To: at.Add(90 * time.Second), Bucket: 90 * time.Minute}
	full := store.Stats{Avg: f64(24.35), Min: f64(-1e-7), Max: f64(1e21)}
	pts := []store.SeriesPoint{
		{Time: at, Count: 12, Stats: [thermowatt.NumQuantities]store.Stats{full, full, full, full, full, full}},
		{Time: at.Add(time.Hour), Count: 1, Stats: [thermowatt.NumQuantities]store.Stats{thermowatt.Temperature: {Avg: f64(0), Min: f64(0), Max: f64(0)}}},
		{Time: at.Add(2 * time.Hour), Count: 3, Stats: [thermowatt.NumQuantities]store.Stats{thermowatt.PressureHPa: {Avg: f64(1013.25), Min: f64(1000), Max: f64(1020.5)}}},
	}
	for _, pts := range [][]store.SeriesPoint{nil, pts} {
		items := make([]pointJSON, len(pts))
		for i, p := range pts {
			st := func(q thermowatt.Quantity) *statsJSON { return stats(p.Stats[q]) }
			items[i] = pointJSON{Time: p.Time, Count: p.Count,
				Temperature: st(thermowatt.Temperature), Humidity: st(thermowatt.Humidity), VoltageV: st(thermowatt.VoltageV),
				CurrentMA: st(thermowatt.CurrentMA), PowerMW: st(thermowatt.PowerMW), PressureHPa: st(thermowatt.PressureHPa)}
		}
		want := encodeLikeWriteJSON(t, map[string]any{
			"deviceId": q.DeviceID, "from": q.From.UTC(), "to": q.To.UTC(),
			"bucketSeconds": q.Bucket.Seconds(), "points": items,
		})
		if got := appendSeries(nil, q, pts); !bytes.Equal(got, want) {
			t.Errorf("appendSeries:\n got %s\nwant %s", got, want)
		}
	}
}

// Whatever the store hands over, the answer is valid JSON: a statistic
// that is not finite (an hour whose sum overflowed) is null, and a time
// outside RFC 3339's years is null too. (Before: "avg":, and "from":,.)
func TestAppendSeriesIsValidJSONWhateverIsStored(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	inf, nan := math.Inf(1), math.NaN()
	bad := store.Stats{Avg: &inf, Min: f64(-math.MaxFloat64), Max: &nan}
	q := store.SeriesQuery{DeviceID: "n1", From: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Bucket: time.Hour}
	pts := []store.SeriesPoint{{Time: at, Count: 2, Stats: [thermowatt.NumQuantities]store.Stats{thermowatt.PressureHPa: bad, thermowatt.Temperature: bad}}}
	got := appendSeries(nil, q, pts)
	if !json.Valid(got) {
		t.Fatalf("appendSeries wrote invalid JSON: %s", got)
	}
	if !bytes.Contains(got, []byte(`"avg":null`)) || !bytes.Contains(got, []byte(`"max":null`)) {
		t.Errorf("non-finite statistics: %s", got)
	}
}

func BenchmarkAppendMeasurements(b *testing.B) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 123456000, time.UTC)
	rows := make([]thermowatt.Stored, 288)
	for i := range rows {
		rows[i] = thermowatt.Stored{ID: int64(i), Reading: thermowatt.Reading{DeviceID: "esp32-node-01", RecordedAt: at.Add(time.Duration(i) * 5 * time.Minute),
			Temperature: f64(24.3), Humidity: f64(41.5), VoltageV: f64(4.98), CurrentMA: f64(120.4), PowerMW: f64(600.5),
			Payload:    json.RawMessage(`{"voltage_v":4.98,"current_ma":120.4,"power_mw":600.5,"sensor":{"bmp280":{"pressure_hpa":1013.2}}}`),
			ReceivedAt: at}}
	}
	b.Run("encoder=append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = appendMeasurements(make([]byte, 0, 64+400*len(rows)), rows, nil)
		}
	})
	b.Run("encoder=encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			items := make([]measurementJSON, len(rows))
			for i, s := range rows {
				items[i] = toJSON(s)
			}
			var buf bytes.Buffer
			_ = json.NewEncoder(&buf).Encode(map[string]any{"items": items, "nextCursor": nil})
		}
	})
}
