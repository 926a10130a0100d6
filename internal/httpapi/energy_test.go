package httpapi_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postConstantPower sends one reading of 1000 mW every 5 minutes (the
// default expected interval) from start through end inclusive, leaving out
// those strictly inside a gap.
func postConstantPower(t *testing.T, a *api, token, id string, start, end time.Time, gapFrom, gapTo time.Time) int {
	t.Helper()
	var body []string
	for at := start; !at.After(end); at = at.Add(5 * time.Minute) {
		if at.After(gapFrom) && at.Before(gapTo) {
			continue
		}
		body = append(body, fmt.Sprintf(`{"deviceId":%q,"recordedAt":"%s","payload":{"power_mw":1000}}`, id, at.Format(time.RFC3339)))
	}
	if r := a.do("POST", "/api/measurements", token, "["+strings.Join(body, ",")+"]"); r.Status != 201 {
		t.Fatalf("post: %d %s", r.Status, r.Body)
	}
	return len(body)
}

type energyItem struct {
	Start    string
	Wh       float64
	Coverage float64
}

type energyAnswer struct {
	DeviceID, Bucket, TZ, From, To string
	Items                          []energyItem
}

func getEnergy(t *testing.T, a *api, token, query string) energyAnswer {
	t.Helper()
	r := a.do("GET", "/api/measurements/energy?"+query, token, nil)
	if r.Status != 200 {
		t.Fatalf("energy %s: %d %s", query, r.Status, r.Body)
	}
	var got energyAnswer
	decode(t, r.Body, &got)
	return got
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

// TestEnergyPerDayFromConstantPower: 1 W for a whole day is 24 Wh with full
// coverage; an hour-long outage is neither guessed at nor counted as
// covered; a zone moves the day's edges.
func TestEnergyPerDayFromConstantPower(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		reader := a.tokenOf("reader")
		day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -3)
		never := time.Time{}

		// n1: every 5 minutes from 00:00 to the next 00:00, nothing missed.
		n1 := a.device("n1")
		if n := postConstantPower(t, a, n1, "n1", day, day.Add(24*time.Hour), never, never); n != 289 {
			t.Fatalf("sent %d readings, want 289", n)
		}
		q := fmt.Sprintf("deviceId=n1&from=%s&to=%s", day.Add(-24*time.Hour).Format(time.RFC3339), day.Add(48*time.Hour).Format(time.RFC3339))
		got := getEnergy(t, a, reader, q)
		if got.DeviceID != "n1" || got.Bucket != "day" || got.TZ != "UTC" ||
			got.From != day.Add(-24*time.Hour).Format(time.RFC3339) || got.To != day.Add(48*time.Hour).Format(time.RFC3339) {
			t.Errorf("answer's head: %+v, want n1, day, UTC and the three days asked for", got)
		}
		want := []energyItem{
			{day.Add(-24 * time.Hour).Format(time.RFC3339), 0, 0},
			{day.Format(time.RFC3339), 24, 1},
			{day.Add(24 * time.Hour).Format(time.RFC3339), 0, 0}, // one reading: no span, no energy
		}
		if len(got.Items) != len(want) {
			t.Fatalf("items %+v, want %+v", got.Items, want)
		}
		for i, w := range want {
			g := got.Items[i]
			if g.Start != w.Start || !near(g.Wh, w.Wh) || !near(g.Coverage, w.Coverage) {
				t.Errorf("item %d: %+v, want %+v", i, g, w)
			}
		}

		// n2: the same but silent from 10:00 to 11:00 (eleven readings
		// missing, a 60-minute gap over the 10-minute limit).
		n2 := a.device("n2")
		postConstantPower(t, a, n2, "n2", day, day.Add(24*time.Hour), day.Add(10*time.Hour), day.Add(11*time.Hour))
		got = getEnergy(t, a, reader, fmt.Sprintf("deviceId=n2&from=%s&to=%s", day.Format(time.RFC3339), day.Add(time.Hour).Format(time.RFC3339)))
		if len(got.Items) != 1 || !near(got.Items[0].Wh, 23) || !near(got.Items[0].Coverage, 23.0/24) {
			t.Errorf("a day with an hour's outage: %+v, want 23 Wh, coverage 23/24", got.Items)
		}
		got = getEnergy(t, a, reader, fmt.Sprintf("deviceId=n2&bucket=hour&from=%s&to=%s",
			day.Add(9*time.Hour).Format(time.RFC3339), day.Add(12*time.Hour).Format(time.RFC3339)))
		var hours []string
		for _, it := range got.Items {
			hours = append(hours, fmt.Sprintf("%s %g %g", it.Start[11:16], it.Wh, it.Coverage))
		}
		if fmt.Sprint(hours) != "[09:00 1 1 10:00 0 0 11:00 1 1]" {
			t.Errorf("hours around the outage: %v, want 09:00 1 Wh, 10:00 nothing, 11:00 1 Wh", hours)
		}

		// Tokyo (UTC+9): its days start at 15:00Z, and n1's UTC day falls
		// across two of them, 15 h and 9 h.
		got = getEnergy(t, a, reader, fmt.Sprintf("deviceId=n1&tz=Asia/Tokyo&from=%s&to=%s", day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)))
		tokyo := time.FixedZone("JST", 9*3600)
		wantStart := func(d time.Time) string {
			return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, tokyo).Format(time.RFC3339)
		}
		if got.TZ != "Asia/Tokyo" || len(got.Items) != 2 {
			t.Fatalf("Tokyo: %+v, want the two Tokyo days holding the UTC day", got)
		}
		if first := got.Items[0]; first.Start != wantStart(day) || !strings.HasSuffix(first.Start, "+09:00") ||
			!near(first.Wh, 15) || !near(first.Coverage, 15.0/24) {
			t.Errorf("first Tokyo day: %+v, want start %s, 15 Wh, coverage 15/24", first, wantStart(day))
		}
		if start, _ := time.Parse(time.RFC3339, got.Items[0].Start); start.UTC() != day.Add(-9*time.Hour) {
			t.Errorf("the Tokyo day starts at %s, want %s (15:00Z the day before)", start.UTC(), day.Add(-9*time.Hour))
		}
		if second := got.Items[1]; second.Start != wantStart(day.Add(24*time.Hour)) || !near(second.Wh, 9) || !near(second.Coverage, 9.0/24) {
			t.Errorf("second Tokyo day: %+v, want 9 Wh, coverage 9/24", second)
		}

		// A month bucket holds the day, and the days around it, whole.
		got = getEnergy(t, a, reader, fmt.Sprintf("deviceId=n1&bucket=month&from=%s&to=%s", day.Format(time.RFC3339), day.Add(time.Hour).Format(time.RFC3339)))
		if len(got.Items) != 1 || !near(got.Items[0].Wh, 24) || got.Items[0].Start != time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.RFC3339) {
			t.Errorf("month: %+v, want one month with the day's 24 Wh", got.Items)
		}
	})
}

