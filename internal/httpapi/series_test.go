package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/httpapi"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

func TestSeriesAggregatesPerBucketAndLeavesOutagesEmpty(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		dev := a.device("n1")
		reader := a.tokenOf("reader")
		// Every minute for two hours, except a 30-minute outage; minute m
		// has temperature m.
		start := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
		var body []string
		for m := range 120 {
			if m >= 40 && m < 70 {
				continue
			}
			body = append(body, fmt.Sprintf(`{"deviceId":"n1","recordedAt":"%s","temperature":%d,"payload":{"power_mw":%d,"sensor":{"bmp280":{"pressure_hpa":1000}}}}`,
				start.Add(time.Duration(m)*time.Minute).Format(time.RFC3339), m, 2*m))
		}
		if r := a.do("POST", "/api/measurements", dev, "["+strings.Join(body, ",")+"]"); r.Status != 201 {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}

		q := fmt.Sprintf("/api/measurements/series?deviceId=n1&from=%s&to=%s&bucket=10m",
			start.Format(time.RFC3339), start.Add(2*time.Hour).Format(time.RFC3339))
		r := a.do("GET", q, reader, nil)
		if r.Status != 200 {
			t.Fatalf("series: %d %s", r.Status, r.Body)
		}
		var got struct {
			BucketSeconds float64 `json:"bucketSeconds"`
			Points        []struct {
				Time        time.Time
				Count       int
				Temperature *struct{ Avg, Min, Max float64 }
				PowerMW     *struct{ Avg, Min, Max float64 } `json:"power_mw"`
				PressureHPa *struct{ Avg float64 }           `json:"pressure_hpa"`
				Humidity    *struct{ Avg float64 }
			}
		}
		decode(t, r.Body, &got)
		if got.BucketSeconds != 600 {
			t.Errorf("bucketSeconds = %v, want 600", got.BucketSeconds)
		}
		// 12 ten-minute buckets; the outage (minutes 40-69) empties buckets
		// 40 and 50 entirely and leaves 60 out too.
		var starts []int
		for _, p := range got.Points {
			starts = append(starts, int(p.Time.Sub(start)/time.Minute))
		}
		if fmt.Sprint(starts) != "[0 10 20 30 70 80 90 100 110]" {
			t.Fatalf("buckets at minutes %v, want [0 10 20 30 70 80 90 100 110] (the outage absent)", starts)
		}
		p := got.Points[4] // minutes 70..79
		if p.Count != 10 || p.Temperature == nil || p.Temperature.Avg != 74.5 || p.Temperature.Min != 70 || p.Temperature.Max != 79 {
			t.Errorf("bucket at minute 70: %+v %+v, want 10 readings, temperature avg 74.5 min 70 max 79", p, p.Temperature)
		}
		if p.PowerMW == nil || p.PowerMW.Max != 158 || p.PressureHPa == nil || p.PressureHPa.Avg != 1000 {
			t.Errorf("bucket at minute 70: power %+v pressure %+v, want power max 158 and pressure 1000", p.PowerMW, p.PressureHPa)
		}
		if p.Humidity != nil {
			t.Errorf("humidity %+v in a bucket without any: want it left out", p.Humidity)
		}
	})
}

