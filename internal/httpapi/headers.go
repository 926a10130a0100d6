package httpapi

import (
	"net/http"
	"strings"
)

// dashboardCSP allows the dashboard's own files and nothing else: no
// inline script (an injected <script> does not run), no framing by other
// sites (clickjacking), no <base> rewriting, forms posting only here.
const dashboardCSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// apiCSP is for JSON and CSV answers, which a browser should never render
// as a page with active content.
const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the browser-facing protections on every answer:
// no content-type sniffing (a JSON answer is never run as script), no
// referrer leaking dashboard URLs to other sites, and a Content-Security
// Policy, the dashboard's or the API's.
//
// The values are shared slices, set directly under their canonical names,
// rather than a slice allocated by each Header.Set of each request.
// net/http only reads them; Header.Add would append to a copy.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = headerNosniff
		h["Referrer-Policy"] = headerNoReferrer
		h["X-Frame-Options"] = headerDeny // frame-ancestors for old browsers
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h["Content-Security-Policy"] = headerAPICSP
		} else {
			h["Content-Security-Policy"] = headerDashboardCSP
		}
		next.ServeHTTP(w, r)
	})
}

var (
	headerNosniff      = []string{"nosniff"}
	headerNoReferrer   = []string{"no-referrer"}
	headerDeny         = []string{"DENY"}
	headerAPICSP       = []string{apiCSP}
	headerDashboardCSP = []string{dashboardCSP}
	headerJSON         = []string{"application/json"}
)
