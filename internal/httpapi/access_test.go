package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestAccessRules(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		dev1, dev2 := a.device("n1"), a.device("n2")
		reader := a.tokenOf("reader")
		own := fmt.Sprintf(`{"deviceId":"n1","recordedAt":"%s","temperature":1}`, recent(0))
		mixed := fmt.Sprintf(`[{"deviceId":"n1","recordedAt":"%s"},{"deviceId":"n2","recordedAt":"%s"}]`, recent(1), recent(1))
		// One rule for a device token: any id but its own refuses the
		// batch, an id that breaks the id rule as much as another device's.
		badID := fmt.Sprintf(`[{"deviceId":"n1","recordedAt":"%s"},{"deviceId":"bad id!","recordedAt":"%s"}]`, recent(2), recent(2))

		cases := []struct {
			name, method, path, token, body string
			status                          int
			errMsg                          string
		}{
			{"no token", "POST", "/api/measurements", "", own, 401, "missing token"},
			{"unknown token", "POST", "/api/measurements", "tw_0123456789ab_nope", own, 401, "invalid or revoked token"},
			{"garbage token", "GET", "/api/devices", "hello", "", 401, "invalid or revoked token"},
			{"reader cannot write", "POST", "/api/measurements", reader, own, 403, "may not write readings"},
			{"device writes another device", "POST", "/api/measurements", dev2, own, 403, `may not write readings of device "n1"; nothing was stored`},
			{"device in a mixed batch", "POST", "/api/measurements", dev1, mixed, 403, `device "n2"`},
			{"device in a batch naming an invalid id", "POST", "/api/measurements", dev1, badID, 403, `device "bad id!"; nothing was stored`},
			{"device archiving a batch naming an invalid id", "POST", "/api/raw-measurements", dev1, badID, 403, `device "bad id!"`},
			{"device cannot read", "GET", "/api/measurements", dev1, "", 403, "may not read"},
			{"device cannot list devices", "GET", "/api/devices", dev1, "", 403, "may not read"},
			{"reader cannot add devices", "POST", "/api/devices", reader, `{"id":"x"}`, 403, "needs an admin token"},
			{"device cannot mint tokens", "POST", "/api/tokens", dev1, `{"scope":"admin"}`, 403, "needs an admin token"},
			{"device cannot archive for another", "POST", "/api/raw-measurements", dev2, own, 403, "may not write"},
			{"device cannot export", "GET", "/api/measurements?format=csv&deviceId=n1", dev1, "", 403, "may not read"},
			{"device cannot list tokens", "GET", "/api/tokens", dev1, "", 403, "needs an admin token"},
			{"device cannot revoke tokens", "DELETE", "/api/tokens/0123456789ab", dev1, "", 403, "needs an admin token"},
			{"device cannot add devices", "POST", "/api/devices", dev1, `{"id":"x"}`, 403, "needs an admin token"},
			{"device cannot rotate its own token", "POST", "/api/devices/n1/tokens", dev1, "", 403, "needs an admin token"},
			{"reader cannot archive", "POST", "/api/raw-measurements", reader, own, 403, "may not write"},
			{"reader cannot list tokens", "GET", "/api/tokens", reader, "", 403, "needs an admin token"},
			{"reader cannot mint tokens", "POST", "/api/tokens", reader, `{"scope":"reader"}`, 403, "needs an admin token"},
			{"reader cannot revoke tokens", "DELETE", "/api/tokens/0123456789ab", reader, "", 403, "needs an admin token"},
			{"token with a wrong secret", "GET", "/api/devices", reader[:len(reader)-4] + "AAAA", "", 401, "invalid or revoked token"},
		}
		for _, c := range cases {
			r := a.do(c.method, c.path, c.token, c.body)
			if r.Status != c.status || !strings.Contains(fmt.Sprint(r.json(t)["error"]), c.errMsg) {
				t.Errorf("%s: got %d %s, want %d %q", c.name, r.Status, r.Body, c.status, c.errMsg)
			}
			if c.status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: 401 without WWW-Authenticate", c.name)
			}
		}
		if n := a.count("n1") + a.count("n2"); n != 0 {
			t.Fatalf("refused requests stored %d readings", n)
		}

		// The seed's API-key header works like Bearer.
		req, _ := http.NewRequest("POST", a.url+"/api/measurements", strings.NewReader(own))
		req.Header.Set("X-API-Key", dev1)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("X-API-Key: %v %v", err, res.Status)
		}
		res.Body.Close()
		if r := a.do("GET", "/api/measurements", reader, nil); r.Status != 200 {
			t.Fatalf("reader read: %d %s", r.Status, r.Body)
		}
	})
}

func TestRevokedTokenIsRefusedOnItsNextRequest(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		r := a.do("POST", "/api/devices", adminToken, `{"id":"n1"}`).json(t)
		tok, id := r["token"].(string), r["tokenId"].(string)
		body := fmt.Sprintf(`{"deviceId":"n1","recordedAt":"%s"}`, recent(0))
		if got := a.do("POST", "/api/measurements", tok, body); got.Status != 201 {
			t.Fatalf("before revoke: %d", got.Status)
		}
		if got := a.do("DELETE", "/api/tokens/"+id, adminToken, nil); got.Status != 204 {
			t.Fatalf("revoke: %d %s", got.Status, got.Body)
		}
		if got := a.do("POST", "/api/measurements", tok, body); got.Status != 401 {
			t.Fatalf("after revoke: %d %s", got.Status, got.Body)
		}
		if got := a.do("DELETE", "/api/tokens/"+id, adminToken, nil); got.Status != 404 {
			t.Fatalf("second revoke: %d %s", got.Status, got.Body)
		}
	})
}

