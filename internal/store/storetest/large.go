package storetest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// largeBatch is n readings of each device, a minute apart from offset on;
// every tenth carries the device's report on itself, and the very newest
// carries a "device" that is not an object (ignored).
func largeBatch(devices []string, n int, offset time.Duration) []thermowatt.Reading {
	var rs []thermowatt.Reading
	for _, d := range devices {
		for i := range n {
			r := rd(d, offset+time.Duration(i)*time.Minute, float64(i))
			switch {
			case i == n-1:
				r.Payload = json.RawMessage(`{"device":"not an object"}`)
			case i%10 == 0:
				r.Payload = json.RawMessage(fmt.Sprintf(`{"voltage_v":3.3,"device":{"boot":%d,"firmware":"0.3.0"}}`, i))
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// Batches as large as a device's backlog (hundreds of readings in one
// call, or many calls in one group commit) keep the same semantics as
// small ones, whatever path a backend takes for them: exact counts, every
// repeat a duplicate, the device counters and the newest health.
func testLargeBatches(t *testing.T, s store.Store) {
	devices := []string{"big-a", "big-b", "big-c"}
	first := largeBatch(devices, 120, 0)
	wantResult(t, insert(t, s, first, base), len(first), 0)
	for _, d := range devices {
		dev := getDevice(t, s, d)
		if dev.ReadingCount != 120 {
			t.Errorf("%s: %d readings counted, want 120", d, dev.ReadingCount)
		}
		wantAt := base.Add(110 * time.Minute) // the newest with an object "device"
		if dev.HealthAt == nil || !dev.HealthAt.Equal(wantAt) || string(normalizeJSON(t, dev.Health)) != `{"boot":110,"firmware":"0.3.0"}` {
			t.Errorf("%s: health %s at %v, want boot 110 at %v", d, dev.Health, dev.HealthAt, wantAt)
		}
	}

	// The same again with as many new readings: exactly the new ones stored.
	second := append(largeBatch(devices, 120, 0), largeBatch(devices, 120, 120*time.Minute)...)
	res := insert(t, s, second, base.Add(time.Hour))
	wantResult(t, res, len(first), len(first))
	for i, r := range second {
		if wantNew := r.RecordedAt.Sub(base) >= 120*time.Minute; res.Inserted[i] != wantNew {
			t.Fatalf("reading %s: inserted %v, want %v", key(r), res.Inserted[i], wantNew)
		}
	}
	for _, d := range devices {
		if dev := getDevice(t, s, d); dev.ReadingCount != 240 {
			t.Errorf("%s: %d readings counted after the repeat, want 240", d, dev.ReadingCount)
		}
	}

	// Two large overlapping batches at once: each reading stored once.
	third := largeBatch(devices, 150, 240*time.Minute)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		got  int
		errs []error
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.InsertReadings(t.Context(), third, base.Add(2*time.Hour))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			got += res.Accepted
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("concurrent large batches: %v", errs)
	}
	if got != len(third) {
		t.Errorf("concurrent large batches accepted %d readings in all, want %d", got, len(third))
	}
	if rows := query(t, s, store.Query{DeviceID: "big-a", Limit: 1000}); len(rows) != 390 {
		t.Errorf("big-a holds %d readings, want 390", len(rows))
	}
}