func TestEnergyCSV(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		reader := a.tokenOf("reader")
		day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
		n1 := a.device("n1")
		postConstantPower(t, a, n1, "n1", day, day.Add(24*time.Hour), day.Add(10*time.Hour), day.Add(11*time.Hour))
		r := a.do("GET", fmt.Sprintf("/api/measurements/energy?deviceId=n1&format=csv&from=%s&to=%s",
			day.Add(-24*time.Hour).Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)), reader, nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" ||
			!strings.Contains(r.Header.Get("Content-Disposition"), `filename="energy.csv"`) {
			t.Fatalf("csv: %d %v %s", r.Status, r.Header, r.Body)
		}
		want := "start,wh,coverage\n" +
			day.Add(-24*time.Hour).Format(time.RFC3339) + ",0,0\n" +
			day.Format(time.RFC3339) + ",23,0.958333\n"
		if string(r.Body) != want {
			t.Errorf("csv:\n%s\nwant:\n%s", r.Body, want)
		}
	})
}

func TestEnergyRefusesBadRequests(t *testing.T) {
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
			{"bad bucket", "deviceId=n1&bucket=week", reader, 400, `bucket="week" must be hour, day or month`},
			{"bad tz", "deviceId=n1&tz=Mars/Olympus", reader, 400, `tz="Mars/Olympus" is not an IANA time zone`},
			{"server's own zone", "deviceId=n1&tz=Local", reader, 400, `tz="Local" is not an IANA time zone`},
			{"half-hour zone", "deviceId=n1&tz=Asia/Kolkata", reader, 400, `tz="Asia/Kolkata" is 5h30m0s from UTC`},
			{"bad from", "deviceId=n1&from=yesterday", reader, 400, `from="yesterday" is not an RFC 3339 time`},
			{"bad to", "deviceId=n1&to=2026-13-01T00:00:00Z", reader, 400, `to="2026-13-01T00:00:00Z" is not an RFC 3339 time`},
			{"empty range", "deviceId=n1&from=2026-01-02T00:00:00Z&to=2026-01-02T00:00:00Z", reader, 400, "from must be before to"},
			{"reversed range", "deviceId=n1&from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", reader, 400, "from must be before to"},
			{"too many buckets", "deviceId=n1&bucket=hour&from=2025-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", reader, 400, "makes more than 3660 hour buckets"},
			{"bad format", "deviceId=n1&format=xml", reader, 400, `format="xml" must be json or csv`},
			{"no token", "deviceId=n1", "", 401, "missing token"},
			{"device token", "deviceId=n1", dev, 403, "may not read"},
		} {
			r := a.do("GET", "/api/measurements/energy?"+c.query, c.token, nil)
			if r.Status != c.status || !strings.Contains(fmt.Sprint(r.json(t)["error"]), c.msg) {
				t.Errorf("%s: %d %s, want %d %q", c.name, r.Status, r.Body, c.status, c.msg)
			}
		}
		// Half-hour zones work by the hour, whose edges are UTC hours there.
		if r := a.do("GET", "/api/measurements/energy?deviceId=n1&tz=Asia/Kolkata&bucket=hour", reader, nil); r.Status != 200 {
			t.Errorf("hours in Kolkata: %d %s", r.Status, r.Body)
		}
		// Without from and to: the last 30 days, by day, in UTC.
		got := getEnergy(t, a, reader, "deviceId=n1")
		if n := len(got.Items); n != 31 || got.Bucket != "day" || got.TZ != "UTC" {
			t.Errorf("defaults: %d items, bucket %q, tz %q; want the 31 days touching the last 30 days, by day, UTC", n, got.Bucket, got.TZ)
		}
	})
}

