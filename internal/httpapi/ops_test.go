package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

const metricsToken = "metrics-secret-0123456789"

// opsClock is the server's clock in these tests, so that a device can
// fall silent without the test waiting.
type opsClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *opsClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *opsClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// newOpsAPI is newAPI with a settable clock and METRICS_TOKEN.
func newOpsAPI(t *testing.T, st store.Store) (*api, *opsClock) {
	clk := &opsClock{t: time.Now().UTC()}
	gc := ingest.NewGroupCommitter(st, 2, 2000, 10*time.Second)
	h := httpapi.NewServer(httpapi.Deps{
		Store:        st,
		Writer:       gc,
		Verifier:     auth.NewVerifier(st, adminToken),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:          clk.Now,
		MetricsToken: metricsToken,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); gc.Close() })
	return &api{t: t, url: srv.URL, st: st}, clk
}

func eachOpsBackend(t *testing.T, f func(t *testing.T, a *api, clk *opsClock)) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			a, clk := newOpsAPI(t, b.Open(t))
			f(t, a, clk)
		})
	}
}

func deviceItem(t *testing.T, a *api, token, id string) map[string]any {
	t.Helper()
	r := a.do("GET", "/api/devices", token, nil)
	if r.Status != 200 {
		t.Fatalf("GET /api/devices: %d %s", r.Status, r.Body)
	}
	for _, it := range r.json(t)["items"].([]any) {
		if m := it.(map[string]any); m["id"] == id {
			return m
		}
	}
	t.Fatalf("device %s not listed: %s", id, r.Body)
	return nil
}

func TestDeviceStatusHealthAndInterval(t *testing.T) {
	eachOpsBackend(t, func(t *testing.T, a *api, clk *opsClock) {
		reader := a.tokenOf("reader")
		tok := a.device("node-1")
		a.device("node-new")
		if got := deviceItem(t, a, reader, "node-new"); got["status"] != "new" || got["health"] != nil || got["expectedIntervalS"] != 300.0 {
			t.Errorf("never-seen device = %v, want status new, health null, interval 300", got)
		}
		r := a.do("POST", "/api/measurements", tok, fmt.Sprintf(`{"deviceId":"node-1","recordedAt":%q,"temperature":21,
			"payload":{"device":{"firmware":"1.2.0","queue_depth":3,"dropped":0,"last_error":null}}}`, recent(0)))
		if r.Status != 201 {
			t.Fatalf("ingest: %d %s", r.Status, r.Body)
		}
		got := deviceItem(t, a, reader, "node-1")
		health, _ := got["health"].(map[string]any)
		if got["status"] != "ok" || health["firmware"] != "1.2.0" || health["queue_depth"] != 3.0 || got["healthAt"] == nil || got["lastSeenAt"] == nil {
			t.Errorf("device after a reading = %v, want ok with its health", got)
		}

		// One interval: the device's interval_s setting, which it applies,
		// is also what its status goes by; 3 missed intervals make it silent.
		if r := a.do("PATCH", "/api/devices/node-1", adminToken, `{"expectedIntervalS":60}`); r.Status != 404 {
			t.Errorf("PATCH expectedIntervalS = %d %s, want 404: the interval is the interval_s setting", r.Status, r.Body)
		}
		if got := deviceItem(t, a, reader, "node-1")["expectedIntervalS"]; got != 300.0 {
			t.Errorf("expectedIntervalS without interval_s = %v, want the firmware's default 300", got)
		}
		if r := a.do("PUT", "/api/settings", adminToken, `{"interval_s":600}`); r.Status != 200 {
			t.Fatalf("PUT /api/settings = %d %s", r.Status, r.Body)
		}
		if got := deviceItem(t, a, reader, "node-1")["expectedIntervalS"]; got != 600.0 {
			t.Errorf("expectedIntervalS after the fleet's interval_s=600 = %v, want 600", got)
		}
		a.device("node-later")
		if got := deviceItem(t, a, reader, "node-later")["expectedIntervalS"]; got != 600.0 {
			t.Errorf("a device registered after the fleet's interval_s=600 expects %v s, want 600", got)
		}
		if r := a.do("PUT", "/api/devices/node-1/settings", adminToken, `{"interval_s":60}`); r.Status != 200 {
			t.Fatalf("PUT device settings = %d %s", r.Status, r.Body)
		}
		if got := deviceItem(t, a, reader, "node-1")["expectedIntervalS"]; got != 60.0 {
			t.Errorf("expectedIntervalS after the device's own interval_s=60 = %v, want 60", got)
		}
		clk.Add(179 * time.Second)
		if got := deviceItem(t, a, reader, "node-1")["status"]; got != "ok" {
			t.Errorf("status 179 s after the last reading = %v, want ok", got)
		}
		clk.Add(2 * time.Second)
		if got := deviceItem(t, a, reader, "node-1")["status"]; got != "silent" {
			t.Errorf("status 181 s after the last reading (3 x 60 s) = %v, want silent", got)
		}
	})
}