func TestSeriesDefaultBucketKeepsChartsSmall(t *testing.T) {
	for _, c := range []struct {
		span time.Duration
		want time.Duration
	}{
		{time.Hour, 10 * time.Second},
		{24 * time.Hour, 5 * time.Minute},
		{7 * 24 * time.Hour, 30 * time.Minute},
		{30 * 24 * time.Hour, 2 * time.Hour},
		{365 * 24 * time.Hour, 24 * time.Hour},
		{3 * 365 * 24 * time.Hour, 3 * 24 * time.Hour},
		{time.Minute, time.Second},
	} {
		got := httpapi.DefaultBucket(c.span)
		if got != c.want || c.span/got > 500 {
			t.Errorf("DefaultBucket(%v) = %v, want %v (at most 500 points)", c.span, got, c.want)
		}
	}

	eachBackend(t, func(t *testing.T, a *api) {
		a.device("n1")
		reader := a.tokenOf("reader")
		r := a.do("GET", "/api/measurements/series?deviceId=n1&from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z", reader, nil)
		if r.Status != 200 || r.json(t)["bucketSeconds"] != float64(7200) {
			t.Errorf("30 days without bucket: %d %s, want bucketSeconds 7200", r.Status, r.Body)
		}
		// Without from: the last 24 hours.
		r = a.do("GET", "/api/measurements/series?deviceId=n1", reader, nil)
		m := r.json(t)
		from, _ := time.Parse(time.RFC3339Nano, m["from"].(string))
		to, _ := time.Parse(time.RFC3339Nano, m["to"].(string))
		if r.Status != 200 || to.Sub(from) != 24*time.Hour || m["bucketSeconds"] != float64(300) {
			t.Errorf("no range: %d %s, want the last 24 h in 5-minute buckets", r.Status, r.Body)
		}
	})
}

func TestSeriesRefusesBadRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		dev := a.device("n1")
		reader := a.tokenOf("reader")
		for _, c := range []struct {
			name, query, token string
			status             int
			msg                string
		}{
			{"no device", "", reader, 400, "deviceId is required"},
			{"unknown device", "deviceId=ghost", reader, 404, `no device "ghost"`},
			{"bad from", "deviceId=n1&from=yesterday", reader, 400, `from="yesterday" is not an RFC 3339 time`},
			{"empty range", "deviceId=n1&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", reader, 400, "from must be before to"},
			{"bad bucket", "deviceId=n1&bucket=soon", reader, 400, "bucket=\"soon\" must be a duration"},
			{"sub-second bucket", "deviceId=n1&bucket=10ms", reader, 400, "must be a duration from 1s"},
			{"too many buckets", "deviceId=n1&from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z&bucket=1s", reader, 400, "at most 5000 are allowed: use a bucket of at least 8m39s"},
			{"no token", "deviceId=n1", "", 401, "missing token"},
			{"device token", "deviceId=n1", dev, 403, "may not read"},
		} {
			r := a.do("GET", "/api/measurements/series?"+c.query, c.token, nil)
			if r.Status != c.status || !strings.Contains(fmt.Sprint(r.json(t)["error"]), c.msg) {
				t.Errorf("%s: %d %s, want %d %q", c.name, r.Status, r.Body, c.status, c.msg)
			}
		}
		for _, q := range []string{"bucket=300", "bucket=5m", "bucket=1h30m"} {
			if r := a.do("GET", "/api/measurements/series?deviceId=n1&"+q, reader, nil); r.Status != 200 {
				t.Errorf("%s: %d %s", q, r.Status, r.Body)
			}
		}
	})
}

// TestPublicReadOpensReadsOnly: with PUBLIC_READ=true anybody may read,
// nobody may write or administer without a token, and a wrong token is
// still refused rather than quietly read as public.
func TestPublicReadOpensReadsOnly(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			srv := httptest.NewServer(httpapi.NewServer(httpapi.Deps{
				Store: st, Verifier: auth.NewVerifier(st, adminToken), PublicRead: true,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			}))
			t.Cleanup(srv.Close)
			a := &api{t: t, url: srv.URL, st: st}
			dev := a.device("n1")
			reading := fmt.Sprintf(`{"deviceId":"n1","recordedAt":"%s","temperature":1}`, recent(0))
			if r := a.do("POST", "/api/measurements", dev, reading); r.Status != 201 {
				t.Fatalf("post: %d %s", r.Status, r.Body)
			}
			for _, c := range []struct {
				method, path, token, body string
				status                    int
			}{
				{"GET", "/api/devices", "", "", 200},
				{"GET", "/api/measurements?deviceId=n1", "", "", 200},
				{"GET", "/api/measurements/series?deviceId=n1", "", "", 200},
				{"POST", "/api/measurements", "", reading, 401},
				{"POST", "/api/devices", "", `{"id":"n2"}`, 401},
				{"GET", "/api/tokens", "", "", 401},
				{"GET", "/api/devices", "tw_0123456789ab_wrong", "", 401},
			} {
				if r := a.do(c.method, c.path, c.token, c.body); r.Status != c.status {
					t.Errorf("PUBLIC_READ: %s %s (token %q): %d %s, want %d", c.method, c.path, c.token, r.Status, r.Body, c.status)
				}
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		eachBackend(t, func(t *testing.T, a *api) {
			if r := a.do("GET", "/api/devices", "", nil); r.Status != 401 {
				t.Errorf("GET /api/devices without token on a default server: %d, want 401", r.Status)
			}
		})
	})
}