// TestEnergyMatchesTheSpec holds real energy answers to api/openapi.yaml.
func TestEnergyMatchesTheSpec(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		v := specValidator(t)
		dev := a.device("esp32-node-01")
		reader := bearer(a.tokenOf("reader"))
		body := fmt.Sprintf(`[{"deviceId":"esp32-node-01","recordedAt":"%s","payload":{"power_mw":600.5}},
			{"deviceId":"esp32-node-01","recordedAt":"%s","payload":{"power_mw":600.5}}]`, recent(0), recent(300))
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
			{"energy, defaults", reqConforms, 200, "/api/measurements/energy?deviceId=esp32-node-01", reader},
			{"energy, every parameter", reqConforms, 200, "/api/measurements/energy?deviceId=esp32-node-01&from=" + recent(-7200) + "&to=" + recent(7200) + "&bucket=hour&tz=Asia/Tokyo", reader},
			{"energy, csv", reqConforms, 200, "/api/measurements/energy?deviceId=esp32-node-01&bucket=month&format=csv", reader},
			{"energy, no deviceId", reqViolates, 400, "/api/measurements/energy", reader},
			{"energy, bad bucket", reqViolates, 400, "/api/measurements/energy?deviceId=esp32-node-01&bucket=week", reader},
			{"energy, bad tz", reqConforms, 400, "/api/measurements/energy?deviceId=esp32-node-01&tz=Mars/Olympus", reader},
			{"energy, unknown device", reqConforms, 404, "/api/measurements/energy?deviceId=esp32-node-99", reader},
			{"energy, no token", reqViolates, 401, "/api/measurements/energy?deviceId=esp32-node-01", nil},
			{"energy, device token", reqConforms, 403, "/api/measurements/energy?deviceId=esp32-node-01", bearer(dev)},
		} {
			x := a.send("GET", c.path, c.h, nil)
			if x.status != c.status {
				t.Fatalf("%s: %d %s, want %d", c.name, x.status, clip(x.resBody), c.status)
			}
			conform(t, v, c.name, x, c.want)
		}
	})
}
