package httpapi_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seedExample is the reading of the seed's データモデル案, byte for byte.
const seedExample = `{
    "deviceId": "esp32-node-01",
    "temperature": 24.3,
    "humidity": null,
    "recordedAt": "2025-02-05T09:30:00+09:00",
    "payload": {
      "voltage_v": 4.98,
      "current_ma": 120.4,
      "power_mw": 600.5,
      "sensor": {
        "bmp280": {
          "temperature_c": 24.3,
          "pressure_hpa": 1012.3
        },
        "ina219": {
          "shunt_ohms": 0.1
        }
      }
    }
  }`

func TestSeedExampleLandsOnceAndComesBack(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("esp32-node-01")
		r := a.do("POST", "/api/measurements", tok, seedExample)
		// A device token's answer also says what the device should have:
		// nothing set, no rollout yet.
		if r.Status != http.StatusCreated || string(r.Body) != `{"accepted":1,"duplicates":0,"rejected":[],"desired":{"settingsRev":0,"firmware":null}}`+"\n" {
			t.Fatalf("first post: %d %s", r.Status, r.Body)
		}
		r = a.do("POST", "/api/measurements", tok, seedExample)
		if r.Status != http.StatusCreated || string(r.Body) != `{"accepted":0,"duplicates":1,"rejected":[],"desired":{"settingsRev":0,"firmware":null}}`+"\n" {
			t.Fatalf("second post must be an idempotent success: %d %s", r.Status, r.Body)
		}
		if n := a.count("esp32-node-01"); n != 1 {
			t.Fatalf("rows = %d, want 1", n)
		}

		got := a.do("GET", "/api/measurements?deviceId=esp32-node-01", adminToken, nil)
		var page struct {
			Items []map[string]any `json:"items"`
		}
		if err := json.Unmarshal(got.Body, &page); err != nil || len(page.Items) != 1 {
			t.Fatalf("GET: %d %s", got.Status, got.Body)
		}
		item := page.Items[0]
		want := map[string]any{
			"deviceId": "esp32-node-01", "recordedAt": "2025-02-05T00:30:00Z", "recordedAtSource": "device",
			"temperature": 24.3, "humidity": nil, "voltage_v": 4.98, "current_ma": 120.4, "power_mw": 600.5,
		}
		for k, v := range want {
			if !reflect.DeepEqual(item[k], v) {
				t.Errorf("%s = %v, want %v", k, item[k], v)
			}
		}
		sensor := item["payload"].(map[string]any)["sensor"].(map[string]any)
		if sensor["bmp280"].(map[string]any)["pressure_hpa"] != 1012.3 {
			t.Errorf("payload not kept whole: %v", item["payload"])
		}
		if item["payload"].(map[string]any)["voltage_v"] != 4.98 {
			t.Errorf("power values must stay in payload too: %v", item["payload"])
		}
	})
}

