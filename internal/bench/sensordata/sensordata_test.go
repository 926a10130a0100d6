package sensordata

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/wire"
)

// TestServerStoresWhatIsGenerated: the generated requests, decoded by the
// server's own decoder, give the readings Device says the server stores
// (typed values copied out of the payload, the payload kept as sent), so
// the benchmarks' loads and their in-process figures describe the same
// data.
func TestServerStoresWhatIsGenerated(t *testing.T) {
	cfg := Default()
	cfg.Devices, cfg.PerDevice = 2, 500
	for d := range cfg.Devices {
		rs := cfg.Device(d)
		body := []byte{'['}
		for i := range rs {
			if i > 0 {
				body = append(body, ',')
			}
			body = AppendWire(body, &rs[i])
		}
		body = append(body, ']')
		batch, err := wire.Decode(body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(batch.Rejected) > 0 || len(batch.Readings) != len(rs) {
			t.Fatalf("%d of %d readings accepted, rejected: %+v", len(batch.Readings), len(rs), batch.Rejected)
		}
		for i, got := range batch.Readings {
			want := rs[i]
			if got.DeviceID != want.DeviceID || !got.RecordedAt.Equal(want.RecordedAt) || !bytes.Equal(compact(t, got.Payload), want.Payload) {
				t.Fatalf("reading %d: stored %s %s %s, generated %s %s %s", i, got.DeviceID, got.RecordedAt, got.Payload, want.DeviceID, want.RecordedAt, want.Payload)
			}
			for c, pair := range [][2]*float64{{got.Temperature, want.Temperature}, {got.Humidity, want.Humidity}, {got.VoltageV, want.VoltageV},
				{got.CurrentMA, want.CurrentMA}, {got.PowerMW, want.PowerMW}} {
				if (pair[0] == nil) != (pair[1] == nil) || pair[0] != nil && *pair[0] != *pair[1] {
					t.Fatalf("reading %d, typed value %d: stored %v, generated %v", i, c, deref(pair[0]), deref(pair[1]))
				}
			}
		}
	}
}

func compact(t *testing.T, p []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func deref(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// TestDeterministic: the same config gives the same readings, so every
// system of a run, and every run, loads the same data.
func TestDeterministic(t *testing.T) {
	cfg := Default()
	cfg.Devices, cfg.PerDevice = 1, 300
	a, b := cfg.Device(0), cfg.Device(0)
	for i := range a {
		if !bytes.Equal(a[i].Payload, b[i].Payload) || !a[i].ReceivedAt.Equal(b[i].ReceivedAt) {
			t.Fatalf("reading %d differs between two generations", i)
		}
	}
}
