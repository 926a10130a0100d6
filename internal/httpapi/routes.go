package httpapi

import "net/http"

// addRoutes is the whole API surface in one place.
func addRoutes(mux *http.ServeMux, d Deps) {
	authed := authenticate(d.Verifier, d.Logger)
	reader, admin, writer := authed(requireRead), authed(requireAdmin), authed(requireWrite)

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(d.Store))

	mux.Handle("POST /api/measurements", writer(handlePostMeasurements(d)))
	mux.Handle("GET /api/measurements", reader(handleGetMeasurements(d)))
	mux.Handle("POST /api/raw-measurements", writer(handlePostRaw(d)))

	mux.Handle("GET /api/devices", reader(handleListDevices(d)))
	mux.Handle("POST /api/devices", admin(handleCreateDevice(d)))
	mux.Handle("POST /api/devices/{id}/tokens", admin(handleCreateDeviceToken(d)))
	mux.Handle("PATCH /api/devices/{id}", admin(handlePatchDevice(d)))

	mux.Handle("GET /api/alerts", reader(handleListAlerts(d)))
	mux.Handle("GET /metrics", handleMetrics(d, reader))

	mux.Handle("GET /api/tokens", admin(handleListTokens(d)))
	mux.Handle("POST /api/tokens", admin(handleCreateToken(d)))
	mux.Handle("DELETE /api/tokens/{id}", admin(handleRevokeToken(d)))

	mux.Handle("/api/", handleAPINotFound())
}
