package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// testReceivedAtPerReading: a reading given its own ReceivedAt (as a group
// commit gives each request's readings their request's time) is stored
// with it, and one left zero gets the call's receivedAt; a device is
// created at the first and last seen at the latest received time of its
// stored readings. Three batch sizes, for the three ways PostgreSQL
// inserts: a small new batch, a large one (COPY), and one holding a repeat.
func testReceivedAtPerReading(t *testing.T, s store.Store) {
	call := base.Add(time.Hour) // the call's receivedAt
	for _, tc := range []struct {
		name   string
		n      int
		repeat bool
	}{{"small", 3, false}, {"large", 150, false}, {"with a repeat", 3, true}} {
		device := fmt.Sprintf("recv-%d-%v", tc.n, tc.repeat)
		if tc.repeat {
			insert(t, s, []thermowatt.Reading{{DeviceID: device, RecordedAt: base.Add(-time.Minute)}}, base.Add(-time.Hour))
		}
		rs := make([]thermowatt.Reading, tc.n)
		want := map[int64]time.Time{} // recordedAt -> receivedAt
		for i := range rs {
			rs[i] = thermowatt.Reading{DeviceID: device, RecordedAt: base.Add(time.Duration(i) * time.Minute)}
			if i > 0 { // the first is left zero: it gets the call's
				// requests received before and after the call's time, out
				// of order
				rs[i].ReceivedAt = call.Add(time.Duration((i*7)%tc.n-tc.n/2) * time.Second)
			}
			want[rs[i].RecordedAt.UnixMicro()] = rs[i].ReceivedAt
		}
		want[base.UnixMicro()] = call
		if tc.repeat {
			rs = append(rs, thermowatt.Reading{DeviceID: device, RecordedAt: base.Add(-time.Minute), ReceivedAt: call.Add(time.Hour)})
		}
		wantResult(t, insert(t, s, rs, call), tc.n, len(rs)-tc.n)

		got := query(t, s, store.Query{DeviceID: device, From: base, Limit: 1000})
		if len(got) != tc.n {
			t.Fatalf("%s: %d readings stored, want %d", tc.name, len(got), tc.n)
		}
		first, last := call, call
		for _, g := range got {
			w := want[g.RecordedAt.UnixMicro()]
			if !g.ReceivedAt.Equal(w) {
				t.Errorf("%s: reading at %v received %v, want %v (its own request's time)", tc.name, g.RecordedAt, g.ReceivedAt, w)
			}
			if w.Before(first) {
				first = w
			}
			if w.After(last) {
				last = w
			}
		}
		d := getDevice(t, s, device)
		if !tc.repeat && !d.CreatedAt.Equal(first) {
			t.Errorf("%s: device created %v, want %v (its earliest reading's receive time)", tc.name, d.CreatedAt, first)
		}
		if d.LastSeenAt == nil || !d.LastSeenAt.Equal(last) {
			t.Errorf("%s: device %s; want last seen %v (its latest stored reading's receive time)", tc.name, showDevice(d), last)
		}
	}
}
