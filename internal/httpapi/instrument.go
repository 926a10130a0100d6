package httpapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/wire"
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

// countTimeout bounds the extra write that records failures: it happens
// after the readings are committed and must never hold the answer long.
const countTimeout = 2 * time.Second

// observeIngest counts a stored batch's readings and charges its rejected
// readings to the device that sent them: the device of a device token, or
// the one device an admin's batch names. Counting never fails the request.
func observeIngest(r *http.Request, d Deps, b wire.Batch, res wire.Result) {
	d.Metrics.CountReadings(res.Accepted, res.Duplicates, len(res.Rejected))
	if len(res.Rejected) == 0 {
		return
	}
	device := principal(r).DeviceID
	if device == "" && len(b.DeviceIDs) == 1 {
		device = b.DeviceIDs[0]
	}
	if device != "" {
		countFailures(r, d, device, len(res.Rejected), 0)
	}
}

// observeRefused charges a 403 on writing readings to the device whose
// token was refused: a device flashed with another device's id shows up as
// failing. It is never charged to the device the body names, or a token
// could raise alerts (and their webhooks) for devices it does not own.
// Missing, unknown and revoked tokens (401) cannot be tied to a device and
// are only in the metrics.
func observeRefused(r *http.Request, d Deps, err error) {
	var he *Error
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		return
	}
	if p := principal(r); p.DeviceID != "" {
		countFailures(r, d, p.DeviceID, 0, 1)
	}
}

func countFailures(r *http.Request, d Deps, device string, rejected, auth int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), countTimeout)
	defer cancel()
	if err := d.Store.CountFailures(ctx, device, rejected, auth, d.Now()); err != nil {
		d.Metrics.DBErrors.WithLabelValues("request").Inc()
		logFrom(r).Warn("counting device failures", "device", device, "err", err)
	}
}

// handleMetrics serves /metrics to METRICS_TOKEN (when set) or to any
// reader or admin token: the series name device ids and counts, which a
// public service should not show to everyone.
func handleMetrics(d Deps, reader func(http.Handler) http.Handler) http.Handler {
	inner := d.Metrics.Handler()
	viaToken := reader(inner)
	secret := []byte(d.MetricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(secret) > 0 && subtle.ConstantTimeCompare([]byte(presentedToken(r)), secret) == 1 {
			inner.ServeHTTP(w, r)
			return
		}
		viaToken.ServeHTTP(w, r)
	})
}
