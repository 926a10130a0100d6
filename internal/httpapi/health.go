package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// handleHealthz answers while the process is up.
func handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// handleReadyz answers 200 only while the database answers, so Render's
// health check holds traffic back from an instance that cannot store.
func handleReadyz(s store.Store) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Ping(ctx); err != nil {
			return &Error{Status: http.StatusServiceUnavailable, Message: "database unavailable", Err: err, RetryAfter: retryAfterUnavailable}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return nil
	})
}