func TestFailuresAreCountedAgainstTheDevice(t *testing.T) {
	eachOpsBackend(t, func(t *testing.T, a *api, clk *opsClock) {
		tok1 := a.device("node-1")
		a.device("node-2")
		// Two bad readings and a good one from node-1's own token.
		r := a.do("POST", "/api/measurements", tok1, fmt.Sprintf(`[
			{"deviceId":"node-1","recordedAt":%q,"temperature":"hot"},
			{"deviceId":"node-1","recordedAt":"yesterday"},
			{"deviceId":"node-1","recordedAt":%q,"temperature":20}]`, recent(0), recent(1)))
		if r.Status != 201 {
			t.Fatalf("ingest: %d %s", r.Status, r.Body)
		}
		// node-1's token used for node-2's readings: refused, charged to
		// node-1, whose token it is (never to the device a body names).
		for range 2 {
			r = a.do("POST", "/api/measurements", tok1, fmt.Sprintf(`{"deviceId":"node-2","recordedAt":%q,"temperature":20}`, recent(2)))
			if r.Status != 403 {
				t.Fatalf("cross-device write: %d %s", r.Status, r.Body)
			}
		}
		// An unknown token is not charged to anyone.
		a.do("POST", "/api/measurements", "tw_000000000000_nope", fmt.Sprintf(`{"deviceId":"node-2","recordedAt":%q}`, recent(3)))

		n1, n2 := deviceItem(t, a, adminToken, "node-1"), deviceItem(t, a, adminToken, "node-2")
		if n1["rejectedCount"] != 2.0 || n1["authFailures"] != 2.0 {
			t.Errorf("node-1 counts = rejected %v, auth %v; want 2, 2", n1["rejectedCount"], n1["authFailures"])
		}
		if n2["rejectedCount"] != 0.0 || n2["authFailures"] != 0.0 {
			t.Errorf("node-2 counts = rejected %v, auth %v; want 0, 0", n2["rejectedCount"], n2["authFailures"])
		}
		// Over the threshold, the checker opens a failing alert, which the
		// device list and GET /api/alerts show.
		if err := a.st.CountFailures(t.Context(), "node-2", 0, 5, clk.Now()); err != nil {
			t.Fatal(err)
		}
		c := &alerts.Checker{Store: a.st, Policy: alerts.DefaultPolicy, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if _, err := c.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := deviceItem(t, a, adminToken, "node-2")["status"]; got != "failing" {
			t.Errorf("node-2 status = %v, want failing", got)
		}
		r = a.do("GET", "/api/alerts?state=open", a.tokenOf("reader"), nil)
		items, _ := r.json(t)["items"].([]any)
		if r.Status != 200 || len(items) != 1 {
			t.Fatalf("GET /api/alerts?state=open = %d %s", r.Status, r.Body)
		}
		al := items[0].(map[string]any)
		for _, k := range []string{"id", "deviceId", "kind", "openedAt", "resolvedAt", "message"} {
			if _, ok := al[k]; !ok {
				t.Errorf("alert lacks %q: %v", k, al)
			}
		}
		if al["deviceId"] != "node-2" || al["kind"] != "failing" || al["resolvedAt"] != nil ||
			!strings.Contains(al["message"].(string), "5 requests refused") {
			t.Errorf("alert = %v", al)
		}
		if r := a.do("GET", "/api/alerts?state=closed", adminToken, nil); r.Status != 400 {
			t.Errorf("state=closed = %d, want 400", r.Status)
		}
		if r := a.do("GET", "/api/alerts", tok1, nil); r.Status != 403 {
			t.Errorf("a device token read alerts: %d", r.Status)
		}
	})
}

// scrape fetches /metrics with token and parses it.
func scrape(t *testing.T, a *api, token string) map[string]*dto.MetricFamily {
	t.Helper()
	r := a.do("GET", "/metrics", token, nil)
	if r.Status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(r.Body))
	if err != nil {
		t.Fatalf("/metrics is not the Prometheus text format: %v", err)
	}
	return fams
}

