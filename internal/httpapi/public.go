package httpapi

import (
	"net/http"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
)

// PublicTokenID is what the request log shows for a read without a token
// on a server with PUBLIC_READ=true.
const PublicTokenID = "public"

// publicRead wraps the reader middleware for PUBLIC_READ=true: a GET or
// HEAD without any token is let through as an anonymous reader, so a wall
// display or a LAN dashboard needs no sign-in. A request that does present
// a token is still checked as usual, so a wrong token is still refused
// (a client learns its token is bad instead of silently reading as public).
func publicRead(reader func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		checked := reader(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if (r.Method != http.MethodGet && r.Method != http.MethodHead) || presentedToken(r) != "" ||
				r.Header.Get("Authorization") != "" {
				checked.ServeHTTP(w, r)
				return
			}
			p := auth.Principal{TokenID: PublicTokenID, Scope: thermowatt.ScopeReader}
			st, r := stateOf(r)
			st.tokenID = p.TokenID
			next.ServeHTTP(w, admit(r, p))
		})
	}
}