func TestDeviceAndTokenManagement(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		created := a.do("POST", "/api/devices", adminToken, `{"id":"esp32-node-01"}`)
		c := created.json(t)
		if created.Status != 201 || c["id"] != "esp32-node-01" || !strings.HasPrefix(c["token"].(string), "tw_") ||
			c["scope"] != "device" || c["deviceId"] != "esp32-node-01" || len(c["tokenId"].(string)) != 12 {
			t.Fatalf("create: %d %s", created.Status, created.Body)
		}
		if r := a.do("POST", "/api/devices", adminToken, `{"id":"esp32-node-01"}`); r.Status != 409 {
			t.Fatalf("duplicate device: %d %s", r.Status, r.Body)
		}
		if r := a.do("POST", "/api/devices", adminToken, `{"id":"bad id"}`); r.Status != 400 {
			t.Fatalf("bad id: %d %s", r.Status, r.Body)
		}
		if r := a.do("POST", "/api/devices", adminToken, `{"id":"n9"} {"id":"n10"}`); r.Status != 400 || !strings.Contains(string(r.Body), "data after the JSON object") {
			t.Fatalf("trailing data: %d %s", r.Status, r.Body)
		}
		second := a.do("POST", "/api/devices/esp32-node-01/tokens", adminToken, nil)
		if second.Status != 201 || second.json(t)["deviceId"] != "esp32-node-01" {
			t.Fatalf("rotation token: %d %s", second.Status, second.Body)
		}
		if r := a.do("POST", "/api/devices/nope/tokens", adminToken, nil); r.Status != 404 {
			t.Fatalf("token for unknown device: %d %s", r.Status, r.Body)
		}
		if r := a.do("POST", "/api/tokens", adminToken, `{"scope":"device"}`); r.Status != 400 {
			t.Fatalf("device scope via /api/tokens: %d %s", r.Status, r.Body)
		}

		// Both device tokens write; an admin write registers a new device.
		a.do("POST", "/api/measurements", c["token"].(string), fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"%s"}`, recent(0)))
		a.do("POST", "/api/measurements", second.json(t)["token"].(string), fmt.Sprintf(`{"deviceId":"esp32-node-01","recordedAt":"%s"}`, recent(1)))
		if r := a.do("POST", "/api/measurements", adminToken, fmt.Sprintf(`{"deviceId":"backfilled","recordedAt":"%s"}`, recent(0))); r.Status != 201 {
			t.Fatalf("admin write: %d %s", r.Status, r.Body)
		}
		list := a.do("GET", "/api/devices", a.tokenOf("reader"), nil).json(t)["items"].([]any)
		if len(list) != 2 {
			t.Fatalf("devices: %v", list)
		}
		first := list[1].(map[string]any)
		if first["id"] != "esp32-node-01" || first["readingCount"] != 2.0 || first["lastSeenAt"] == nil {
			t.Fatalf("device summary: %v", first)
		}
		tokens := a.do("GET", "/api/tokens", adminToken, nil)
		if tokens.Status != 200 || strings.Contains(string(tokens.Body), c["token"].(string)) || strings.Contains(string(tokens.Body), "hash") {
			t.Fatalf("token list must never show secrets: %s", tokens.Body)
		}
	})
}

func TestRawArchiveKeepsBodyAndReconciles(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		body := fmt.Sprintf(`[{"deviceId":"n1","recordedAt":"%s","temperature":1},{"deviceId":"n1","recordedAt":"bad"}]`, recent(0))
		r := a.do("POST", "/api/raw-measurements", tok, body)
		res := r.json(t)
		if r.Status != 202 || res["ingested"] != true || res["accepted"] != 1.0 || len(res["rejected"].([]any)) != 1 {
			t.Fatalf("raw readings: %d %s", r.Status, r.Body)
		}
		if n := a.count("n1"); n != 1 {
			t.Fatalf("raw readings not ingested: %d", n)
		}
		rec, err := a.st.GetRaw(t.Context(), int64(res["id"].(float64)))
		if err != nil || string(rec.Body) != body || rec.DeviceID != "n1" || rec.Accepted != 1 || rec.Rejected != 1 {
			t.Fatalf("archive row: %+v %v", rec, err)
		}
		other := a.do("POST", "/api/raw-measurements", tok, `{"firmware":"1.2.0","boot":true}`)
		if other.Status != 202 || other.json(t)["ingested"] != false {
			t.Fatalf("raw other JSON: %d %s", other.Status, other.Body)
		}
		if bad := a.do("POST", "/api/raw-measurements", tok, `not json`); bad.Status != 400 {
			t.Fatalf("raw non-JSON: %d %s", bad.Status, bad.Body)
		}
	})
}

func TestHealthEndpointsNeedNoToken(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		if r := a.do("GET", "/healthz", "", nil); r.Status != 200 {
			t.Fatalf("healthz %d", r.Status)
		}
		if r := a.do("GET", "/readyz", "", nil); r.Status != 200 {
			t.Fatalf("readyz %d", r.Status)
		}
		a.st.Close()
		r := a.do("GET", "/readyz", "", nil)
		if r.Status != 503 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("readyz with the database closed: %d %s", r.Status, r.Body)
		}
		w := a.do("POST", "/api/measurements", adminToken, fmt.Sprintf(`{"deviceId":"n1","recordedAt":"%s"}`, recent(0)))
		if w.Status != 503 || w.Header.Get("Retry-After") == "" {
			t.Fatalf("ingest with the database closed: %d %s", w.Status, w.Body)
		}
	})
}
