package httpapi_test

import (
	"strings"
	"testing"
)

// The server refuses any change of settings that would hand a device
// settings it refuses: it computes every affected device's effective
// settings (fleet default ⊕ its own, over config.py's defaults) and checks
// the rules that tie settings together. (Before: http_timeout_s 40-120
// was accepted though the default watchdog of 120 s allows at most 36.67,
// and a fleet backoff_cap_s=1 under a device's backoff_base_s=100 was
// accepted across the two levels while refused in one PUT.)
func TestSettingsRefusedWhenAnyEffectiveSettingsWouldBeInvalid(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		a.device("n1")
		a.device("n2")
		put := func(path, body string) response {
			t.Helper()
			return a.do("PUT", path, adminToken, body)
		}
		for _, body := range []string{`{"http_timeout_s":40}`, `{"http_timeout_s":120}`, `{"http_timeout_s":36.7}`} {
			for _, path := range []string{"/api/settings", "/api/devices/n1/settings"} {
				if r := put(path, body); r.Status != 400 || !strings.Contains(string(r.Body), "at most 36.66") {
					t.Errorf("PUT %s %s: %d %s, want 400 naming the watchdog's limit", path, body, r.Status, r.Body)
				}
			}
		}
		if r := put("/api/settings", `{"http_timeout_s":36.5}`); r.Status != 200 {
			t.Fatalf("a timeout the default watchdog allows: %d %s", r.Status, r.Body)
		}
		if r := put("/api/settings", `{}`); r.Status != 200 {
			t.Fatal(r.Status)
		}

		// Across the two levels, both ways round.
		if r := put("/api/devices/n1/settings", `{"backoff_base_s":100}`); r.Status != 200 {
			t.Fatalf("device base 100 under the default cap 600: %d %s", r.Status, r.Body)
		}
		r := put("/api/settings", `{"backoff_cap_s":1,"backoff_base_s":1}`)
		if r.Status != 400 || !strings.Contains(string(r.Body), "n1") || strings.Contains(string(r.Body), "n2 (") ||
			!strings.Contains(string(r.Body), "backoff_base_s (100) must not exceed backoff_cap_s (1)") {
			t.Errorf("fleet cap 1 over a device's base 100: %d %s, want 400 naming n1 only", r.Status, r.Body)
		}
		if r := put("/api/settings", `{"backoff_cap_s":1}`); r.Status != 400 || !strings.Contains(string(r.Body), "every device") {
			t.Errorf("fleet cap 1 under the default base 5: %d %s", r.Status, r.Body)
		}
		if r := put("/api/settings", `{"backoff_cap_s":60,"backoff_base_s":1}`); r.Status != 400 {
			t.Errorf("fleet cap 60 over a device's base 100: %d %s", r.Status, r.Body)
		}
		if r := put("/api/settings", `{"backoff_cap_s":100}`); r.Status != 200 {
			t.Fatalf("fleet cap 100 over a device's base 100: %d %s", r.Status, r.Body)
		}
		if r := put("/api/devices/n2/settings", `{"backoff_base_s":101}`); r.Status != 400 || !strings.Contains(string(r.Body), `n2`) {
			t.Errorf("device base 101 under the fleet cap 100: %d %s", r.Status, r.Body)
		}
		if r := put("/api/devices/n2/settings", `{"backoff_base_s":101,"backoff_cap_s":200}`); r.Status != 200 {
			t.Errorf("device base 101 with its own cap 200: %d %s", r.Status, r.Body)
		}
		// What devices are sent is valid for each.
		for _, id := range []string{"n1", "n2"} {
			r := a.do("GET", "/api/devices/"+id+"/settings", adminToken, nil)
			eff := r.json(t)["effective"].(map[string]any)["settings"].(map[string]any)
			base, _ := eff["backoff_base_s"].(float64)
			limit, _ := eff["backoff_cap_s"].(float64)
			if base > limit && limit != 0 {
				t.Errorf("%s is sent base %v over cap %v", id, base, limit)
			}
		}
	})
}
