package httpapi

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/reading"
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

func TestAppendersMatchEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 123456000, time.UTC)
	rows := []reading.Stored{
		{ID: 1, Reading: reading.Reading{DeviceID: "esp32-node-01", RecordedAt: at}, ReceivedAt: at.Add(time.Second)},
		{ID: 2, Reading: reading.Reading{DeviceID: "n.2_x-y", RecordedAt: at.In(time.FixedZone("JST", 9*3600)), ServerTime: true,
			Temperature: f64(24.3), Humidity: f64(0), VoltageV: f64(-0.0), CurrentMA: f64(1e21), PowerMW: f64(1e-7),
			Payload: json.RawMessage(`{"voltage_v":4.98,"sensor":{"bmp280":{"pressure_hpa":1013.25}}}`)},
			ReceivedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: 3, Reading: reading.Reading{DeviceID: "a", RecordedAt: at, Temperature: f64(-1e-6), Humidity: f64(99.99999999),
			VoltageV: f64(123456789012345678), CurrentMA: f64(9.999999e20), PowerMW: f64(math.SmallestNonzeroFloat64),
			// As PostgreSQL's jsonb gives it back: spaces after : and ,.
			Payload: json.RawMessage(`{"note": "a <b> & \"c\" \\ d\u2028e\u2029 €", "list": [1, 2, {"x": null}], "t": true}`)},
			ReceivedAt: at},
		{ID: 4, Reading: reading.Reading{DeviceID: "b", RecordedAt: at, Temperature: f64(1e-300), Humidity: f64(5e-324),
			Payload: json.RawMessage("{\n\t\"a\" : \"\\u003c\\n\" ,\r\n \"b\":[ ] }")}, ReceivedAt: at},
	}
	next := "MTc2NDIxMjY0NTEyMzQ1Ni4x"
	for _, page := range [][]reading.Stored{nil, rows[:1], rows} {
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

	for _, res := range []ingest.Result{
		{Accepted: 1, Rejected: []ingest.Rejection{}},
		{Accepted: 98, Duplicates: 2, Rejected: nil},
		{Accepted: 0, Rejected: []ingest.Rejection{{Index: 3, Field: "deviceId", Message: `unknown field "<x>": put extra data inside payload`}}},
	} {
		if got, want := appendResult(nil, res), encodeLikeWriteJSON(t, res); !bytes.Equal(got, want) {
			t.Errorf("appendResult:\n got %s\nwant %s", got, want)
		}
	}
}

func BenchmarkAppendMeasurements(b *testing.B) {
	at := time.Date(2026, 11, 27, 3, 4, 5, 123456000, time.UTC)
	rows := make([]reading.Stored, 288)
	for i := range rows {
		rows[i] = reading.Stored{ID: int64(i), Reading: reading.Reading{DeviceID: "esp32-node-01", RecordedAt: at.Add(time.Duration(i) * 5 * time.Minute),
			Temperature: f64(24.3), Humidity: f64(41.5), VoltageV: f64(4.98), CurrentMA: f64(120.4), PowerMW: f64(600.5),
			Payload: json.RawMessage(`{"voltage_v":4.98,"current_ma":120.4,"power_mw":600.5,"sensor":{"bmp280":{"pressure_hpa":1013.2}}}`)},
			ReceivedAt: at}
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
