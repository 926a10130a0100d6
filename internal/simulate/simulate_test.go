package simulate_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/simulate"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
	"github.com/thermowatt/thermowatt/internal/testserver"
)

// Simulated devices go offline, reboot without a clock, meet a server
// that fails now and then, and still deliver every reading they could
// date exactly once, in firmware-sized batches with device health.
func TestSimulatedDevicesDeliverEveryReadingOnceThroughOutagesAndErrors(t *testing.T) {
	st := testdb.OpenSQLite(t)
	var mu sync.Mutex
	var maxBatch int
	var calls atomic.Int32
	var bodies []string
	url := testserver.Start(t, st, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var items []json.RawMessage
			_ = json.Unmarshal(body, &items)
			mu.Lock()
			maxBatch = max(maxBatch, len(items))
			if len(bodies) < 50 {
				bodies = append(bodies, string(body))
			}
			mu.Unlock()
			if calls.Add(1)%7 == 0 {
				w.Header().Set("Retry-After", "0")
				http.Error(w, `{"error":"database unavailable, retry later"}`, http.StatusServiceUnavailable)
				return
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			h.ServeHTTP(w, r)
		})
	})
	s, err := simulate.Run(context.Background(), simulate.Options{
		URL: url, Token: testserver.AdminToken,
		Devices: 3, Interval: 10 * time.Millisecond, History: 400 * time.Millisecond, Measurements: 150,
		OfflineChance: 0.05, RebootChance: 0.03, Seed: 7,
		Backoff: apiclient.Backoff{Base: time.Millisecond, Cap: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(s)
	if s.Outages == 0 || s.Reboots == 0 || s.ClockLess == 0 || s.Failures == 0 {
		t.Fatalf("the run must meet outages, reboots, clock-less readings and server errors: %s", s)
	}
	if s.Queued != 0 || s.Dropped != 0 {
		t.Fatalf("every queue must be delivered: %s", s)
	}
	rs, err := st.QueryReadings(context.Background(), store.Query{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range rs {
		k := r.DeviceID + r.RecordedAt.String()
		if seen[k] {
			t.Fatalf("%s stored twice", k)
		}
		seen[k] = true
	}
	if len(rs) != s.Accepted || s.Accepted+s.DeadLettered != s.Measured {
		t.Fatalf("stored %d; want accepted %d = measured %d - dead-lettered %d", len(rs), s.Accepted, s.Measured, s.DeadLettered)
	}
	if s.Measured != 3*(150+40) {
		t.Fatalf("measured %d, want 3 devices x (150 live + 40 history)", s.Measured)
	}
	if maxBatch != 25 {
		t.Fatalf("backlog flushes must use the firmware's batches of 25, largest was %d", maxBatch)
	}
	// The firmware's wire format, health included.
	var items []struct {
		DeviceID   string  `json:"deviceId"`
		RecordedAt string  `json:"recordedAt"`
		Humidity   *string `json:"humidity"`
		Payload    struct {
			VoltageV *float64 `json:"voltage_v"`
			Sensor   struct {
				BMP280 map[string]any `json:"bmp280"`
				INA219 map[string]any `json:"ina219"`
			} `json:"sensor"`
			Device map[string]any `json:"device"`
		} `json:"payload"`
	}
	if err := json.Unmarshal([]byte(bodies[0]), &items); err != nil || len(items) == 0 {
		t.Fatalf("body: %v %s", err, bodies[0])
	}
	for _, it := range items[:len(items)-1] {
		if it.Payload.Device != nil {
			t.Fatalf("payload.device rides on the last reading of a batch only, as in the firmware")
		}
	}
	it := items[len(items)-1]
	for _, k := range []string{"firmware", "uptime_s", "free_heap", "rssi_dbm", "queue_depth", "dropped", "dead_lettered", "last_error", "reset_cause", "boot"} {
		if _, ok := it.Payload.Device[k]; !ok {
			t.Errorf("payload.device lacks %q: %v", k, it.Payload.Device)
		}
	}
	if it.Payload.Sensor.INA219["shunt_ohms"] != 0.1 || it.Payload.VoltageV == nil || !strings.HasPrefix(it.DeviceID, "sim-") {
		t.Errorf("not the firmware's reading: %s", bodies[0][:300])
	}
}

// Device tokens: each simulated device may use its own token, and a
// device refused for its token keeps its readings (401 is not a reason to
// drop data) while the others deliver.
func TestDeviceTokensAndARefusedDeviceKeepsItsQueue(t *testing.T) {
	st := testdb.OpenSQLite(t)
	url := testserver.Start(t, st, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := simulate.Run(ctx, simulate.Options{
		URL: url, Tokens: map[string]string{"sim-01": testserver.AdminToken, "sim-02": "wrong-token"},
		Devices: 2, Interval: 10 * time.Millisecond, Measurements: 20, OfflineChance: -1, RebootChance: -1,
		Backoff: apiclient.Backoff{Base: time.Millisecond, Cap: 50 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Accepted != 20 || s.Held == 0 || s.Queued != 20 {
		t.Fatalf("sim-01 delivers 20, sim-02 is held with 20 queued: %s held=%d", s, s.Held)
	}
}

// A simulated outage is announced: which device goes offline, at what
// time, for how long, and when it comes back (make demo prints these, so a
// gap in a chart is never a mystery).
func TestOutagesAreAnnouncedWithDeviceTimeAndDuration(t *testing.T) {
	st := testdb.OpenSQLite(t)
	url := testserver.Start(t, st, nil)
	var log strings.Builder
	s, err := simulate.Run(context.Background(), simulate.Options{
		URL: url, Token: testserver.AdminToken,
		Devices: 1, Interval: 10 * time.Millisecond, Measurements: 60,
		OfflineChance: 0.2, RebootChance: -1, Seed: 11, Events: &log,
		Backoff: apiclient.Backoff{Base: time.Millisecond, Cap: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Outages == 0 {
		t.Fatalf("no outage with this seed: %s", s)
	}
	lost := regexp.MustCompile(`(?m)^sim-01: offline at \d\d:\d\d:\d\d for (\d+ms|[0-9.]+s) \(a simulated Wi-Fi outage of (\d+) measurements\)`)
	back := regexp.MustCompile(`(?m)^sim-01: Wi-Fi back at \d\d:\d\d:\d\d, sending its \d+ queued readings$`)
	m := lost.FindAllStringSubmatch(log.String(), -1)
	if len(m) != s.Outages || len(back.FindAllString(log.String(), -1)) == 0 {
		t.Fatalf("want %d outage lines naming device, time and duration, and a line when it is back:\n%s", s.Outages, log.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(log.String()), "\n") {
		if !lost.MatchString(line) && !back.MatchString(line) {
			t.Errorf("Events holds a line about something else than the device's Wi-Fi: %q", line)
		}
	}
	for _, o := range m {
		n, _ := strconv.Atoi(o[2])
		if d, err := time.ParseDuration(o[1]); err != nil || d != time.Duration(n)*10*time.Millisecond {
			t.Errorf("%q: the duration is not %d measurements of 10ms", o[0], n)
		}
	}
}
