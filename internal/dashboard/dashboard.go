// Package dashboard serves the web UI: the static files of web/static,
// embedded in the binary, and quantities.js, the module of the quantities
// it shows, written from thermowatt.Quantities. The UI reads everything
// through the public JSON API with the user's reader token, like any other
// client; this package has no access to the store.
package dashboard

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/web"
)

// csp allows only the dashboard's own files; the API is same-origin.
const csp = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// Handler serves the dashboard at / (index.html) and its assets.
func Handler() http.Handler { return handler(web.Static) }

func handler(files fs.FS) http.Handler {
	etags := sync.OnceValue(func() map[string]string {
		tags := hashAll(files)
		tags[quantitiesName] = etag(quantitiesJS)
		return tags
	})
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
		if name == quantitiesName {
			http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(quantitiesJS))
			return
		}
		http.ServeFileFS(w, r, files, name)
	})
}

// quantitiesName is the module the page imports the quantities from.
const quantitiesName = "quantities.js"

// quantitiesJS is the module quantities.js: the quantities in the order
// the dashboard shows them (Place), each with what the page needs to
// show it. key is its name in the API's answers.
var quantitiesJS = func() []byte {
	type shown struct {
		Key    string `json:"key"`
		Label  string `json:"label"`
		Unit   string `json:"unit"`
		Digits int    `json:"digits"`
		Color  string `json:"color"`
		Core   bool   `json:"core"`
	}
	qs := thermowatt.Quantities
	slices.SortFunc(qs[:], func(a, b thermowatt.Quantity) int { return cmp.Compare(a.Place(), b.Place()) })
	var list []shown
	for _, q := range qs {
		list = append(list, shown{Key: q.Name(), Label: q.Label(), Unit: q.Unit(), Digits: q.Digits(), Color: q.Color(), Core: q.Core()})
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		panic(err)
	}
	return []byte("// The quantities the dashboard shows, in its order: thermowatt.Quantities\n" +
		"// (quantity.go), written by internal/dashboard. core: every node measures\n" +
		"// it (a column in the device list, a chart even without data).\n" +
		"export const QUANTITIES = Object.freeze(" + string(b) + ");\n")
}()

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
		tags[path] = etag(b)
		return nil
	})
	return tags
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + base64.RawURLEncoding.EncodeToString(sum[:12]) + `"`
}
