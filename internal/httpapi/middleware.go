package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
)

// statusRecorder remembers the status a handler wrote, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestState is what the layers of the handler chain learn about a
// request and share: logRequests puts it in the request's context once,
// the others fill it in (a context value and a copy of the request per
// layer were a good part of the chain's own cost).
type requestState struct {
	rec    statusRecorder // the status, for the log and the metrics
	logger *slog.Logger
	// tokenID is the public id of the presented token once verified,
	// whether or not its scope admits the request (for the log).
	tokenID string
	// principal is who the request acts as, once admitted.
	principal auth.Principal
	// err is the error a handler answered with (instrument.go).
	err *Error
}

type stateKey struct{}

// stateOf returns the request's state, attaching a new one to r when the
// request did not come through logRequests (handlers tested alone).
func stateOf(r *http.Request) (*requestState, *http.Request) {
	if st, ok := r.Context().Value(stateKey{}).(*requestState); ok {
		return st, r
	}
	st := &requestState{logger: slog.Default()}
	return st, r.WithContext(context.WithValue(r.Context(), stateKey{}, st))
}

// principal returns who the request acts as; set by authenticate.
func principal(r *http.Request) auth.Principal {
	st, _ := stateOf(r)
	return st.principal
}

// admit records who an authenticated request acts as, for the handlers.
func admit(r *http.Request, p auth.Principal) *http.Request {
	st, r := stateOf(r)
	st.principal = p
	return r
}

// logRequests logs every request once, with its status and the public id
// of its token (never the token).
func logRequests(l *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{rec: statusRecorder{ResponseWriter: w}, logger: l}
		next.ServeHTTP(&st.rec, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return // probed every few seconds by Render; not worth a line each
		}
		l.Info("request", "method", r.Method, "path", r.URL.Path, "status", st.rec.status,
			"ms", time.Since(start).Milliseconds(), "token", st.tokenID, "remote", r.RemoteAddr)
	})
}

func recoverPanics(l *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				l.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// presentedToken takes the token from "Authorization: Bearer" or from the
// API-key header "X-API-Key", which simple HTTP clients find easier to set.
func presentedToken(r *http.Request) string {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// middleware wraps a handler with what every request to it goes through.
type middleware func(http.Handler) http.Handler

// permission decides whether an authenticated principal may go on: it
// returns why not, or "" when the principal may.
type permission func(p auth.Principal) (whyNot string)

// guard makes the middleware that admits requests whose token is valid and
// whose principal the permission lets through.
type guard func(permission) middleware

func requireRead(p auth.Principal) string {
	if p.CanRead() {
		return ""
	}
	return "this token may not read; use a reader or admin token"
}

func requireAdmin(p auth.Principal) string {
	if p.IsAdmin() {
		return ""
	}
	return "this endpoint needs an admin token"
}

func requireWrite(p auth.Principal) string {
	if p.Scope == thermowatt.ScopeDevice || p.IsAdmin() {
		return ""
	}
	return "this token may not write readings; use the device's own token"
}

// requireDevice admits device tokens only: the endpoint answers about
// the device the token belongs to.
func requireDevice(p auth.Principal) string {
	if p.Scope == thermowatt.ScopeDevice {
		return ""
	}
	return "this endpoint answers a device about itself: use the device's own token"
}

// requireFetch admits device and admin tokens to firmware downloads:
// devices fetch their updates, admins check what devices will get.
func requireFetch(p auth.Principal) string {
	if p.Scope == thermowatt.ScopeDevice || p.IsAdmin() {
		return ""
	}
	return "firmware is fetched with a device token (or an admin token)"
}

// authenticate returns middleware that admits a request when its token is
// valid and allow says yes: 401 (with WWW-Authenticate) for a missing or
// unknown token, 403 for a valid token of the wrong scope.
func authenticate(v *auth.Verifier, l *slog.Logger) guard {
	return func(allow permission) middleware {
		return func(next http.Handler) http.Handler {
			return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
				tok := presentedToken(r)
				if tok == "" {
					w.Header().Set("WWW-Authenticate", `Bearer realm="thermowatt"`)
					return errorf(http.StatusUnauthorized, "missing token: send Authorization: Bearer <token> or X-API-Key: <token>")
				}
				p, err := v.Verify(r.Context(), tok)
				if errors.Is(err, auth.ErrInvalid) {
					w.Header().Set("WWW-Authenticate", `Bearer realm="thermowatt", error="invalid_token"`)
					return errorf(http.StatusUnauthorized, "invalid or revoked token")
				}
				if err != nil {
					return storeError(err)
				}
				st, r := stateOf(r)
				st.tokenID = p.TokenID
				if why := allow(p); why != "" {
					return errorf(http.StatusForbidden, why)
				}
				next.ServeHTTP(w, admit(r, p))
				return nil
			})
		}
	}
}