// value returns the value of the series of family name with the labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("/metrics has no %s", name)
	}
next:
	for _, m := range f.Metric {
		for i := 0; i < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("/metrics has no %s%v", name, labels)
	return 0
}

func TestMetrics(t *testing.T) {
	eachOpsBackend(t, func(t *testing.T, a *api, clk *opsClock) {
		tok := a.device("node-1")
		a.device("node-2")
		for _, c := range []struct {
			token string
			want  int
		}{{"", 401}, {tok, 403}, {"metrics-secret-wrong-guess", 401}, {metricsToken, 200}, {a.tokenOf("reader"), 200}} {
			if r := a.do("GET", "/metrics", c.token, nil); r.Status != c.want {
				t.Errorf("GET /metrics with %q = %d, want %d", c.token, r.Status, c.want)
			}
		}
		body := fmt.Sprintf(`[{"deviceId":"node-1","recordedAt":%q,"temperature":20},{"deviceId":"node-1","recordedAt":%q,"temperature":"x"}]`, recent(0), recent(1))
		a.do("POST", "/api/measurements", tok, body)
		a.do("POST", "/api/measurements", tok, body) // the good one again: a duplicate
		a.do("POST", "/api/measurements", "", body)

		m := scrape(t, a, metricsToken)
		route := "POST /api/measurements"
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"thermowatt_ingest_requests_total", []string{"route", route, "outcome", "stored"}, 2},
			{"thermowatt_ingest_requests_total", []string{"route", route, "outcome", "unauthorized"}, 1},
			{"thermowatt_readings_total", []string{"result", "accepted"}, 1},
			{"thermowatt_readings_total", []string{"result", "duplicate"}, 1},
			{"thermowatt_readings_total", []string{"result", "rejected"}, 2},
			{"thermowatt_http_request_duration_seconds", []string{"route", route, "code", "201"}, 2},
			{"thermowatt_auth_failures_total", []string{"reason", "unauthorized"}, 3}, // 2 above + the ingest
			{"thermowatt_db_errors_total", []string{"where", "request"}, 0},
			{"thermowatt_open_alerts", []string{"kind", "silent"}, 0},
			{"thermowatt_devices", []string{"status", "ok"}, 1},
			{"thermowatt_devices", []string{"status", "new"}, 1},
		} {
			if got := value(t, m, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
		if _, ok := m["go_goroutines"]; !ok {
			t.Errorf("/metrics lacks the Go runtime series")
		}

		// node-1 falls silent: a checker opens the alert; the gauges follow.
		clk.Add(time.Hour)
		c := &alerts.Checker{Store: a.st, Policy: alerts.DefaultPolicy, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if _, err := c.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		m = scrape(t, a, metricsToken)
		if got := value(t, m, "thermowatt_open_alerts", "kind", "silent"); got != 1 {
			t.Errorf("open silent alerts = %v, want 1", got)
		}
		if got := value(t, m, "thermowatt_devices", "status", "silent"); got != 1 {
			t.Errorf("silent devices = %v, want 1", got)
		}

		// The fleet: devices by the firmware they report, failed updates.
		fw := func(i int, version, state string) string {
			return fmt.Sprintf(`{"deviceId":"node-2","recordedAt":%q,"payload":{"device":{"firmware":%q,"update":{"state":%q}}}}`, recent(10+i), version, state)
		}
		if r := a.do("POST", "/api/measurements", adminToken, fw(0, "1.4.0", "rolled_back")); r.Status != 201 {
			t.Fatalf("post health: %d %s", r.Status, r.Body)
		}
		m = scrape(t, a, metricsToken)
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"thermowatt_devices_by_firmware", []string{"version", "1.4.0"}, 1},
			{"thermowatt_devices_by_firmware", []string{"version", ""}, 1}, // node-1 never said
			{"thermowatt_devices_update_failed", []string{"state", "rolled_back"}, 1},
			{"thermowatt_devices_update_failed", []string{"state", "refused"}, 0},
			{"thermowatt_open_alerts", []string{"kind", "update"}, 0},
		} {
			if got := value(t, m, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}

		// The database goes away: requests fail with 503 and are counted.
		a.st.Close()
		if r := a.do("GET", "/api/measurements", adminToken, nil); r.Status != 503 {
			t.Fatalf("with the store closed: %d %s", r.Status, r.Body)
		}
		m = scrape(t, a, metricsToken)
		if got := value(t, m, "thermowatt_db_errors_total", "where", "request"); got < 1 {
			t.Errorf("db errors = %v after a failed query, want at least 1", got)
		}
		if _, ok := m["thermowatt_devices"]; ok {
			t.Errorf("devices gauge reported although the database is closed")
		}
	})
}