// TestDashboardIsServedBesideTheAPI: / is the web UI; /api/ and /healthz
// answer as before.
func TestDashboardIsServedBesideTheAPI(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		r := a.do("GET", "/", "", nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), `<script type="module" src="app.js">`) {
			t.Fatalf("GET /: %d %.200s", r.Status, r.Body)
		}
		if r := a.do("GET", "/api/nope", "", nil); r.Status != 404 || !strings.Contains(string(r.Body), "no such endpoint") {
			t.Errorf("GET /api/nope: %d %s, want the API's JSON 404", r.Status, r.Body)
		}
		if r := a.do("GET", "/healthz", "", nil); r.Status != 200 {
			t.Errorf("GET /healthz: %d", r.Status)
		}
	})
}

func decode(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("answer is not the expected JSON: %v\n%s", err, body)
	}
}

// TestSeriesMatchesTheSpec holds real series answers to api/openapi.yaml.
func TestSeriesMatchesTheSpec(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		v := specValidator(t)
		dev := a.device("esp32-node-01")
		reader := bearer(a.tokenOf("reader"))
		body := fmt.Sprintf(`[{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":24.3,"payload":{"voltage_v":4.98,"current_ma":120.4,"power_mw":600.5,"sensor":{"bmp280":{"pressure_hpa":1012.3}}}},
			{"deviceId":"esp32-node-01","recordedAt":"%s","humidity":40}]`, recent(0), recent(1))
		if r := a.do("POST", "/api/measurements", dev, body); r.Status != 201 {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}
		for _, c := range []struct {
			name   string
			want   reqExpect
			status int
			path   string
			h      http.Header
		}{
			{"series, defaults", reqConforms, 200, "/api/measurements/series?deviceId=esp32-node-01", reader},
			{"series, every parameter", reqConforms, 200, "/api/measurements/series?deviceId=esp32-node-01&from=" + recent(-600) + "&to=" + recent(600) + "&bucket=1m", reader},
			{"series, seconds", reqConforms, 200, "/api/measurements/series?deviceId=esp32-node-01&bucket=300", reader},
			{"series, no deviceId", reqViolates, 400, "/api/measurements/series", reader},
			{"series, bad bucket", reqViolates, 400, "/api/measurements/series?deviceId=esp32-node-01&bucket=soon", reader},
			{"series, too many buckets", reqEither, 400, "/api/measurements/series?deviceId=esp32-node-01&bucket=1s&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z", reader},
			{"series, unknown device", reqConforms, 404, "/api/measurements/series?deviceId=esp32-node-99", reader},
			{"series, no token", reqViolates, 401, "/api/measurements/series?deviceId=esp32-node-01", nil},
			{"series, device token", reqConforms, 403, "/api/measurements/series?deviceId=esp32-node-01", bearer(dev)},
		} {
			x := a.send("GET", c.path, c.h, nil)
			if x.status != c.status {
				t.Fatalf("%s: %d %s, want %d", c.name, x.status, clip(x.resBody), c.status)
			}
			conform(t, v, c.name, x, c.want)
		}
	})
}
