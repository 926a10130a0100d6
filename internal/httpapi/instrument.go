package httpapi

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt/internal/metrics"
)

// This file feeds /metrics and the per-device failure counts that the
// failing alerts read.

// noteError remembers the error a handler answered with (errors.go).
func noteError(r *http.Request, he *Error) {
	st, _ := stateOf(r)
	st.err = he
}

// instrument records every request's latency by route and status, ingest
// outcomes, refused requests and database failures. It wraps the mux
// directly: the mux sets r.Pattern on the request it is given, which is
// how the route (not the raw path, which would explode the label set) is
// known afterwards.
func instrument(m *metrics.Metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st, r := stateOf(r)
		if st.rec.ResponseWriter == nil { // not behind logRequests
			st.rec.ResponseWriter = w
			w = &st.rec
		}
		next.ServeHTTP(w, r)
		status := st.rec.status
		if status == 0 {
			status = http.StatusOK
			if st.err != nil {
				status = st.err.Status
			}
		}
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.ObserveRequest(route, status, time.Since(start))
		switch status {
		case http.StatusUnauthorized:
			m.AuthFailures.WithLabelValues("unauthorized").Inc()
		case http.StatusForbidden:
			m.AuthFailures.WithLabelValues("forbidden").Inc()
		}
		if st.err != nil && st.err.Err != nil && st.err.Status >= 500 && st.err.Status != 499 {
			m.DBErrors.WithLabelValues("request").Inc()
		}
		if route == "POST /api/measurements" || route == "POST /api/raw-measurements" {
			m.CountIngest(route, outcome(status))
		}
	})
}

// outcome names an ingest answer for thermowatt_ingest_requests_total.
func outcome(status int) string {
	switch {
	case status < 300:
		return "stored"
	case status == http.StatusUnauthorized:
		return "unauthorized"
	case status == http.StatusForbidden:
		return "forbidden"
	case status == http.StatusRequestEntityTooLarge:
		return "too_large"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusServiceUnavailable:
		return "unavailable"
	case status == 499:
		return "cancelled"
	case status < 500:
		return "invalid"
	}
	return "error"
}

// handleMetrics serves /metrics to METRICS_TOKEN (when set) or to any
// reader or admin token: the series name device ids and counts, which a
// public service should not show to everyone.
func handleMetrics(m *metrics.Metrics, metricsToken string, reader middleware) http.Handler {
	inner := m.Handler()
	viaToken := reader(inner)
	secret := []byte(metricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(secret) > 0 && subtle.ConstantTimeCompare([]byte(presentedToken(r)), secret) == 1 {
			inner.ServeHTTP(w, r)
			return
		}
		viaToken.ServeHTTP(w, r)
	})
}