func TestValidationRejectsEachRuleWithItsField(t *testing.T) {
	future := "2099-01-01T00:00:00Z"
	cases := []struct {
		name, reading, field, message string
	}{
		{"missing deviceId", `{"recordedAt":"NOW"}`, "deviceId", "deviceId is required"},
		{"deviceId wrong chars", `{"deviceId":"bad id!","recordedAt":"NOW"}`, "deviceId", "deviceId must be 1-64 characters"},
		{"deviceId too long", `{"deviceId":"` + strings.Repeat("a", 65) + `","recordedAt":"NOW"}`, "deviceId", "deviceId must be 1-64 characters"},
		{"deviceId not string", `{"deviceId":7,"recordedAt":"NOW"}`, "deviceId", "deviceId must be a string"},
		{"recordedAt without offset", `{"deviceId":"n1","recordedAt":"2025-02-05T09:30:00"}`, "recordedAt", "not RFC 3339 with a time-zone offset"},
		{"recordedAt naive", `{"deviceId":"n1","recordedAt":"2025-02-05 09:30:00+09:00"}`, "recordedAt", "not RFC 3339"},
		{"recordedAt 1970", `{"deviceId":"n1","recordedAt":"1970-01-01T00:00:05Z","temperature":1}`, "recordedAt", "before 2020-01-01"},
		{"recordedAt 2000 epoch", `{"deviceId":"n1","recordedAt":"2000-01-01T00:10:00Z","temperature":1}`, "recordedAt", "before 2020-01-01"},
		{"recordedAt future", `{"deviceId":"n1","recordedAt":"` + future + `","temperature":1}`, "recordedAt", "more than 10 minutes ahead"},
		{"temperature string", `{"deviceId":"n1","recordedAt":"NOW","temperature":"24.3"}`, "temperature", "temperature must be a number or null"},
		{"temperature range", `{"deviceId":"n1","recordedAt":"NOW","temperature":250}`, "temperature", "outside the accepted range -100 to 200 °C"},
		{"humidity range", `{"deviceId":"n1","recordedAt":"NOW","humidity":101}`, "humidity", "outside the accepted range 0 to 100 %"},
		{"payload not object", `{"deviceId":"n1","recordedAt":"NOW","payload":[1]}`, "payload", "payload must be a JSON object"},
		{"payload too big", `{"deviceId":"n1","recordedAt":"NOW","payload":{"x":"` + strings.Repeat("a", 8200) + `"}}`, "payload", "the maximum is 8192"},
		{"voltage wrong type", `{"deviceId":"n1","recordedAt":"NOW","payload":{"voltage_v":"5V"}}`, "payload.voltage_v", "must be a number or null"},
		{"voltage range", `{"deviceId":"n1","recordedAt":"NOW","payload":{"voltage_v":5000}}`, "payload.voltage_v", "outside the accepted range -1000 to 1000 V"},
		{"current range", `{"deviceId":"n1","recordedAt":"NOW","payload":{"current_ma":2e6}}`, "payload.current_ma", "outside the accepted range"},
		{"power range", `{"deviceId":"n1","recordedAt":"NOW","payload":{"power_mw":-2e9}}`, "payload.power_mw", "outside the accepted range"},
		{"pressure range", `{"deviceId":"n1","recordedAt":"NOW","payload":{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}}`, "payload.sensor.bmp280.pressure_hpa", "outside the accepted range 0 to 10000 hPa"},
		{"payload too deep", `{"deviceId":"n1","recordedAt":"NOW","payload":{"x":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}}`, "payload", "1000 levels deep; the maximum is 32"},
		{"unknown top-level field", `{"deviceId":"n1","recordedAt":"NOW","voltage":5}`, "voltage", `unknown field "voltage": put extra data inside payload`},
		{"not an object", `"n1"`, "", "a reading must be a JSON object"},
	}
	eachBackend(t, func(t *testing.T, a *api) {
		for _, c := range cases {
			body := "[" + strings.ReplaceAll(c.reading, "NOW", recent(0)) + "]"
			r := a.do("POST", "/api/measurements", adminToken, body)
			var res struct {
				Accepted int
				Rejected []struct {
					Index   int
					Field   string
					Message string
				}
			}
			if err := json.Unmarshal(r.Body, &res); err != nil {
				t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
			}
			if r.Status != http.StatusBadRequest || res.Accepted != 0 || len(res.Rejected) != 1 ||
				res.Rejected[0].Index != 0 || res.Rejected[0].Field != c.field || !strings.Contains(res.Rejected[0].Message, c.message) {
				t.Errorf("%s: got %d %s; want 400 field %q message containing %q", c.name, r.Status, r.Body, c.field, c.message)
			}
		}
		if n := a.count("n1"); n != 0 {
			t.Errorf("invalid readings were stored: %d", n)
		}
	})
}

