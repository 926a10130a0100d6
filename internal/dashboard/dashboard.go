// Package dashboard serves the web UI: the static files of web/static,
// embedded in the binary. The UI reads everything through the public JSON
// API with the user's reader token, like any other client; this package
// has no access to the store.
package dashboard

import (
	"crypto/sha256"
	"encoding/base64"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"github.com/thermowatt/thermowatt/web"
)

// csp allows only the dashboard's own files; the API is same-origin.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the dashboard at / (index.html) and its assets.
func Handler() http.Handler { return handler(web.Static) }

func handler(files fs.FS) http.Handler {
	etags := sync.OnceValue(func() map[string]string { return hashAll(files) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/")
		if name == "" {
			name = "index.html"
		}
		tag, ok := etags()[name]
		if !ok || name == "vendor/README.md" {
			http.NotFound(w, r)
			return
		}
		// Embedded files have no modification time; a content hash lets a
		// browser revalidate cheaply (304) and never run a stale app.js
		// after an upgrade.
		// The page has no inline script or style, so it runs under a strict
		// policy; set here as well as by any server-wide header middleware
		// so that the dashboard is protected (and its tests catch a
		// violation) whatever wraps it.
		w.Header().Set("Content-Security-Policy", csp)
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("ETag", tag)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, files, name)
	})
}

// hashAll returns an ETag for every file.
func hashAll(files fs.FS) map[string]string {
	tags := map[string]string{}
	_ = fs.WalkDir(files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		tags[path] = `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
		return nil
	})
	return tags
}
