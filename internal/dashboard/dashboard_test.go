package dashboard

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/thermowatt/thermowatt"
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

// The page is ES modules: a browser runs a module only when it is served
// with a JavaScript MIME type, and every module another imports must be
// there (quantities.js too, which is written rather than embedded).
func TestServesEveryModuleAsJavaScript(t *testing.T) {
	h := Handler()
	if !strings.Contains(get(t, h, "GET", "/").Body.String(), `<script type="module" src="app.js"></script>`) {
		t.Error("index.html does not load app.js as a module")
	}
	imports := regexp.MustCompile(`(?m)^import .* from '\./([a-z]+\.js)';$`)
	seen := map[string]bool{}
	queue := []string{"app.js"}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		rec := get(t, h, "GET", "/"+name)
		if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
			t.Errorf("GET /%s: %d %q, want 200 text/javascript", name, rec.Code, rec.Header().Get("Content-Type"))
			continue
		}
		if rec.Header().Get("ETag") == "" || rec.Header().Get("Cache-Control") != "no-cache" {
			t.Errorf("GET /%s: ETag %q, Cache-Control %q: want an ETag and no-cache (revalidated, never stale after an upgrade)",
				name, rec.Header().Get("ETag"), rec.Header().Get("Cache-Control"))
		}
		for _, m := range imports.FindAllStringSubmatch(rec.Body.String(), -1) {
			queue = append(queue, m[1])
		}
	}
	for _, want := range []string{"api.js", "chart.js", "devicelist.js", "devicepage.js", "quantities.js", "state.js"} {
		if !seen[want] {
			t.Errorf("%s is not imported by app.js or the modules it imports (imported: %v)", want, seen)
		}
	}
}

// quantities.js is thermowatt.Quantities in the dashboard's order, and
// revalidates like the files.
func TestQuantitiesModuleIsTheList(t *testing.T) {
	h := Handler()
	rec := get(t, h, "GET", "/quantities.js")
	body := rec.Body.String()
	start, end := strings.Index(body, "Object.freeze("), strings.LastIndex(body, ");")
	if start < 0 || end < start {
		t.Fatalf("quantities.js is not an exported frozen list:\n%s", body)
	}
	var got []struct {
		Key, Label, Unit string
		Digits           int
		Color            string
		Core             bool
	}
	if err := json.Unmarshal([]byte(body[start+len("Object.freeze("):end]), &got); err != nil {
		t.Fatalf("quantities.js: %v\n%s", err, body)
	}
	if len(got) != thermowatt.NumQuantities {
		t.Fatalf("quantities.js lists %d quantities, want %d", len(got), thermowatt.NumQuantities)
	}
	var keys []string
	for i, g := range got {
		q, ok := thermowatt.QuantityNamed(g.Key)
		if !ok || g.Label != q.Label() || g.Unit != q.Unit() || g.Digits != q.Digits() || g.Color != q.Color() || g.Core != q.Core() {
			t.Errorf("quantities.js item %d = %+v, not as thermowatt.Quantities describes it", i, g)
		}
		keys = append(keys, g.Key)
	}
	// The order the dashboard showed before the list moved to quantity.go.
	if want := "temperature voltage_v current_ma power_mw pressure_hpa humidity"; strings.Join(keys, " ") != want {
		t.Errorf("quantities.js order %v, want %s", keys, want)
	}
	if tag := rec.Header().Get("ETag"); tag == "" || get(t, h, "GET", "/quantities.js", "If-None-Match", tag).Code != 304 {
		t.Errorf("quantities.js: ETag %q does not revalidate to a 304", tag)
	}
	if rec := get(t, h, "HEAD", "/quantities.js"); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("HEAD /quantities.js: %d with %d bytes", rec.Code, rec.Body.Len())
	}
}