func TestGoodReadingsAreStoredBesideBadOnes(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		body := fmt.Sprintf(`[
			{"deviceId":"n1","recordedAt":"%s","temperature":20.5},
			{"deviceId":"n1","recordedAt":"%s","temperature":"hot"},
			{"deviceId":"n1","recordedAt":"%s","payload":{"power_mw":12}},
			{"deviceId":"n1","recordedAt":"1999-12-31T23:59:59Z"},
			{"deviceId":"n1","recordedAt":"%s","temperature":20.5}
		]`, recent(1), recent(2), recent(3), recent(1))
		r := a.do("POST", "/api/measurements", tok, body)
		want := `{"accepted":2,"duplicates":1,"rejected":[` +
			`{"index":1,"field":"temperature","message":"temperature must be a number or null"},` +
			`{"index":3,"field":"recordedAt","message":"recordedAt 1999-12-31T23:59:59Z is before 2020-01-01: the device clock is probably not set (sync it by NTP before sending)"}],` +
			`"desired":{"settingsRev":0,"firmware":null}}` + "\n" // a device token's answer says what it should have
		if r.Status != http.StatusCreated || string(r.Body) != want {
			t.Fatalf("got %d %s\nwant 201 %s", r.Status, r.Body, want)
		}
		if n := a.count("n1"); n != 2 {
			t.Fatalf("stored %d, want 2", n)
		}
	})
}

func TestMissingRecordedAtUsesServerTimeAndSaysSo(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		if r := a.do("POST", "/api/measurements", tok, `{"deviceId":"n1","temperature":21}`); r.Status != http.StatusCreated {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		page := a.do("GET", "/api/measurements?deviceId=n1", adminToken, nil).json(t)
		item := page["items"].([]any)[0].(map[string]any)
		if item["recordedAtSource"] != "server" || item["recordedAt"] != item["receivedAt"] {
			t.Fatalf("want server time flagged: %v", item)
		}
	})
}

func TestWholeBodyErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		many := make([]map[string]any, 501)
		for i := range many {
			many[i] = map[string]any{"deviceId": "n1", "recordedAt": recent(i)}
		}
		huge := `[{"deviceId":"n1","recordedAt":"` + recent(0) + `","payload":{"x":"` + strings.Repeat("a", 1<<20) + `"}}]`
		cases := []struct {
			name   string
			body   any
			status int
			errMsg string
		}{
			{"not JSON", `{"deviceId":`, 400, "not valid JSON"},
			{"not JSON array", `[{"deviceId":"n1"},`, 400, "body is not valid JSON"},
			{"a number", `42`, 400, "body must be a reading object or an array of readings"},
			{"empty", ``, 400, "empty body"},
			{"empty array", `[]`, 400, "empty array"},
			{"501 readings", many, 413, "501 readings in one request; the maximum is 500"},
			{"over 1 MiB", huge, 413, "body over 1048576 bytes"},
		}
		for _, c := range cases {
			r := a.do("POST", "/api/measurements", adminToken, c.body)
			if r.Status != c.status || !strings.Contains(fmt.Sprint(r.json(t)["error"]), c.errMsg) {
				t.Errorf("%s: got %d %s, want %d with %q", c.name, r.Status, r.Body, c.status, c.errMsg)
			}
		}
		if n := a.count("n1"); n != 0 {
			t.Errorf("stored %d readings from refused bodies", n)
		}
	})
}

