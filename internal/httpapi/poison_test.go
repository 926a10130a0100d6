package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// Strings that one backend or the other cannot keep exactly as sent:
// PostgreSQL's jsonb refuses NUL and lone surrogates, and neither backend
// may keep bytes that are not UTF-8, since they would be served back as
// UTF-8 JSON and CSV.
var unstorablePayloads = map[string]string{
	"NUL escape in a value":        `{"s":"a\u0000b"}`,
	"NUL escape in a key":          `{"k\u0000":1}`,
	"lone high surrogate":          `{"s":"\ud800"}`,
	"high surrogate then a letter": `{"s":"\ud800x"}`,
	"lone low surrogate":           `{"s":"\udc00"}`,
	"surrogates in reverse order":  `{"s":"\udc00\ud800"}`,
	"invalid UTF-8 in a value":     "{\"s\":\"\xff\xfe\"}",
	"invalid UTF-8 in a key":       "{\"\xc3\":1}",
	"truncated UTF-8 sequence":     "{\"s\":\"\xe2\x82\"}",
	"nested NUL":                   `{"sensor":{"names":["ok","\u0000"]}}`,
}

// Each reading is judged alone: a reading that cannot be stored exactly
// as received is rejected with its index and field, and the others of its
// request are stored.
func TestUnstorableStringsRejectOnlyTheirReading(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("node-1")
		i := 0
		for name, payload := range unstorablePayloads {
			body := fmt.Sprintf(`[{"deviceId":"node-1","recordedAt":%q,"temperature":20},
				{"deviceId":"node-1","recordedAt":%q,"temperature":21,"payload":%s},
				{"deviceId":"node-1","recordedAt":%q,"temperature":22}]`, recent(3*i), recent(3*i+1), payload, recent(3*i+2))
			i++
			r := a.do("POST", "/api/measurements", tok, body)
			if r.Status != http.StatusCreated {
				t.Errorf("%s: %d %s, want 201", name, r.Status, r.Body)
				continue
			}
			var res struct {
				Accepted int `json:"accepted"`
				Rejected []struct {
					Index   int    `json:"index"`
					Field   string `json:"field"`
					Message string `json:"message"`
				} `json:"rejected"`
			}
			if err := json.Unmarshal(r.Body, &res); err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 2 || len(res.Rejected) != 1 || res.Rejected[0].Index != 1 || res.Rejected[0].Field != "payload" {
				t.Errorf("%s: answer %s, want 2 accepted and reading 1 rejected on payload", name, r.Body)
			}
			if !utf8.Valid(r.Body) {
				t.Errorf("%s: the answer is not UTF-8: %q", name, r.Body)
			}
		}
		if n, want := a.count("node-1"), 2*len(unstorablePayloads); n != want {
			t.Errorf("stored %d readings, want %d", n, want)
		}

		// A lone poisoned reading: nothing acceptable, 400 (never 5xx).
		r := a.do("POST", "/api/measurements", tok, fmt.Sprintf(`{"deviceId":"node-1","recordedAt":%q,"payload":{"s":"\u0000"}}`, recent(1000)))
		if r.Status != http.StatusBadRequest {
			t.Errorf("a single unstorable reading: %d %s, want 400", r.Status, r.Body)
		}

		// What is stored comes back as strict UTF-8 JSON and CSV.
		page := a.do("GET", "/api/measurements?deviceId=node-1&limit=1000", adminToken, nil)
		if page.Status != 200 || !utf8.Valid(page.Body) || !json.Valid(page.Body) {
			t.Errorf("GET page: %d, valid UTF-8 %v", page.Status, utf8.Valid(page.Body))
		}
		csv := a.do("GET", "/api/measurements?deviceId=node-1&format=csv", adminToken, nil)
		if csv.Status != 200 || !utf8.Valid(csv.Body) {
			t.Errorf("GET csv: %d, valid UTF-8 %v", csv.Status, utf8.Valid(csv.Body))
		}
	})
}

// Text that both backends can keep is kept exactly, escapes and all.
func TestStorableUnicodeIsKept(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("node-1")
		payload := `{"name":"温度計 😀","pair":"\ud83d\ude00","tab":"a\tb","é":1}`
		r := a.do("POST", "/api/measurements", tok, fmt.Sprintf(`{"deviceId":"node-1","recordedAt":%q,"payload":%s}`, recent(0), payload))
		if r.Status != http.StatusCreated || !strings.Contains(string(r.Body), `"accepted":1`) {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}
		page := a.do("GET", "/api/measurements?deviceId=node-1", adminToken, nil)
		var got struct {
			Items []struct {
				Payload map[string]any `json:"payload"`
			} `json:"items"`
		}
		if err := json.Unmarshal(page.Body, &got); err != nil || len(got.Items) != 1 {
			t.Fatalf("GET: %v %s", err, page.Body)
		}
		p := got.Items[0].Payload
		if p["name"] != "温度計 😀" || p["pair"] != "😀" || p["tab"] != "a\tb" || p["é"] != 1.0 {
			t.Errorf("payload came back as %v", p)
		}
	})
}

