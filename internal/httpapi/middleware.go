package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

type principalKey struct{}

// principal returns who the request acts as; set by authenticate.
func principal(r *http.Request) auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(auth.Principal)
	return p
}

// logRequests logs every request once, with its status and the public id
// of its token (never the token).
func logRequests(l *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		holder := &auth.Principal{}
		ctx := context.WithValue(r.Context(), loggerKey{}, l)
		ctx = context.WithValue(ctx, principalHolderKey{}, holder)
		next.ServeHTTP(rec, r.WithContext(ctx))
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
			return // probed every few seconds by Render; not worth a line each
		}
		l.Info("request", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"ms", time.Since(start).Milliseconds(), "token", holder.TokenID, "remote", r.RemoteAddr)
	})
}

// principalHolderKey lets authenticate report the token id back to the
// request log, which runs outside it.
type principalHolderKey struct{}

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

// presentedToken takes the token from "Authorization: Bearer" or, as the
// seed's API-key header, "X-API-Key".
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

// permission decides whether an authenticated principal may go on.
type permission func(p auth.Principal) string

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
	if p.Scope == "device" || p.IsAdmin() {
		return ""
	}
	return "this token may not write readings; use the device's own token"
}

// authenticate returns middleware that admits a request when its token is
// valid and allow says yes: 401 (with WWW-Authenticate) for a missing or
// unknown token, 403 for a valid token of the wrong scope.
func authenticate(v *auth.Verifier, l *slog.Logger) func(permission) func(http.Handler) http.Handler {
	return func(allow permission) func(http.Handler) http.Handler {
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
				if h, ok := r.Context().Value(principalHolderKey{}).(*auth.Principal); ok {
					*h = p
				}
				if why := allow(p); why != "" {
					return errorf(http.StatusForbidden, why)
				}
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
				return nil
			})
		}
	}
}