func TestPaginationWalksEveryReadingOnceNewestFirst(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		var batch []map[string]any
		for i := range 25 {
			batch = append(batch, map[string]any{"deviceId": "n1", "recordedAt": recent(i), "temperature": float64(i)})
		}
		batch = append(batch, map[string]any{"deviceId": "n2", "recordedAt": recent(0), "temperature": 99})
		if r := a.do("POST", "/api/measurements", adminToken, batch); r.Status != 201 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		var seen []float64
		path := "/api/measurements?deviceId=n1&limit=10"
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("pagination does not end")
			}
			p := a.do("GET", path, adminToken, nil).json(t)
			for _, it := range p["items"].([]any) {
				seen = append(seen, it.(map[string]any)["temperature"].(float64))
			}
			if p["nextCursor"] == nil {
				break
			}
			path = "/api/measurements?deviceId=n1&limit=10&cursor=" + p["nextCursor"].(string)
		}
		if len(seen) != 25 {
			t.Fatalf("saw %d readings, want 25: %v", len(seen), seen)
		}
		for i, v := range seen {
			if v != float64(24-i) {
				t.Fatalf("not newest first: %v", seen)
			}
		}
		// from inclusive, to exclusive
		p := a.do("GET", "/api/measurements?deviceId=n1&from="+recent(5)+"&to="+recent(8), adminToken, nil).json(t)
		if n := len(p["items"].([]any)); n != 3 {
			t.Fatalf("from/to gave %d readings, want 3", n)
		}
		for _, bad := range []string{"limit=0", "limit=1001", "limit=x", "from=yesterday", "cursor=bm9wZQ", "format=xml"} {
			r := a.do("GET", "/api/measurements?"+bad, adminToken, nil)
			if r.Status != 400 || r.json(t)["error"] == nil {
				t.Errorf("%s: %d %s", bad, r.Status, r.Body)
			}
		}
	})
}

func TestCSVExportStreamsAllRows(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("esp32-node-01")
		a.do("POST", "/api/measurements", tok, seedExample)
		r := a.do("GET", "/api/measurements?deviceId=esp32-node-01&format=csv", adminToken, nil)
		lines := strings.Split(strings.TrimSpace(string(r.Body)), "\n")
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || len(lines) != 2 {
			t.Fatalf("%d %s %q", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		if lines[0] != "id,deviceId,recordedAt,receivedAt,recordedAtSource,temperature,humidity,voltage_v,current_ma,power_mw,payload" {
			t.Fatalf("header: %s", lines[0])
		}
		if !strings.Contains(lines[1], ",esp32-node-01,2025-02-05T00:30:00Z,") || !strings.Contains(lines[1], ",device,24.3,,4.98,120.4,600.5,") {
			t.Fatalf("row: %s", lines[1])
		}
	})
}

// A body cut off in transit is the network's fault: the answer must tell
// the device to resend (408), never to dead-letter the batch (400).
func TestTruncatedBodyAsksForResend(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		body := fmt.Sprintf(`[{"deviceId":"n1","recordedAt":"%s"}]`, recent(0))
		fmt.Fprintf(conn, "POST /api/measurements HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s",
			adminToken, len(body)+50, body)
		conn.(*net.TCPConn).CloseWrite()
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d, want 408", res.StatusCode)
		}
		if n := a.count("n1"); n != 0 {
			t.Fatalf("stored %d readings of a cut-off body", n)
		}
	})
}

// What a payload holds never fails its batch on either backend: a payload
// nested 1,000 levels deep (SQLite's json_valid limit) or a pressure the
// roll-ups cannot sum is refused alone, the good reading beside it is
// stored, on both ingest endpoints.
func TestPayloadExtremesFailOnlyTheirReading(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		for i, bad := range []string{
			`{"x":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}`,
			strings.Repeat(`{"a":`, 1000) + `1` + strings.Repeat(`}`, 1000),
			`{"sensor":{"bmp280":{"pressure_hpa":1.7e308}}}`,
			`{"sensor":{"bmp280":{"pressure_hpa":-1.7e308}}}`,
		} {
			for _, path := range []string{"/api/measurements", "/api/raw-measurements"} {
				at := time.Now().UTC().Add(-time.Duration(10*i+len(path)) * time.Second)
				body := fmt.Sprintf(`[{"deviceId":"n1","recordedAt":"%s","temperature":1},{"deviceId":"n1","recordedAt":"%s","payload":%s}]`,
					at.Format(time.RFC3339Nano), at.Add(time.Second).Format(time.RFC3339Nano), bad)
				r := a.do("POST", path, adminToken, body)
				res := r.json(t)
				if r.Status >= 500 || fmt.Sprint(res["accepted"]) != "1" {
					t.Fatalf("%s %.60s: %d %s; want the good reading stored and the other refused", path, bad, r.Status, r.Body)
				}
			}
		}
	})
}
