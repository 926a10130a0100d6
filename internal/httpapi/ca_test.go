package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/testcert"
)

// A release whose ca.pem no device could pin is refused at publish with
// 400 naming the file and the reason, and nothing is stored; a CA in PEM
// or DER is published.
func TestPublishRefusesACADevicesCannotPin(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		now := time.Now()
		root := testcert.DER(t, testcert.Options{Name: "fleet root 2027"})
		rootPEM := testcert.PEM(root)
		for _, c := range []struct {
			name, ca, want string
		}{
			{"two certificates", string(testcert.PEM(root, testcert.DER(t, testcert.Options{Name: "second root"}))), "more than one certificate"},
			{"truncated PEM", string(rootPEM[:len(rootPEM)/2]), "truncated or damaged"},
			{"garbage", "-- this is not a certificate --\n", "neither PEM"},
			{"expired", string(testcert.PEM(testcert.DER(t, testcert.Options{NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-time.Hour)}))), "expired on"},
			{"not yet valid", string(testcert.PEM(testcert.DER(t, testcert.Options{NotBefore: now.Add(48 * time.Hour)}))), "is not valid until"},
			{"the server's own certificate", string(testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.Leaf}))), "is not a CA"},
		} {
			r := a.publish("2.0.0", map[string]string{"lib/app.py": "x = 1\n", "ca.pem": c.ca})
			msg := string(r.Body)
			if r.Status != http.StatusBadRequest || !strings.Contains(msg, "file ca.pem: ") || !strings.Contains(msg, c.want) {
				t.Errorf("%s: %d %s, want 400 naming ca.pem and saying %q", c.name, r.Status, msg, c.want)
			}
		}
		if r := a.do("GET", "/api/device/firmware/2.0.0", tok, nil); r.Status != http.StatusNotFound {
			t.Fatalf("a refused release was stored: %d %s", r.Status, r.Body)
		}
		if r := a.publish("2.0.0", map[string]string{"lib/app.py": "x = 1\n", "ca.pem": string(rootPEM)}); r.Status != http.StatusCreated {
			t.Fatalf("a root CA in PEM: %d %s", r.Status, r.Body)
		}
		if r := a.publish("2.0.1", map[string]string{"lib/app.py": "x = 1\n", "ca.pem": string(root)}); r.Status != http.StatusCreated {
			t.Fatalf("a root CA in DER: %d %s", r.Status, r.Body)
		}
	})
}

// What devices report of their CAs shows in the device list (full
// fingerprints) and in /metrics; old firmware, which sends no "ca", and a
// device that does not verify TLS ("ca": null) still list, with ca null.
func TestDeviceListAndMetricsShowTheCAs(t *testing.T) {
	eachOpsBackend(t, func(t *testing.T, a *api, clk *opsClock) {
		oldCA := thermowatt.CAFingerprint(testcert.DER(t, testcert.Options{Name: "old root"}))
		newCA := thermowatt.CAFingerprint(testcert.DER(t, testcert.Options{Name: "new root"}))
		post := func(id string, i int, health string) {
			t.Helper()
			body := fmt.Sprintf(`{"deviceId":%q,"recordedAt":%q,"temperature":20,"payload":{"device":%s}}`, id, recent(i), health)
			if r := a.do("POST", "/api/measurements", adminToken, body); r.Status != http.StatusCreated {
				t.Fatalf("post %s: %d %s", id, r.Status, r.Body)
			}
		}
		post("old-fw", 1, `{"firmware":"1.3.0","queue_depth":0}`)
		post("no-tls", 1, `{"firmware":"1.4.1","ca":null}`)
		post("waiting", 1, `{"firmware":"1.4.1","ca":{"active":"`+oldCA+`","waiting":"`+newCA+`"}}`)
		post("switched", 1, `{"firmware":"1.4.1","ca":{"active":"`+oldCA+`","waiting":"`+newCA+`"}}`)
		post("switched", 2, `{"firmware":"1.4.1","ca":{"active":"`+newCA+`","waiting":null}}`)
		post("odd", 1, `{"ca":{"active":"not-hex","waiting":7}}`)

		x := a.send("GET", "/api/devices", bearer(adminToken), nil)
		conform(t, specValidator(t), "device list with CAs", x, reqConforms)
		var list struct {
			Items []struct {
				ID     string          `json:"id"`
				CA     json.RawMessage `json:"ca"`
				Health json.RawMessage `json:"health"`
			} `json:"items"`
		}
		if err := json.Unmarshal(x.resBody, &list); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"old-fw":   `null`,
			"no-tls":   `null`,
			"waiting":  `{"active":"` + oldCA + `","waiting":"` + newCA + `"}`,
			"switched": `{"active":"` + newCA + `","waiting":null}`,
			"odd":      `{"active":null,"waiting":null}`,
		}
		for _, it := range list.Items {
			if string(it.CA) != want[it.ID] {
				t.Errorf("%s: ca = %s, want %s", it.ID, it.CA, want[it.ID])
			}
			if it.ID == "old-fw" && !strings.Contains(string(it.Health), `"queue_depth":0`) {
				t.Errorf("old firmware's health = %s", it.Health)
			}
		}
		if len(list.Items) != len(want) {
			t.Errorf("listed %d devices, want %d: %s", len(list.Items), len(want), x.resBody)
		}
		m := scrape(t, a, metricsToken)
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"thermowatt_devices_ca_waiting", nil, 1},
			{"thermowatt_devices_by_ca", []string{"fingerprint", oldCA}, 1},
			{"thermowatt_devices_by_ca", []string{"fingerprint", newCA}, 1},
			{"thermowatt_devices_by_ca", []string{"fingerprint", ""}, 2},
			{"thermowatt_devices_by_ca", []string{"fingerprint", "other"}, 1},
		} {
			if got := value(t, m, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})
}
