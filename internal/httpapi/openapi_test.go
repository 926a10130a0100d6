package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	verrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/pb33f/libopenapi/orderedmap"

	"github.com/thermowatt/thermowatt/internal/testdb"
)

// These tests hold api/openapi.yaml to the real server: real requests on
// the main paths, and the real answers to them, are validated against the
// spec; the validator is shown to fail on answers that break it; and every
// route in routes.go must be in the spec (and nothing else), so that the
// spec cannot silently drift from the code.

const specFile = "../../api/openapi.yaml"

// specValidator loads the spec and returns a validator that also asserts
// formats: without that a "date-time" that is not one would pass.
func specValidator(t *testing.T) validator.Validator {
	t.Helper()
	raw, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatalf("%s: %v", specFile, err)
	}
	v, errs := validator.NewValidator(doc, config.WithFormatAssertions())
	if len(errs) > 0 {
		t.Fatalf("%s: %v", specFile, errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Fatalf("%s is not a valid OpenAPI document:\n%s", specFile, describe(verrs))
	}
	return v
}

func describe(errs []*verrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  - %s: %s\n", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "      %s (at %s, rule %s)\n", s.Reason, s.FieldPath, s.KeywordLocation)
		}
	}
	return b.String()
}

// exchange is one real request and its real answer, both kept whole so
// they can be validated, and tampered with, after the fact.
type exchange struct {
	method, url string
	reqHeader   http.Header
	reqBody     []byte
	status      int
	resHeader   http.Header
	resBody     []byte
}

// request returns a fresh copy of the request, body included.
func (x exchange) request() *http.Request {
	req, err := http.NewRequest(x.method, x.url, bytes.NewReader(x.reqBody))
	if err != nil {
		panic(err)
	}
	req.Header = x.reqHeader.Clone()
	return req
}

// response returns a fresh copy of the answer, body included.
func (x exchange) response() *http.Response {
	return &http.Response{
		StatusCode: x.status, Status: fmt.Sprintf("%d %s", x.status, http.StatusText(x.status)),
		Header: x.resHeader.Clone(), Body: io.NopCloser(bytes.NewReader(x.resBody)),
		ContentLength: int64(len(x.resBody)), Request: x.request(),
	}
}

func (x exchange) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(x.resBody, &m); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %v\n%s", x.method, x.url, err, x.resBody)
	}
	return m
}

