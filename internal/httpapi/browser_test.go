package httpapi_test

import (
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

func TestCORSAllowsOnlyListedOrigins(t *testing.T) {
	st := testdb.OpenSQLite(t)
	preflight := func(a *api, origin string) response {
		return a.doWith("OPTIONS", "/api/measurements", "", "", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"})
	}
	get := func(a *api, origin string) response {
		return a.doWith("GET", "/api/measurements", adminToken, "", map[string]string{"Origin": origin})
	}

	// Default: same origin only. No page elsewhere may read an answer.
	def := newLimitedAPI(t, st, config.Limits{}, nil)
	for _, origin := range []string{"https://evil.example", "null", def.url} {
		if r := get(def, origin); r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("default, Origin %s: %d, Access-Control-Allow-Origin %q", origin, r.Status, r.Header.Get("Access-Control-Allow-Origin"))
		}
		if r := preflight(def, origin); r.Header.Get("Access-Control-Allow-Origin") != "" || r.Header.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("default preflight from %s allowed: %v", origin, r.Header)
		}
	}

	a := newLimitedAPI(t, st, config.Limits{CORSOrigins: []string{"https://dash.example.com"}}, nil)
	r := preflight(a, "https://dash.example.com")
	if r.Status != 204 || r.Header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(r.Header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Fatalf("allowed preflight: %d %v", r.Status, r.Header)
	}
	if r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatal("credentials must never be allowed: tokens travel in headers only")
	}
	r = get(a, "https://dash.example.com")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" || !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Fatalf("allowed GET: %d %v", r.Status, r.Header)
	}
	for _, origin := range []string{"https://evil.example", "https://dash.example.com.evil.example", "http://dash.example.com"} {
		if r := preflight(a, origin); r.Status != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("preflight from %s: %d %v", origin, r.Status, r.Header)
		}
		if r := get(a, origin); r.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("GET from %s got Access-Control-Allow-Origin", origin)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	a := newLimitedAPI(t, testdb.OpenSQLite(t), config.Limits{}, nil)
	for _, path := range []string{"/", "/index.html", "/healthz", "/api/measurements", "/api/nope"} {
		r := a.do("GET", path, adminToken, nil)
		h := r.Header
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: nosniff %q, Referrer-Policy %q", path, h.Get("X-Content-Type-Options"), h.Get("Referrer-Policy"))
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: Content-Security-Policy %q", path, csp)
		}
		if !strings.HasPrefix(path, "/api/") && !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("%s: the dashboard's policy must allow its own scripts only: %q", path, csp)
		}
	}
}