// The operations endpoints, held to api/openapi.yaml like the others.
func TestOpenAPIOpsEndpoints(t *testing.T) {
	eachOpsBackend(t, func(t *testing.T, a *api, clk *opsClock) {
		v := specValidator(t)
		check := func(name string, want reqExpect, status int, method, path string, h http.Header, body any) exchange {
			t.Helper()
			x := a.send(method, path, h, body)
			if x.status != status {
				t.Fatalf("%s: %s %s -> %d %s, want %d", name, method, path, x.status, clip(x.resBody), status)
			}
			conform(t, v, name, x, want)
			return x
		}
		admin := bearer(adminToken)
		dev := a.device("esp32-node-01")
		a.device("n2")
		body := fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":%q,"temperature":21,
			"payload":{"device":{"firmware":"1.0.0","uptime_s":3600,"free_heap":41000,"rssi_dbm":-61,"queue_depth":0,"dropped":0,"last_error":null,"reset_cause":"pwron"}}}`, recent(0))
		check("reading with device health", reqConforms, 201, "POST", "/api/measurements", bearer(dev), body)

		// A silent alert that opens and resolves, and one that stays open.
		a.send("POST", "/api/measurements", bearer(a.device("n3")), fmt.Sprintf(`{"deviceId":"n3","recordedAt":%q}`, recent(0)))
		c := &alerts.Checker{Store: a.st, Policy: alerts.DefaultPolicy, Now: clk.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		clk.Add(time.Hour)
		if _, err := c.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		clk.Add(time.Minute)
		check("more data", reqConforms, 201, "POST", "/api/measurements", bearer(dev), fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":%q}`, recent(5)))
		clk.Add(time.Minute)
		if _, err := c.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		all := check("all alerts", reqConforms, 200, "GET", "/api/alerts", admin, nil).json(t)["items"].([]any)
		open := check("open alerts", reqConforms, 200, "GET", "/api/alerts?state=open&deviceId=n3&limit=5", admin, nil).json(t)["items"].([]any)
		if len(all) != 2 || len(open) != 1 {
			t.Errorf("alerts: %d in all, %d open; want 2 and 1", len(all), len(open))
		}
		check("bad state", reqViolates, 400, "GET", "/api/alerts?state=closed", admin, nil)
		check("devices with status", reqConforms, 200, "GET", "/api/devices", admin, nil)
		check("metrics", reqConforms, 200, "GET", "/metrics", bearer(metricsToken), nil)
		check("metrics need a token", reqViolates, 401, "GET", "/metrics", nil, nil)

		// The cron jobs' work on demand, for an admin with only the URL.
		check("alert check", reqConforms, 200, "POST", "/api/alerts/check", admin, nil)
		check("alert check needs admin", reqConforms, 403, "POST", "/api/alerts/check", bearer(dev), nil)
		check("retention run", reqConforms, 200, "POST", "/api/retention/run", admin, `{"batch":100}`)
		check("retention run, default batch", reqConforms, 200, "POST", "/api/retention/run", admin, nil)
		check("retention batch 0", reqViolates, 400, "POST", "/api/retention/run", admin, `{"batch":0}`)
	})
}