// send makes one real request; body may be nil, a string or a []byte.
func (a *api) send(method, path string, h http.Header, body any) exchange {
	a.t.Helper()
	var b []byte
	switch v := body.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		a.t.Fatalf("send: body of type %T", body)
	}
	x := exchange{method: method, url: a.url + path, reqHeader: h.Clone(), reqBody: b}
	if x.reqHeader == nil {
		x.reqHeader = http.Header{}
	}
	if b != nil && x.reqHeader.Get("Content-Type") == "" {
		x.reqHeader.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(x.request())
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	x.status, x.resHeader = res.StatusCode, res.Header
	if x.resBody, err = io.ReadAll(res.Body); err != nil {
		a.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	return x
}

func bearer(token string) http.Header {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return h
}

func apiKey(token string) http.Header {
	h := http.Header{}
	h.Set("X-API-Key", token)
	return h
}

// What the spec must say about a request.
type reqExpect int

const (
	// reqConforms: a request the server takes; the spec must accept it.
	reqConforms reqExpect = iota
	// reqViolates: the server refuses it for a rule the spec states
	// (pattern, range, type, batch size, missing token); the spec must
	// refuse it too.
	reqViolates
	// reqEither: the server refuses it for a rule JSON Schema cannot state
	// (a date before 2020, a body over 1 MiB, an unknown or revoked token),
	// which the spec states in prose.
	reqEither
)

// conform checks one exchange against the spec: its request as want says,
// and its answer always.
func conform(t *testing.T, v validator.Validator, name string, x exchange, want reqExpect) {
	t.Helper()
	if want == reqConforms {
		if ok, errs := v.ValidateHttpRequestResponse(x.request(), x.response()); !ok {
			t.Errorf("%s: %s %s -> %d %s\ndoes not match %s:\n%s", name, x.method, x.url, x.status, clip(x.resBody), specFile, describe(errs))
		}
		return
	}
	ok, errs := v.ValidateHttpRequest(x.request())
	switch {
	case ok && want == reqViolates:
		t.Errorf("%s: the spec accepts a request the server refuses: %s %s %s", name, x.method, x.url, clip(x.reqBody))
	case !ok:
		t.Logf("%s: request refused by the spec too, as it should be:\n%s", name, describe(errs))
	}
	if ok, errs := v.ValidateHttpResponse(x.request(), x.response()); !ok {
		t.Errorf("%s: answer %d %s\ndoes not match %s:\n%s", name, x.status, clip(x.resBody), specFile, describe(errs))
	}
}

func clip(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

func TestOpenAPIRealRequestsAndAnswersMatchTheSpec(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		v := specValidator(t)
		// check sends a request, asserts its status and holds both sides
		// to the spec.
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

		check("healthz", reqConforms, 200, "GET", "/healthz", nil, nil)
		check("readyz", reqConforms, 200, "GET", "/readyz", nil, nil)

		// Devices and their tokens.
		created := check("register a device", reqConforms, 201, "POST", "/api/devices", admin, `{"id":"esp32-node-01"}`).json(t)
		dev, devTokenID := created["token"].(string), created["tokenId"].(string)
		other := check("register another", reqConforms, 201, "POST", "/api/devices", admin, `{"id":"n2"}`).json(t)["token"].(string)
		check("register again", reqConforms, 409, "POST", "/api/devices", admin, `{"id":"n2"}`)
		check("bad device id", reqViolates, 400, "POST", "/api/devices", admin, `{"id":"bad id"}`)
		check("unknown field", reqViolates, 400, "POST", "/api/devices", admin, `{"id":"n3","name":"x"}`)
		reader := check("issue a reader token", reqConforms, 201, "POST", "/api/tokens", admin, `{"scope":"reader"}`).json(t)["token"].(string)
		check("issue an admin token", reqConforms, 201, "POST", "/api/tokens", admin, `{"scope":"admin"}`)
		check("device scope via /api/tokens", reqViolates, 400, "POST", "/api/tokens", admin, `{"scope":"device"}`)
		rotated := check("rotate: another device token", reqConforms, 201, "POST", "/api/devices/esp32-node-01/tokens", admin, nil).json(t)["token"].(string)
		check("token for an unknown device", reqConforms, 404, "POST", "/api/devices/nope/tokens", admin, nil)
		check("reader cannot manage", reqConforms, 403, "POST", "/api/devices", bearer(reader), `{"id":"n4"}`)

		// Ingest: the seed's example, a resend, through X-API-Key.
		x := check("seed example", reqConforms, 201, "POST", "/api/measurements", bearer(dev), seedExample)
		if string(x.resBody) != `{"accepted":1,"duplicates":0,"rejected":[],"desired":{"settingsRev":0,"firmware":null}}`+"\n" {
			t.Fatalf("seed example: %s", x.resBody)
		}
		x = check("seed example resent", reqConforms, 201, "POST", "/api/measurements", bearer(dev), seedExample)
		if string(x.resBody) != `{"accepted":0,"duplicates":1,"rejected":[],"desired":{"settingsRev":0,"firmware":null}}`+"\n" {
			t.Fatalf("seed example resent: %s", x.resBody)
		}
		check("X-API-Key", reqConforms, 201, "POST", "/api/measurements", apiKey(dev), seedExample)
		batch := fmt.Sprintf(`[
			{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":20.5,"humidity":40},
			{"deviceId":"esp32-node-01","recordedAt":"%s","payload":{"voltage_v":4.9,"current_ma":null,"power_mw":12,"sensor":{"x":1}}},
			{"deviceId":"esp32-node-01","temperature":21}
		]`, recent(1), recent(2))
		if r := check("batch", reqConforms, 201, "POST", "/api/measurements", bearer(dev), batch).json(t); r["accepted"] != 3.0 {
			t.Fatalf("batch: %v", r)
		}
		partial := fmt.Sprintf(`[
			{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":22},
			{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":"hot"},
			{"deviceId":"esp32-node-01","recordedAt":"%s","payload":{"voltage_v":5000}},
			{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":22}
		]`, recent(3), recent(4), recent(5), recent(3))
		x = check("partial rejection", reqViolates, 201, "POST", "/api/measurements", bearer(dev), partial)
		if r := x.json(t); r["accepted"] != 1.0 || r["duplicates"] != 1.0 || len(r["rejected"].([]any)) != 2 {
			t.Fatalf("partial rejection: %s", x.resBody)
		}
		allBad := fmt.Sprintf(`[{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":250},{"deviceId":"esp32-node-01","voltage":5}]`, recent(6))
		x = check("every reading invalid", reqViolates, 400, "POST", "/api/measurements", bearer(dev), allBad)
		if r := x.json(t); len(r["rejected"].([]any)) != 2 {
			t.Fatalf("every reading invalid: %s", x.resBody)
		}
		check("clock not set (a rule in prose)", reqEither, 400, "POST", "/api/measurements", bearer(dev), `{"deviceId":"esp32-node-01","recordedAt":"1970-01-01T00:00:05Z"}`)
		check("recordedAt without offset", reqViolates, 400, "POST", "/api/measurements", bearer(dev), `{"deviceId":"esp32-node-01","recordedAt":"2025-02-05T09:30:00"}`)
		check("not JSON", reqViolates, 400, "POST", "/api/measurements", bearer(dev), `{"deviceId":`)
		check("empty array", reqViolates, 400, "POST", "/api/measurements", bearer(dev), `[]`)
		x = check("no token", reqViolates, 401, "POST", "/api/measurements", nil, seedExample)
		if x.resHeader.Get("WWW-Authenticate") == "" {
			t.Fatal("401 without WWW-Authenticate")
		}
		check("unknown token", reqEither, 401, "POST", "/api/measurements", bearer("tw_0123456789ab_nope"), seedExample)
		check("reader cannot write", reqConforms, 403, "POST", "/api/measurements", bearer(reader), seedExample)
		check("device writes another device", reqConforms, 403, "POST", "/api/measurements", bearer(other), seedExample)
		var many []string
		for i := range 501 {
			many = append(many, fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"%s"}`, recent(100+i)))
		}
		check("501 readings", reqViolates, 413, "POST", "/api/measurements", bearer(dev), "["+strings.Join(many, ",")+"]")
		huge := fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"%s","payload":{"x":"%s"}}`, recent(7), strings.Repeat("a", 1<<20))
		check("over 1 MiB", reqEither, 413, "POST", "/api/measurements", bearer(dev), huge)

		// Read back: JSON pages, CSV, filters, bad parameters.
		x = check("first page", reqConforms, 200, "GET", "/api/measurements?deviceId=esp32-node-01&limit=2", bearer(reader), nil)
		page := x.json(t)
		cursor, ok := page["nextCursor"].(string)
		if !ok || len(page["items"].([]any)) != 2 {
			t.Fatalf("first page: %s", x.resBody)
		}
		check("next page", reqConforms, 200, "GET", "/api/measurements?deviceId=esp32-node-01&limit=2&cursor="+cursor, bearer(reader), nil)
		x = check("every device, default limit", reqConforms, 200, "GET", "/api/measurements", admin, nil)
		if n := len(x.json(t)["items"].([]any)); n != 5 {
			t.Fatalf("stored readings: %d, want 5: %s", n, x.resBody)
		}
		check("from/to", reqConforms, 200, "GET", "/api/measurements?from=2025-02-05T00:00:00Z&to=2025-02-06T00:00:00Z", bearer(reader), nil)
		x = check("CSV", reqConforms, 200, "GET", "/api/measurements?deviceId=esp32-node-01&format=csv", bearer(reader), nil)
		if !strings.HasPrefix(x.resHeader.Get("Content-Type"), "text/csv") || !bytes.HasPrefix(x.resBody, []byte("id,deviceId,recordedAt,")) {
			t.Fatalf("CSV: %s %s", x.resHeader.Get("Content-Type"), clip(x.resBody))
		}
		check("limit 0", reqViolates, 400, "GET", "/api/measurements?limit=0", bearer(reader), nil)
		check("format xml", reqViolates, 400, "GET", "/api/measurements?format=xml", bearer(reader), nil)
		check("from not a time", reqViolates, 400, "GET", "/api/measurements?from=yesterday", bearer(reader), nil)
		check("device cannot read", reqConforms, 403, "GET", "/api/measurements", bearer(dev), nil)
		check("no token to read", reqViolates, 401, "GET", "/api/measurements", nil, nil)

		x = check("list devices", reqConforms, 200, "GET", "/api/devices", bearer(reader), nil)
		if n := len(x.json(t)["items"].([]any)); n != 2 {
			t.Fatalf("devices: %s", x.resBody)
		}
		check("device cannot list devices", reqConforms, 403, "GET", "/api/devices", bearer(dev), nil)

		// Raw archive.
		x = check("raw readings", reqConforms, 202, "POST", "/api/raw-measurements", bearer(rotated),
			fmt.Sprintf(`[{"deviceId":"esp32-node-01","recordedAt":"%s","temperature":19},{"deviceId":"esp32-node-01","recordedAt":"bad"}]`, recent(8)))
		if r := x.json(t); r["ingested"] != true || r["accepted"] != 1.0 {
			t.Fatalf("raw readings: %s", x.resBody)
		}
		x = check("raw other JSON", reqConforms, 202, "POST", "/api/raw-measurements", bearer(dev), `{"firmware":"1.2.0","boot":true}`)
		if r := x.json(t); r["ingested"] != false {
			t.Fatalf("raw other JSON: %s", x.resBody)
		}
		check("raw not JSON", reqViolates, 400, "POST", "/api/raw-measurements", bearer(dev), `not json`)
		check("raw for another device", reqConforms, 403, "POST", "/api/raw-measurements", bearer(other), seedExample)

		// The fleet: settings, releases, rollouts, and what a device fetches.
		check("fleet settings", reqConforms, 200, "PUT", "/api/settings", admin, `{"interval_s":600,"led":true}`)
		check("fleet settings out of range", reqViolates, 400, "PUT", "/api/settings", admin, `{"interval_s":5}`)
		check("get fleet settings", reqConforms, 200, "GET", "/api/settings", admin, nil)
		check("device settings", reqConforms, 200, "PUT", "/api/devices/esp32-node-01/settings", admin, `{"batch_size":50}`)
		check("get device settings", reqConforms, 200, "GET", "/api/devices/esp32-node-01/settings", admin, nil)
		check("own settings", reqConforms, 200, "GET", "/api/device/settings", bearer(dev), nil)
		check("publish", reqConforms, 201, "POST", "/api/firmware", admin, `{"version":"1.4.0","signature":null,"files":[{"path":"lib/app.py","content":"aW1wb3J0IGFwcAo="}]}`)
		check("publish again", reqConforms, 409, "POST", "/api/firmware", admin, `{"version":"1.4.0","files":[{"path":"lib/app.py","content":""}]}`)
		check("list releases", reqConforms, 200, "GET", "/api/firmware", admin, nil)
		check("manifest", reqConforms, 200, "GET", "/api/device/firmware/1.4.0", bearer(dev), nil)
		check("start rollout", reqConforms, 201, "POST", "/api/rollouts", admin, `{"version":"1.4.0","devices":["esp32-node-01"]}`)
		check("pause rollout", reqConforms, 200, "PATCH", "/api/rollouts/1", admin, `{"paused":true}`)
		check("list rollouts", reqConforms, 200, "GET", "/api/rollouts", admin, nil)
		x = check("ingest with desired", reqConforms, 201, "POST", "/api/measurements", bearer(dev), fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"%s"}`, recent(9)))
		if !strings.Contains(string(x.resBody), `"desired":{"settingsRev":2,"firmware":null}`) {
			t.Fatalf("ingest with desired: %s", x.resBody)
		}

		// Alert rules on measured values, and a check that judges them.
		rule := check("add alert rule", reqConforms, 201, "POST", "/api/alert-rules", admin,
			`{"metric":"temperature","comparison":">","threshold":20,"for":"0s","devices":["esp32-node-01"],"severity":"critical","message":"too warm"}`).json(t)
		check("add fleet energy rule", reqConforms, 201, "POST", "/api/alert-rules", admin, `{"metric":"energy_wh_per_day","comparison":">=","threshold":50,"all":true}`)
		check("alert rule, unknown metric", reqViolates, 400, "POST", "/api/alert-rules", admin, `{"metric":"temp","comparison":">","threshold":1,"all":true}`)
		check("alert rule, negative hysteresis", reqViolates, 400, "POST", "/api/alert-rules", admin, `{"metric":"temperature","comparison":">","threshold":1,"hysteresis":-1,"all":true}`)
		check("alert rule, unknown device", reqConforms, 404, "POST", "/api/alert-rules", admin, `{"metric":"temperature","comparison":">","threshold":1,"devices":["nope"]}`)
		check("alert rule, reader", reqConforms, 403, "POST", "/api/alert-rules", bearer(reader), `{"metric":"temperature","comparison":">","threshold":1,"all":true}`)
		ruleID := fmt.Sprint(rule["id"])
		check("a warm reading", reqConforms, 201, "POST", "/api/measurements", bearer(dev), `{"deviceId":"esp32-node-01","temperature":23}`)
		check("alert check with rules", reqConforms, 200, "POST", "/api/alerts/check", admin, nil)
		x = check("list alert rules", reqConforms, 200, "GET", "/api/alert-rules", admin, nil)
		if !strings.Contains(string(x.resBody), `"deviceId":"esp32-node-01","firing":true`) {
			t.Fatalf("list alert rules after a check, want the rule firing for esp32-node-01: %s", x.resBody)
		}
		check("value alert listed", reqConforms, 200, "GET", "/api/alerts?state=open", bearer(reader), nil)
		check("change alert rule", reqConforms, 200, "PATCH", "/api/alert-rules/"+ruleID, admin, `{"threshold":25,"for":"10m","hysteresis":0.5}`)
		check("change alert rule, nothing", reqViolates, 400, "PATCH", "/api/alert-rules/"+ruleID, admin, `{}`)
		check("change unknown alert rule", reqConforms, 404, "PATCH", "/api/alert-rules/999", admin, `{"threshold":1}`)
		check("delete alert rule", reqConforms, 204, "DELETE", "/api/alert-rules/"+ruleID, admin, nil)
		check("delete alert rule again", reqConforms, 404, "DELETE", "/api/alert-rules/"+ruleID, admin, nil)
		// A rate rule: added, listed with its window, made a value rule
		// again by PATCH, deleted; a rate of an energy total is refused.
		rate := check("add rate rule", reqConforms, 201, "POST", "/api/alert-rules", admin,
			`{"metric":"temperature","comparison":">","threshold":2,"rateOver":"5m","all":true}`).json(t)
		if rate["rateOver"] != "5m0s" {
			t.Fatalf("add rate rule: rateOver %v, want 5m0s", rate["rateOver"])
		}
		rateID := fmt.Sprint(rate["id"])
		x = check("rate rule, energy", reqConforms, 400, "POST", "/api/alert-rules", admin, `{"metric":"energy_wh_per_day","comparison":">","threshold":2,"rateOver":"5m","all":true}`)
		if !strings.Contains(string(x.resBody), "rateOver: energy_wh_per_day is a running total") {
			t.Fatalf("rate rule on energy: %s, want refused by rateOver", x.resBody)
		}
		if x = check("list rate rule", reqConforms, 200, "GET", "/api/alert-rules", admin, nil); !strings.Contains(string(x.resBody), `"rateOver":"5m0s"`) {
			t.Fatalf("list alert rules: %s, want the rate rule's window", x.resBody)
		}
		if p := check("rate rule to value rule", reqConforms, 200, "PATCH", "/api/alert-rules/"+rateID, admin, `{"rateOver":"","threshold":30}`).json(t); p["rateOver"] != "0s" {
			t.Fatalf("PATCH rateOver \"\": rateOver %v, want 0s", p["rateOver"])
		}
		check("delete rate rule", reqConforms, 204, "DELETE", "/api/alert-rules/"+rateID, admin, nil)

		// Tokens: list, revoke, refused afterwards.
		x = check("list tokens", reqConforms, 200, "GET", "/api/tokens", admin, nil)
		if bytes.Contains(x.resBody, []byte(dev)) {
			t.Fatal("the token list shows a secret")
		}
		check("reader cannot list tokens", reqConforms, 403, "GET", "/api/tokens", bearer(reader), nil)
		check("revoke", reqConforms, 204, "DELETE", "/api/tokens/"+devTokenID, admin, nil)
		check("revoke again", reqConforms, 404, "DELETE", "/api/tokens/"+devTokenID, admin, nil)
		check("revoked token", reqEither, 401, "POST", "/api/measurements", bearer(dev), seedExample)

		// The database goes away: 503 with Retry-After.
		a.st.Close()
		check("readyz, database closed", reqConforms, 503, "GET", "/readyz", nil, nil)
		check("ingest, database closed", reqConforms, 503, "POST", "/api/measurements", admin, seedExample)
	})
}

// TestOpenAPIValidatorRejectsWrongAnswers proves the checks above can fail:
// real answers, each broken in one way the spec forbids, must be refused,
// while the same answers unbroken pass.
func TestOpenAPIValidatorRejectsWrongAnswers(t *testing.T) {
	a := newAPI(t, testdb.OpenSQLite(t))
	v := specValidator(t)
	admin := bearer(adminToken)

	ingest := a.send("POST", "/api/measurements", admin, seedExample)
	unauth := a.send("POST", "/api/measurements", nil, seedExample)
	list := a.send("GET", "/api/measurements", admin, nil)
	raw := a.send("POST", "/api/raw-measurements", admin, seedExample)
	a.st.Close()
	down := a.send("POST", "/api/measurements", admin, seedExample)
	for _, x := range []exchange{ingest, unauth, list, raw, down} {
		if ok, errs := v.ValidateHttpResponse(x.request(), x.response()); !ok {
			t.Fatalf("control: the real answer %d %s must pass:\n%s", x.status, x.resBody, describe(errs))
		}
	}
	if ingest.status != 201 || unauth.status != 401 || list.status != 200 || raw.status != 202 || down.status != 503 {
		t.Fatalf("unexpected statuses: %d %d %d %d %d", ingest.status, unauth.status, list.status, raw.status, down.status)
	}

	body := func(x exchange, b string) exchange { x.resBody = []byte(b); return x }
	status := func(x exchange, s int) exchange { x.status = s; return x }
	without := func(x exchange, h string) exchange { x.resHeader = x.resHeader.Clone(); x.resHeader.Del(h); return x }
	utcItem := regexp.MustCompile(`"recordedAt":"2025-02-05T00:30:00Z"`)
	cases := []struct {
		name string
		x    exchange
	}{
		{"ingest answer without accepted", body(ingest, `{"duplicates":0,"rejected":[]}`)},
		{"accepted as a string", body(ingest, `{"accepted":"1","duplicates":0,"rejected":[]}`)},
		{"rejection without field", body(ingest, `{"accepted":0,"duplicates":0,"rejected":[{"index":0,"message":"x"}]}`)},
		{"an extra field", body(ingest, `{"accepted":1,"duplicates":0,"rejected":[],"ok":true}`)},
		{"desired without firmware", body(ingest, `{"accepted":1,"duplicates":0,"rejected":[],"desired":{"settingsRev":1}}`)},
		{"an undocumented status", status(ingest, 200)},
		{"error answer without error", body(unauth, `{"message":"no"}`)},
		{"401 without WWW-Authenticate", without(unauth, "WWW-Authenticate")},
		{"503 without Retry-After", without(down, "Retry-After")},
		{"recordedAt not in UTC", body(list, utcItem.ReplaceAllString(string(list.resBody), `"recordedAt":"2025-02-05T09:30:00+09:00"`))},
		{"recordedAtSource unknown", body(list, strings.Replace(string(list.resBody), `"device"`, `"clock"`, 1))},
		{"nextCursor missing", body(list, strings.Replace(string(list.resBody), `,"nextCursor":null`, ``, 1))},
		{"raw: ingested readings without counts", body(raw, `{"id":1,"ingested":true}`)},
		{"a JSON answer sent as text", func() exchange {
			x := ingest
			x.resHeader = x.resHeader.Clone()
			x.resHeader.Set("Content-Type", "text/plain")
			return x
		}()},
	}
	for _, c := range cases {
		if !strings.Contains(string(list.resBody), `"recordedAt":"2025-02-05T00:30:00Z"`) || !strings.Contains(string(list.resBody), `"nextCursor":null`) {
			t.Fatalf("the list answer changed shape; fix the mutations: %s", list.resBody)
		}
		if ok, _ := v.ValidateHttpResponse(c.x.request(), c.x.response()); ok {
			t.Errorf("%s: the validator accepted a wrong answer: %d %s", c.name, c.x.status, clip(c.x.resBody))
		}
	}

	// And wrong requests: the rules the spec states are enforced on input.
	reqCases := []struct{ name, body string }{
		{"temperature out of range", strings.Replace(seedExample, "24.3,", "250,", 1)},
		{"voltage out of range", strings.Replace(seedExample, "4.98", "5000", 1)},
		{"deviceId with a space", strings.Replace(seedExample, "esp32-node-01", "esp32 node", 1)},
		{"an unknown top-level field", strings.Replace(seedExample, `"humidity": null,`, `"humidity": null, "voltage": 5,`, 1)},
	}
	for _, c := range reqCases {
		if c.body == seedExample {
			t.Fatalf("%s: the mutation did not apply", c.name)
		}
		x := ingest
		x.reqBody = []byte(c.body)
		if ok, _ := v.ValidateHttpRequest(x.request()); ok {
			t.Errorf("%s: the validator accepted a wrong request", c.name)
		}
	}
}

// routePattern matches the registrations of routes.go: mux.Handle("GET /x", ...).
var routePattern = regexp.MustCompile(`mux\.Handle\("([A-Z]+) (/[^"]*)"`)

// TestOpenAPIDescribesEveryRoute keeps the spec and routes.go in step:
// every method+path registered there is described, and nothing else is.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range routePattern.FindAllStringSubmatch(string(src), -1) {
		// Go's {name...} (the rest of the path) is OpenAPI's {name}.
		routes = append(routes, m[1]+" "+strings.ReplaceAll(m[2], "...}", "}"))
	}
	// The catch-all has no method ("/api/"), so it is not matched above; a
	// sanity floor makes sure the pattern still finds the routes at all.
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in routes.go; has its style changed? %v", len(routes), routes)
	}

	raw, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	var described []string
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			route := strings.ToUpper(method) + " " + path
			described = append(described, route)
			if !strings.HasPrefix(path, "/api/") {
				continue
			}
			// Every API operation says who may call it, and documents the
			// answers every authenticated endpoint can give.
			if len(op.Security) != 2 || !strings.Contains(op.Description, "**Scopes:**") {
				t.Errorf("%s: needs both security schemes and a **Scopes:** line", route)
			}
			if op.Extensions == nil || op.Extensions.GetOrZero("x-thermowatt-scopes") == nil {
				t.Errorf("%s: needs x-thermowatt-scopes", route)
			}
			for _, code := range []string{"401", "403", "429", "500", "503"} {
				if op.Responses.Codes.GetOrZero(code) == nil {
					t.Errorf("%s: does not document %s", route, code)
				}
			}
		}
	}
	for _, r := range routes {
		if !slices.Contains(described, r) {
			t.Errorf("routes.go registers %q but %s does not describe it", r, specFile)
		}
	}
	for _, d := range described {
		if !slices.Contains(routes, d) {
			t.Errorf("%s describes %q but routes.go does not register it", specFile, d)
		}
	}
}

