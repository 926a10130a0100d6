package dashboard

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/thermowatt/thermowatt/web"
)

func get(t *testing.T, h http.Handler, method, path string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServesThePageAndItsAssets(t *testing.T) {
	h := Handler()
	for path, ctype := range map[string]string{
		"/":            "text/html",
		"/app.js":      "text/javascript",
		"/app.css":     "text/css",
		"/favicon.svg": "image/svg+xml",
	} {
		rec := get(t, h, "GET", path)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("GET %s: %d %q, want 200 %s", path, rec.Code, rec.Header().Get("Content-Type"), ctype)
		}
		if rec.Header().Get("Content-Security-Policy") == "" || rec.Header().Get("ETag") == "" {
			t.Errorf("GET %s: no CSP or ETag header: %v", path, rec.Header())
		}
	}
	for path, code := range map[string]int{"/nope": 404, "/vendor/": 404, "/vendor/README.md": 404, "/index.html": 301} {
		if rec := get(t, h, "GET", path); rec.Code != code {
			t.Errorf("GET %s: %d, want %d", path, rec.Code, code)
		}
	}
	if rec := get(t, h, "POST", "/"); rec.Code != 405 {
		t.Errorf("POST /: %d, want 405", rec.Code)
	}
}

// A browser that has the page revalidates with its ETag and gets a 304;
// after an upgrade the content, and so the ETag, differ.
func TestRevalidatesWithETag(t *testing.T) {
	h := Handler()
	tag := get(t, h, "GET", "/app.js").Header().Get("ETag")
	if rec := get(t, h, "GET", "/app.js", "If-None-Match", tag); rec.Code != 304 {
		t.Errorf("If-None-Match current ETag: %d, want 304", rec.Code)
	}
	other := handler(fstest.MapFS{"app.js": {Data: []byte("changed")}})
	if rec := get(t, other, "GET", "/app.js", "If-None-Match", tag); rec.Code != 200 {
		t.Errorf("If-None-Match after the file changed: %d, want 200", rec.Code)
	}
}

// The server sends a Content-Security-Policy without 'unsafe-inline', so
// any inline script, event handler or style in the page would be blocked:
// there must be none.
func TestPageHasNoInlineScriptOrStyle(t *testing.T) {
	b := get(t, Handler(), "GET", "/").Body.String()
	for what, re := range map[string]*regexp.Regexp{
		"inline <script>": regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`),
		"<style> element": regexp.MustCompile(`<style`),
		"style attribute": regexp.MustCompile(`\sstyle=`),
		"event handler":   regexp.MustCompile(`\son[a-z]+=`),
		"javascript: URL": regexp.MustCompile(`javascript:`),
	} {
		if m := re.FindString(b); m != "" {
			t.Errorf("index.html has a %s (%q): the CSP would block it", what, m)
		}
	}
	for _, s := range regexp.MustCompile(`<script[^>]*>`).FindAllString(b, -1) {
		if !strings.Contains(s, ` src="`) {
			t.Errorf("index.html has %s without src", s)
		}
	}
	if !strings.Contains(get(t, Handler(), "GET", "/").Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Error("CSP does not restrict scripts to the page's own files")
	}
}

// A binary built without npm (plain `go build`) still embeds the directory
// the chart library goes into, and the page then says what is missing.
func TestVendorDirectoryIsEmbedded(t *testing.T) {
	if _, err := web.Static.Open("vendor/README.md"); err != nil {
		t.Fatalf("vendor/README.md not embedded: %v", err)
	}
	js := get(t, Handler(), "GET", "/app.js").Body.String()
	if !strings.Contains(js, "The charts library (uPlot) is missing from this build") {
		t.Error("app.js does not explain a missing uPlot")
	}
}