// Requests share commits. One device's poisoned readings never fail
// another device's valid ones, even when they arrive at the same moment.
func TestPoisonedRequestsNeverFailOtherDevices(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		bad, good := a.device("bad-node"), a.device("good-node")
		const rounds, goodPerRound = 40, 5
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		fail := func(s string) {
			mu.Lock()
			failures = append(failures, s)
			mu.Unlock()
		}
		payloads := make([]string, 0, len(unstorablePayloads))
		for _, p := range unstorablePayloads {
			payloads = append(payloads, p)
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range rounds {
				body := fmt.Sprintf(`[{"deviceId":"bad-node","recordedAt":%q,"payload":%s},{"deviceId":"bad-node","recordedAt":%q}]`,
					recent(2*i), payloads[i%len(payloads)], recent(2*i+1))
				if r := a.do("POST", "/api/measurements", bad, body); r.Status >= 500 {
					fail(fmt.Sprintf("poisoned request %d: %d %s", i, r.Status, r.Body))
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := range rounds * goodPerRound {
				r := a.do("POST", "/api/measurements", good, fmt.Sprintf(`{"deviceId":"good-node","recordedAt":%q,"temperature":20}`, recent(i)))
				if r.Status != http.StatusCreated {
					fail(fmt.Sprintf("valid request %d: %d %s", i, r.Status, r.Body))
				}
			}
		}()
		wg.Wait()
		for _, f := range failures[:min(len(failures), 5)] {
			t.Error(f)
		}
		if n := a.count("good-node"); n != rounds*goodPerRound {
			t.Errorf("good-node has %d readings stored, want %d", n, rounds*goodPerRound)
		}
		if n := a.count("bad-node"); n != rounds {
			t.Errorf("bad-node has %d readings stored, want %d (its valid ones)", n, rounds)
		}
	})
}

// A device token speaks only for its own device: a batch that names
// another device is refused whole, even when that reading is invalid for
// other reasons too.
func TestBatchNamingAnotherDeviceStoresNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("node-1")
		a.device("node-2")
		for name, other := range map[string]string{
			"valid":         fmt.Sprintf(`{"deviceId":"node-2","recordedAt":%q}`, recent(1)),
			"unknown field": fmt.Sprintf(`{"deviceId":"node-2","recordedAt":%q,"extra":1}`, recent(1)),
			"bad time":      `{"deviceId":"node-2","recordedAt":"yesterday"}`,
			"bad payload":   fmt.Sprintf(`{"deviceId":"node-2","recordedAt":%q,"payload":[]}`, recent(1)),
		} {
			body := fmt.Sprintf(`[{"deviceId":"node-1","recordedAt":%q,"temperature":20},%s]`, recent(0), other)
			r := a.do("POST", "/api/measurements", tok, body)
			if r.Status != http.StatusForbidden {
				t.Errorf("%s: %d %s, want 403", name, r.Status, r.Body)
			}
		}
		if n := a.count("node-1") + a.count("node-2"); n != 0 {
			t.Errorf("%d readings stored, want none", n)
		}
	})
}

// Device ids that are path segments of their own are refused, so that no
// device's URL can point at another resource.
func TestPathSpecialDeviceIDsAreRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		for _, id := range []string{".", ".."} {
			if r := a.do("POST", "/api/devices", adminToken, map[string]string{"id": id}); r.Status != http.StatusBadRequest {
				t.Errorf("register %q: %d %s, want 400", id, r.Status, r.Body)
			}
			r := a.do("POST", "/api/measurements", adminToken, fmt.Sprintf(`{"deviceId":%q,"recordedAt":%q}`, id, recent(0)))
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), `"field":"deviceId"`) {
				t.Errorf("ingest as %q: %d %s, want 400 on deviceId", id, r.Status, r.Body)
			}
		}
		// Dots inside an id stay allowed.
		if r := a.do("POST", "/api/devices", adminToken, map[string]string{"id": "site.a..b"}); r.Status != http.StatusCreated {
			t.Errorf("register site.a..b: %d %s", r.Status, r.Body)
		}
	})
}

// A cursor whose numbers no server gave out is refused, not read as some
// other position.
func TestOutOfRangeCursorIsRefused(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("node-1")
		a.do("POST", "/api/measurements", tok, fmt.Sprintf(`{"deviceId":"node-1","recordedAt":%q}`, recent(0)))
		for _, raw := range []string{
			"-9223372036854775808.-9223372036854775808",
			"9223372036854775807.1",
			"-1.1",
			"1700000000000000.-1",
		} {
			cursor := base64url(raw)
			r := a.do("GET", "/api/measurements?deviceId=node-1&cursor="+cursor, adminToken, nil)
			if r.Status != http.StatusBadRequest {
				t.Errorf("cursor %s: %d %s, want 400", raw, r.Status, r.Body)
			}
		}
	})
}

func TestLeapSecondIsNamed(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("node-1")
		r := a.do("POST", "/api/measurements", tok, `{"deviceId":"node-1","recordedAt":"2016-12-31T23:59:60Z"}`)
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "leap second") {
			t.Errorf("leap second: %d %s, want 400 naming the leap second", r.Status, r.Body)
		}
	})
}

func base64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
