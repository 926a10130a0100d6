package httpapi

import (
	"net/http"

	"github.com/thermowatt/thermowatt/internal/dashboard"
)

// addRoutes is the whole API surface in one place. authed admits requests
// by token (authenticate, with its per-token rate limit).
//
// desired caches what each device should have, for the answer to its
// readings; the endpoints that change it invalidate it.
func addRoutes(mux *http.ServeMux, d Deps, authed guard, desired *desiredCache) {
	reader, admin, writer := authed(requireRead), authed(requireAdmin), authed(requireWrite)
	device, fetcher := authed(requireDevice), authed(requireFetch)
	// /metrics stays behind a token even with PUBLIC_READ: it describes
	// the service, not the readings a LAN dashboard is meant to show.
	metricsReader := reader
	if d.PublicRead {
		reader = publicRead(reader)
	}

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(d.Store))

	mux.Handle("POST /api/measurements", writer(handlePostMeasurements(d, desired)))
	mux.Handle("GET /api/measurements", reader(handleGetMeasurements(d)))
	mux.Handle("GET /api/measurements/series", reader(handleSeries(d)))
	mux.Handle("POST /api/raw-measurements", writer(handlePostRaw(d)))

	mux.Handle("GET /api/devices", reader(handleListDevices(d)))
	mux.Handle("POST /api/devices", admin(handleCreateDevice(d)))
	mux.Handle("POST /api/devices/{id}/tokens", admin(handleCreateDeviceToken(d)))
	mux.Handle("PATCH /api/devices/{id}", admin(handlePatchDevice(d)))

	// The fleet: remote settings, firmware releases, rollouts (admin), and
	// what a device fetches with its own token.
	mux.Handle("GET /api/settings", admin(handleGetFleetSettings(d.Store)))
	mux.Handle("PUT /api/settings", admin(handlePutFleetSettings(d.Store, desired, d.Now)))
	mux.Handle("GET /api/devices/{id}/settings", admin(handleGetDeviceSettings(d.Store)))
	mux.Handle("PUT /api/devices/{id}/settings", admin(handlePutDeviceSettings(d.Store, desired, d.Now)))
	mux.Handle("GET /api/firmware", admin(handleListFirmware(d.Store)))
	mux.Handle("POST /api/firmware", admin(handlePostFirmware(d.Store, d.Now)))
	mux.Handle("GET /api/rollouts", admin(handleListRollouts(d.Store)))
	mux.Handle("POST /api/rollouts", admin(handleCreateRollout(d.Store, desired, d.Now)))
	mux.Handle("PATCH /api/rollouts/{id}", admin(handlePatchRollout(d.Store, desired)))
	mux.Handle("GET /api/device/settings", device(handleOwnSettings(d.Store)))
	mux.Handle("GET /api/device/firmware/{version}", fetcher(handleDeviceRelease(d.Store)))
	mux.Handle("GET /api/device/firmware/{version}/files/{path...}", fetcher(handleDeviceFirmwareFile(d.Store)))

	mux.Handle("GET /api/alerts", reader(handleListAlerts(d)))
	mux.Handle("GET /metrics", handleMetrics(d, metricsReader))

	mux.Handle("GET /api/tokens", admin(handleListTokens(d)))
	mux.Handle("POST /api/tokens", admin(handleCreateToken(d)))
	mux.Handle("DELETE /api/tokens/{id}", admin(handleRevokeToken(d)))

	mux.Handle("/api/", handleAPINotFound())
	addDebugRoutes(mux, d, admin)
	mux.Handle("/", dashboard.Handler()) // the web UI, static files that talk only to /api/
}
