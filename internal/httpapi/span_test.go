package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The extremes of a series or energy range: RFC 3339 reaches from year
// 0000 to 9999 and ±23:59 beyond, about 10,000 years, where a
// time.Duration holds 292. No bucket arithmetic may overflow: a range and
// bucket making more than 5,000 buckets is a 400 saying what to ask, a
// range without bucket gets a default of at most 500 (at most 1,000 at the
// 10-year cap), and nothing is a 5xx or invalid JSON. (Before, 0001 to
// 9999 with bucket=1s passed the limit: the span saturated and the count
// wrapped negative.)
func TestSeriesAndEnergyAtTheExtremesOfTime(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		dev := a.device("n1")
		reader := a.tokenOf("reader")
		now := time.Now().UTC()
		var body []string
		for i := range 30 {
			body = append(body, fmt.Sprintf(`{"deviceId":"n1","recordedAt":"%s","temperature":%d,"payload":{"power_mw":1000}}`,
				now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339), i))
		}
		if r := a.do("POST", "/api/measurements", dev, "["+strings.Join(body, ",")+"]"); r.Status != 201 {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}
		const (
			first = "0000-01-01T00:00:00Z"
			last  = "9999-12-31T23:59:59.999999999Z"
		)
		get := func(path string, kv ...string) (int, map[string]any, string) {
			v := url.Values{"deviceId": {"n1"}}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			r := a.do("GET", path+"?"+v.Encode(), reader, nil)
			var m map[string]any
			if r.Status < 300 && json.Unmarshal(r.Body, &m) != nil {
				t.Fatalf("%s %v: %d with invalid JSON %.200s", path, kv, r.Status, r.Body)
			}
			if r.Status >= 500 {
				t.Fatalf("%s %v: %d %s", path, kv, r.Status, r.Body)
			}
			return r.Status, m, string(r.Body)
		}
		for _, c := range []struct {
			from, to, bucket string
			status           int
		}{
			{"0001-01-01T00:00:00Z", "9999-12-31T00:00:00Z", "1s", 400},
			{"0000-01-01T00:00:00+23:59", last, "", 400},  // year -1 in UTC
			{first, "9999-12-31T23:59:59-23:59", "", 400}, // year 10000 in UTC
			{first, last, "1s", 400},
			{first, last, "1h", 400},
			{first, last, "315360000", 200}, // 10 years, the widest bucket: 1,000 buckets
			{first, last, "", 200},
			{"1700-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "", 200},
			{"1700-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "1s", 400},
			{last, first, "", 400},
			{last, first, "1s", 400},
			{"2020-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "", 200}, // 280 years: just inside a Duration
		} {
			kv := []string{"from", c.from, "to", c.to}
			if c.bucket != "" {
				kv = append(kv, "bucket", c.bucket)
			}
			status, m, raw := get("/api/measurements/series", kv...)
			if status != c.status {
				t.Errorf("series %v: %d %.300s, want %d", kv, status, raw, c.status)
				continue
			}
			if status == 400 && c.bucket != "" && c.from < c.to && !strings.Contains(raw, "use a bucket of at least") {
				t.Errorf("series %v: %s, want the bucket to use", kv, raw)
			}
			if status == 200 {
				from, _ := time.Parse(time.RFC3339Nano, c.from)
				to, _ := time.Parse(time.RFC3339Nano, c.to)
				bucket := m["bucketSeconds"].(float64)
				if n := float64(to.Unix()-from.Unix()) / bucket; n > 5000 || bucket > 315360000 {
					t.Errorf("series %v: bucket %vs makes %.0f buckets", kv, bucket, n)
				}
				if c.from < "2020" && len(m["points"].([]any)) != 1 {
					t.Errorf("series %v: %d points, want the one bucket holding the readings", kv, len(m["points"].([]any)))
				}
			}
		}
		for _, b := range []string{"hour", "day", "month"} {
			for _, kv := range [][]string{
				{"from", first, "to", last, "bucket", b},
				{"from", "9999-12-31T00:00:00Z", "to", last, "bucket", b},
				{"from", first, "to", "0000-01-03T00:00:00Z", "bucket", b},
				{"from", last, "to", first, "bucket", b},
				{"from", "9999-12-31T23:00:00-23:59", "bucket", b}, // year 10000 in UTC
				{"from", "9999-12-31T23:00:00Z", "bucket", b},      // to is now: before from
			} {
				get("/api/measurements/energy", kv...)
			}
		}
	})
}
