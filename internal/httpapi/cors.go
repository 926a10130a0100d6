package httpapi

import (
	"net/http"
	"strings"
)

// Methods and headers a page on an allowed origin may use.
const (
	corsMethods = "GET, POST, DELETE"
	corsHeaders = "Authorization, Content-Type, X-API-Key"
	corsMaxAge  = "600" // seconds a browser may cache a preflight answer
)

// cors lets pages on the allowed origins call the API from a browser.
// With no origins (the default) it adds nothing, so only the service's own
// pages can read its answers: the browser's same-origin rule does the rest.
// Credentials (cookies) are never allowed: the API takes tokens in headers
// only, which a page must hold itself.
func cors(allowed []string, next http.Handler) http.Handler {
	if len(allowed) == 0 {
		return next
	}
	ok := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		ok[o] = true
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		w.Header().Add("Vary", "Origin")
		if origin == "" || !ok[origin] {
			if preflight {
				return errorf(http.StatusForbidden, "origin "+quoteOrigin(origin)+" may not call this API; add it to CORS_ORIGINS")
			}
			next.ServeHTTP(w, r)
			return nil
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Expose-Headers", "Retry-After")
		if preflight {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			h.Set("Access-Control-Allow-Methods", corsMethods)
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", corsMaxAge)
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

func quoteOrigin(o string) string {
	if len(o) > 100 {
		o = o[:100]
	}
	return `"` + strings.ToValidUTF8(o, "?") + `"`
}
