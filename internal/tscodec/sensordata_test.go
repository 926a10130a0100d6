package tscodec

import (
	"bytes"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
)

// stripTyped removes the payload's top-level voltage_v, current_ma and
// power_mw, which the typed columns hold: what a store that keeps each
// value once gives the codec. The firmware writes them first, in this
// order, so a prefix cut does it for the generated payloads.
func stripTyped(p []byte) []byte {
	i := bytes.Index(p, []byte(`,"sensor":`))
	if !bytes.HasPrefix(p, []byte(`{"voltage_v":`)) || i < 0 {
		return p
	}
	return append([]byte{'{'}, p[i+1:]...)
}

// weeks cuts one device's readings into stored rows per UTC week, as
// compaction would, ids numbered across devices as a table's would be.
func weeks(rs []sensordata.Reading, firstID int64, strip bool) [][]thermowatt.Stored {
	var out [][]thermowatt.Stored
	var cur []thermowatt.Stored
	var week int64 = -1
	for i, r := range rs {
		w := r.RecordedAt.Unix() / (7 * 24 * 3600)
		if w != week && cur != nil {
			out = append(out, cur)
			cur = nil
		}
		week = w
		s := thermowatt.Stored{ID: firstID + int64(i), Reading: r.Reading}
		if strip {
			s.Payload = stripTyped(s.Payload)
		}
		cur = append(cur, s)
	}
	return append(out, cur)
}

// TestModelSensorWeeks encodes a device's generated readings week by
// week, as compaction stores them, and checks that the blocks give back
// exactly the readings kept uncompacted, and that each block's header
// names its range.
func TestModelSensorWeeks(t *testing.T) {
	cfg := sensordata.Default()
	cfg.Devices, cfg.PerDevice = 2, 3000
	for d := range cfg.Devices {
		model := cfg.Device(d)
		for _, strip := range []bool{false, true} {
			var got []thermowatt.Stored
			var want []thermowatt.Stored
			for _, week := range weeks(model, int64(d*cfg.PerDevice), strip) {
				block := roundTrip(t, week)
				first, last, n, _ := BlockTimes(block)
				if n != len(week) || first.Weekday() != week[0].RecordedAt.Weekday() || last.Sub(first) >= 7*24*time.Hour {
					t.Fatalf("block of %d readings from %s: header says %d, %s to %s", len(week), week[0].RecordedAt, n, first, last)
				}
				back, err := DecodeBlock(cfg.DeviceID(d), block)
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, back...)
				want = append(want, week...)
			}
			if len(got) != len(model) {
				t.Fatalf("%d readings back from the weeks, %d generated", len(got), len(model))
			}
			for i := range want {
				if err := sameStored(want[i], got[i]); err != nil {
					t.Fatalf("device %d reading %d: %v", d, i, err)
				}
			}
		}
	}
}
