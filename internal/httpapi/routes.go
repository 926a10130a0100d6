package httpapi

import (
	"net/http"

	"github.com/thermowatt/thermowatt/internal/dashboard"
)

// addRoutes is the whole API surface in one place. authed admits requests
// by token (authenticate, with its per-token rate limit).
func addRoutes(mux *http.ServeMux, d Deps, authed guard) {
	reader, admin, writer := authed(requireRead), authed(requireAdmin), authed(requireWrite)
	// /metrics stays behind a token even with PUBLIC_READ: it describes
	// the service, not the readings a LAN dashboard is meant to show.
	metricsReader := reader
	if d.PublicRead {
		reader = publicRead(reader)
	}

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(d.Store))

	mux.Handle("POST /api/measurements", writer(handlePostMeasurements(d)))
	mux.Handle("GET /api/measurements", reader(handleGetMeasurements(d)))
	mux.Handle("GET /api/measurements/series", reader(handleSeries(d)))
	mux.Handle("POST /api/raw-measurements", writer(handlePostRaw(d)))

	mux.Handle("GET /api/devices", reader(handleListDevices(d)))
	mux.Handle("POST /api/devices", admin(handleCreateDevice(d)))
	mux.Handle("POST /api/devices/{id}/tokens", admin(handleCreateDeviceToken(d)))
	mux.Handle("PATCH /api/devices/{id}", admin(handlePatchDevice(d)))

	mux.Handle("GET /api/alerts", reader(handleListAlerts(d)))
	mux.Handle("GET /metrics", handleMetrics(d, metricsReader))

	mux.Handle("GET /api/tokens", admin(handleListTokens(d)))
	mux.Handle("POST /api/tokens", admin(handleCreateToken(d)))
	mux.Handle("DELETE /api/tokens/{id}", admin(handleRevokeToken(d)))

	mux.Handle("/api/", handleAPINotFound())
	addDebugRoutes(mux, d, admin)
	mux.Handle("/", dashboard.Handler()) // the web UI, static files that talk only to /api/
}