// TestOpenAPIExamplesMatchTheirSchemas keeps the examples of the spec, which
// people copy, honest: each must be valid against the schema beside it.
func TestOpenAPIExamplesMatchTheirSchemas(t *testing.T) {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(raw)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	sv := schema_validation.NewSchemaValidator(config.WithFormatAssertions())
	checked := 0
	checkMedia := func(where string, content *orderedmap.Map[string, *v3.MediaType]) {
		for ctype, mt := range content.FromOldest() {
			if mt.Schema == nil {
				continue
			}
			values := map[string]any{}
			if mt.Example != nil {
				values["example"] = mt.Example
			}
			if mt.Examples != nil {
				for name, ex := range mt.Examples.FromOldest() {
					values["examples."+name] = ex.Value
				}
			}
			for name, node := range values {
				var v any
				if err := node.(interface{ Decode(any) error }).Decode(&v); err != nil {
					t.Fatalf("%s %s %s: %v", where, ctype, name, err)
				}
				b, err := json.Marshal(v)
				if err != nil {
					t.Fatalf("%s %s %s: %v", where, ctype, name, err)
				}
				if ok, errs := sv.ValidateSchemaBytesWithVersion(mt.Schema.Schema(), b, 3.1); !ok {
					t.Errorf("%s %s %s does not match its schema: %s\n%s", where, ctype, name, b, describe(errs))
				}
				checked++
			}
		}
	}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := strings.ToUpper(method) + " " + path
			if op.RequestBody != nil && op.RequestBody.Content != nil {
				checkMedia(where+" request", op.RequestBody.Content)
			}
			for code, res := range op.Responses.Codes.FromOldest() {
				if res.Content != nil {
					checkMedia(where+" "+code, res.Content)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d examples; are they still found?", checked)
	}
	t.Logf("%d examples checked", checked)
}
