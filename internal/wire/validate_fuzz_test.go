package wire

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

// FuzzValidate: one reading built from fuzzed fields is accepted exactly
// when every documented rule holds, and what is stored is what was sent.
func FuzzValidate(f *testing.F) {
	f.Add("esp32-node-01", "2025-02-05T09:30:00+09:00", 24.3, 4.98, true)
	f.Add("", "2025-02-05T09:30:00Z", 0.0, 0.0, false)
	f.Add("bad id", "1999-12-31T23:59:59Z", 201.0, 1001.0, true)
	f.Add("n1", "2026-11-27T00:10:00.5Z", -100.0, -1000.0, true)
	f.Add("n1", "not a time", math.Inf(1), math.NaN(), false)
	f.Fuzz(func(t *testing.T, id, at string, temp, volts float64, withPayload bool) {
		obj := map[string]any{"deviceId": id, "recordedAt": at}
		if !math.IsNaN(temp) && !math.IsInf(temp, 0) {
			obj["temperature"] = temp
		}
		if withPayload && !math.IsNaN(volts) && !math.IsInf(volts, 0) {
			obj["payload"] = map[string]any{"voltage_v": volts}
		}
		raw, err := json.Marshal(obj)
		if err != nil {
			return
		}
		r, field, msg := parseReading(raw, now)

		ts, terr := time.Parse(time.RFC3339Nano, at)
		_, hasTemp := obj["temperature"]
		_, hasPayload := obj["payload"]
		want := ValidDeviceID(id) && terr == nil && !ts.Before(Earliest) && !ts.After(now.Add(MaxFuture)) &&
			(!hasTemp || (temp >= -100 && temp <= 200)) && (!hasPayload || (volts >= -1000 && volts <= 1000))
		if (msg == "") != want {
			t.Fatalf("%s: accepted=%v (field %q: %s), rules say %v", raw, msg == "", field, msg, want)
		}
		if msg != "" {
			if field == "" && msg == "" {
				t.Fatalf("%s: rejected without a reason", raw)
			}
			return
		}
		if r.DeviceID != id || !r.RecordedAt.Equal(ts.UTC().Truncate(thermowatt.Precision)) {
			t.Fatalf("%s: stored %+v", raw, r)
		}
		if hasTemp && (r.Temperature == nil || *r.Temperature != temp) {
			t.Fatalf("%s: temperature %v stored as %v", raw, temp, r.Temperature)
		}
		if hasPayload && (r.VoltageV == nil || *r.VoltageV != volts) {
			t.Fatalf("%s: voltage %v stored as %v", raw, volts, r.VoltageV)
		}
	})
}
